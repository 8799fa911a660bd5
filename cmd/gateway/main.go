// Command gateway serves one GraphQL API over the Brilla and SERPI REST
// APIs. With -demo it runs both upstreams simulated in-process, so it needs
// nothing but Go:
//
//	go run ./cmd/gateway -demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
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

// shutdownGrace bounds how long in-flight requests may finish after a
// stop signal.
const shutdownGrace = 15 * time.Second

// run is main without the process: it returns the exit code, and ends when
// ctx does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	if o.hashKey != "" {
		fmt.Fprintln(stdout, auth.HashKey(o.hashKey))
		return 0
	}

	// Logs redact credentials whatever logs them, and carry request ids.
	var logger *slog.Logger
	if o.demo {
		logger = observability.NewLogger(slog.NewTextHandler(stderr, nil))
	} else {
		logger = observability.NewLogger(slog.NewJSONHandler(stderr, nil))
	}
	o.gateway.Logger = logger
	// So do the standard library's and every library's loggers.
	defer routeProcessLogs(logger)()
	tracing, err := observability.SetupTracing(ctx, o.otlpEndpoint, "brilla-gateway")
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(flush)
	}()
	o.gateway.Hardening.Tracing = tracing

	var demo *demoUpstreams
	if o.demo {
		demo, err = startDemo(ctx, o)
		if err != nil {
			fmt.Fprintf(stderr, "gateway: demo: %s\n", oneLine(err))
			return 1
		}
		defer demo.Close()
	}

	h, err := server.New(o.gateway)
	if err != nil {
		reportConfig(stderr, err)
		return 2
	}
	defer h.Close()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: listen on %s: %s\n", o.addr, oneLine(err))
		return 1
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown neither closes nor waits for websockets and would wait out
	// its grace period for SSE streams: end every subscription as it
	// starts, so clients reconnect to another replica at once.
	srv.RegisterOnShutdown(h.EndSubscriptions)
	base := baseURL(ln.Addr())
	if demo != nil {
		printDemoBanner(stdout, base, demo)
	} else {
		logger.Info("gateway listening", "addr", ln.Addr().String(), "playground", base+"/")
	}

	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	if o.metricsAddr != "" {
		mln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			fmt.Fprintf(stderr, "gateway: listen on %s: %s\n", o.metricsAddr, oneLine(err))
			return 1
		}
		metricsSrv := &http.Server{Handler: h.Metrics(), ReadHeaderTimeout: 10 * time.Second}
		go func() { serveErr <- metricsSrv.Serve(mln) }()
		defer metricsSrv.Close()
	}
	select {
	case err := <-serveErr:
		fmt.Fprintf(stderr, "gateway: serve: %s\n", oneLine(err))
		return 1
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "gateway: shutdown: %s\n", oneLine(err))
		return 1
	}
	return 0
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
