package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
)

// routeProcessLogs sends every logger of the process that is not the
// gateway's own through logger, whose handler redacts credentials and
// stamps request ids, until restore is called:
//   - the standard library's log package (gqlgen's transports print with
//     log.Printf, OpenTelemetry's default error handler with log.Print),
//     at warning level;
//   - go-redis's internal logger (pool and pub/sub troubles);
//   - OpenTelemetry's internal logger (exporter errors), which otherwise
//     writes to stderr on its own.
//
// These are package-level settings of the process, so only the binary
// sets them, never server.New.
func routeProcessLogs(logger *slog.Logger) (restore func()) {
	prevDefault, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	prevLevel := slog.SetLogLoggerLevel(slog.LevelWarn)
	slog.SetDefault(logger)
	redis.SetLogger(redisLogger{})
	otel.SetLogger(otelLogger())
	return func() {
		slog.SetDefault(prevDefault)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		slog.SetLogLoggerLevel(prevLevel)
	}
}

// otelLogger is OpenTelemetry's internal logger over slog's default.
func otelLogger() logr.Logger { return logr.FromSlogHandler(defaultHandler{}) }

// redisLogger is go-redis's logger writing to slog's default logger (the
// gateway's while routeProcessLogs is in force).
type redisLogger struct{}

// Printf implements go-redis's internal.Logging.
func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// defaultHandler forwards to slog's default logger at each call, so that
// loggers built once (OpenTelemetry's) follow routeProcessLogs and its
// restore. derive replays WithAttrs/WithGroup calls, in order.
type defaultHandler struct {
	derive []func(slog.Handler) slog.Handler
}

func (h defaultHandler) handler() slog.Handler {
	out := slog.Default().Handler()
	for _, d := range h.derive {
		out = d(out)
	}
	return out
}

func (h defaultHandler) with(d func(slog.Handler) slog.Handler) defaultHandler {
	return defaultHandler{derive: append(append([]func(slog.Handler) slog.Handler(nil), h.derive...), d)}
}

// Enabled implements slog.Handler.
func (h defaultHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.handler().Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("component", "opentelemetry"))
	return h.handler().Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h defaultHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

// WithGroup implements slog.Handler.
func (h defaultHandler) WithGroup(name string) slog.Handler {
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}
