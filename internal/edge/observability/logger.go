package observability

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Log formats for BuildLogger.
const (
	LogFormatJSON = "json"
	LogFormatText = "text"
)

// ParseLogLevel reads LOG_LEVEL: debug, info, warn (or warning) or error,
// any case; empty is info.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", s)
}

// ParseLogFormat reads LOG_FORMAT: json or text, any case; empty is
// whatever the caller's default is (returned as "").
func ParseLogFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case "", LogFormatJSON, LogFormatText:
		return f, nil
	}
	return "", fmt.Errorf("LOG_FORMAT must be json or text, got %q", s)
}

// BuildLogger is the gateway's logger writing to w: JSON lines (or
// logfmt-like text when format is LogFormatText) at level and above,
// every line through the redacting handler (NewLogger).
func BuildLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lvl, err := ParseLogLevel(level)
	if err != nil {
		return nil, err
	}
	f, err := ParseLogFormat(format)
	if err != nil {
		return nil, err
	}
	return NewLogger(newLineHandler(w, f != LogFormatText, lvl)), nil
}

// Build identifies the running binary, from the module and VCS
// information the Go toolchain stamps into it.
type Build struct {
	// Version is the main module's version: a tag when built with
	// `go install module@version`, "(devel)" when built from a checkout.
	Version string
	// Revision is the VCS commit, with "-dirty" when the tree had
	// uncommitted changes; empty when the build carried no VCS stamp
	// (go run, go test).
	Revision string
	// GoVersion is the toolchain's.
	GoVersion string
}

// BuildInfo reads the binary's Build.
func BuildInfo() Build {
	b := Build{Version: "(unknown)", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if info.Main.Version != "" {
		b.Version = info.Main.Version
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "" {
		b.Revision += "-dirty"
	}
	return b
}

// LogAttrs are the Build's fields for a log line.
func (b Build) LogAttrs() []any {
	return []any{"version", b.Version, "revision", b.Revision, "go", b.GoVersion}
}

// Resource describes this process to OpenTelemetry: service.name is
// defaultService and service.version the build's version unless the
// standard environment variables say otherwise (OTEL_SERVICE_NAME, and
// OTEL_RESOURCE_ATTRIBUTES such as deployment.environment.name=prod),
// plus the SDK's own attributes.
func Resource(ctx context.Context, defaultService string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(defaultService), semconv.ServiceVersion(BuildInfo().Version)),
		// Last: what the environment says wins.
		resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	return res, nil
}
