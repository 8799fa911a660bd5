// Command gateway serves one GraphQL API over the Brilla and SERPI REST
// APIs. With -demo it runs both upstreams simulated in-process, so it needs
// nothing but Go:
//
//	go run ./cmd/gateway -demo
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func main() {
	server.ApplyRuntimeDefaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code, and ends when
// ctx does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, problems := loadOptions(args, getenv)
	switch {
	case o.loaded.help:
		o.loaded.printHelp(stdout, actionFlags)
		return 0
	case o.version:
		fmt.Fprintln(stdout, versionLine())
		return 0
	case o.hashKey != "":
		fmt.Fprintln(stdout, auth.HashKey(o.hashKey))
		return 0
	case o.printSchema:
		// The schema needs no configuration.
		fmt.Fprint(stdout, server.SchemaSDL())
		return 0
	}
	// Every problem at once: the sources' and the semantic ones, API keys
	// included.
	if err := o.validate(); err != nil {
		problems = append(problems, err)
	}
	if o.printConfig {
		o.loaded.printConfig(stdout)
	}
	if len(problems) > 0 {
		reportConfig(stderr, errors.Join(problems...))
		return 2
	}
	if o.printConfig {
		return 0
	}

	// Logs redact credentials whatever logs them, and carry request ids:
	// JSON lines unless -demo or LOG_FORMAT=text.
	format := o.logFormat
	if format == "" && o.demo {
		format = observability.LogFormatText
	}
	// Lines are batched into few writes (see observability.LogBuffer) and
	// flushed when run returns, after the last line.
	logOut := observability.NewLogBuffer(stderr, 0, 0)
	defer logOut.Close()
	logger, err := observability.BuildLogger(logOut, format, o.logLevel)
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	o.gateway.Logger = logger
	// So do the standard library's and every library's loggers.
	defer routeProcessLogs(logger)()
	tracing, err := observability.SetupTracing(ctx, o.otlpEndpoint, "brilla-gateway")
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	flushTraces := sync.OnceFunc(func() {
		flush, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		if err := tracing.Shutdown(flush); err != nil {
			logger.Warn("shutdown: traces not flushed", "error", err)
		}
	})
	defer flushTraces()
	o.gateway.Hardening.Tracing = tracing

	var demo *demoUpstreams
	if o.demo {
		demo, err = startDemo(ctx, o)
		if err != nil {
			logger.Error("demo: simulated upstreams did not start", "error", oneLine(err))
			return 1
		}
		defer demo.Close()
	}

	h, err := server.New(o.gateway)
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	closeGateway := sync.OnceValue(h.Close)
	defer closeGateway()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		logger.Error("listen failed", "addr", o.addr, "error", oneLine(err))
		return 1
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := baseURL(ln.Addr())
	if demo != nil {
		printDemoBanner(stdout, base, demo)
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			logger.Error("listen failed", "addr", o.metricsAddr, "error", oneLine(err))
			return 1
		}
		metricsSrv = &http.Server{Handler: h.Metrics(), ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- metricsSrv.Serve(mln) }()
		defer metricsSrv.Close()
	}
	logger.Info("gateway started", append(observability.BuildInfo().LogAttrs(),
		"addr", ln.Addr().String(), "playground", base+"/", "metrics_addr", o.metricsAddr, "demo", o.demo)...)
	select {
	case err := <-serveErr:
		logger.Error("serve failed", "error", oneLine(err))
		return 1
	case <-ctx.Done():
	}
	return shutdown(logger, srv, metricsSrv, h, closeGateway, flushTraces)
}

// shutdownGrace bounds the whole drain after a stop signal: in-flight
// requests finish within it, or their connections are closed.
const shutdownGrace = 15 * time.Second

// traceFlushTimeout bounds sending the last spans.
const traceFlushTimeout = 5 * time.Second

// shutdown stops the gateway in steps, each logged: /readyz turns 503 so
// the load balancer sends nothing new; every websocket (1001, going away)
// and SSE stream ends so clients reconnect elsewhere (EndSubscriptions,
// which logs how many: http.Server.Shutdown neither closes nor waits for
// websockets, and would wait out its grace period for SSE streams); the
// listener closes and in-flight requests finish within shutdownGrace,
// past which their connections are closed; then the caches, Redis and the
// registration pollers, and the traces. It returns the exit code: 1 when
// the grace period ran out.
func shutdown(logger *slog.Logger, srv, metricsSrv *http.Server, h *server.Gateway, closeGateway func() error, flushTraces func()) int {
	started := time.Now()
	logger.Info("shutdown: stop signal received; draining (/readyz answers 503)", "grace", shutdownGrace.String())
	h.Drain()
	h.EndSubscriptions()
	drain, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	code := 0
	if err := srv.Shutdown(drain); err != nil {
		logger.Warn("shutdown: grace period over; closing the connections still busy", "error", oneLine(err))
		_ = srv.Close()
		code = 1
	} else {
		logger.Info("shutdown: in-flight requests finished")
	}
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	if err := closeGateway(); err != nil {
		logger.Warn("shutdown: closing the gateway's resources", "error", oneLine(err))
	}
	logger.Info("shutdown: caches, Redis connections and registration pollers closed")
	flushTraces()
	logger.Info("gateway stopped", "took_ms", float64(time.Since(started).Microseconds())/1000, "exit_code", code)
	return code
}

// reportConfig prints one line per configuration problem.
func reportConfig(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			fmt.Fprintf(w, "gateway: configuration: %s\n", line)
		}
	}
}

// oneLine joins a (possibly joined) error onto one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// baseURL is how a person on this machine reaches addr.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(tcp.Port)))
}
