package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// The access-log line is one JSON object whose fields inner layers fill
// in through the request's record: the operation, the client address as
// resolved behind trusted proxies, the key's name (never the key) and the
// cache outcome; the duration is in float milliseconds.
func TestAccessLogCarriesWhatInnerLayersRecorded(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(slog.NewJSONHandler(&buf, nil))
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		SetClientAddress(ctx, "203.0.113.7")
		SetKeyName(ctx, "backoffice")
		SetOperation(ctx, "Branches")
		SetCacheOutcome(ctx, CacheHit)
		_, _ = w.Write([]byte(`{"data":{}}`))
	})
	h := AccessLog(logger, inner)
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{}`))
	req.Header.Set("X-Api-Key", "the-secret-key-value")
	h.ServeHTTP(httptest.NewRecorder(), req)

	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	want := map[string]any{
		"msg": "request", "method": "POST", "path": "/graphql", "status": float64(200), "bytes": float64(11),
		"operation": "Branches", "client_address": "203.0.113.7", "key_name": "backoffice", "cache": "hit",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.String())
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms is %T, want a number of milliseconds: %s", line["duration_ms"], buf.String())
	}
	if _, ok := line["duration"]; ok {
		t.Errorf("the nanosecond duration is still logged: %s", buf.String())
	}
	if strings.Contains(buf.String(), "the-secret-key-value") {
		t.Errorf("the key itself is logged: %s", buf.String())
	}

	// Nobody recorded anything: the fields are there, cache says none.
	buf.Reset()
	AccessLog(logger, http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	line = nil
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["cache"] != CacheNone || line["operation"] != "" || line["status"] != float64(404) {
		t.Errorf("bare line %s", buf.String())
	}
	// Outside a request the setters do nothing (and do not panic).
	SetOperation(context.Background(), "x")
}

// Probes log at debug level: invisible at the default info level.
func TestAccessLogProbesAtDebug(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  bool
	}{{"info", false}, {"debug", true}} {
		var buf bytes.Buffer
		logger, err := BuildLogger(&buf, "", tc.level)
		if err != nil {
			t.Fatal(err)
		}
		AccessLog(logger, http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if got := strings.Contains(buf.String(), `"path":"/readyz"`); got != tc.want {
			t.Errorf("LOG_LEVEL=%s: readyz logged %v: %q", tc.level, got, buf.String())
		}
	}
}

func TestBuildLogger(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		json          bool
		debug, warn   bool
		bad           bool
	}{
		{format: "", level: "", json: true, debug: false, warn: true},
		{format: "json", level: "debug", json: true, debug: true, warn: true},
		{format: "TEXT", level: "warn", json: false, debug: false, warn: true},
		{format: "text", level: "error", json: false, debug: false, warn: false},
		{format: "xml", bad: true},
		{level: "verbose", bad: true},
	} {
		var buf bytes.Buffer
		logger, err := BuildLogger(&buf, tc.format, tc.level)
		if tc.bad {
			if err == nil {
				t.Errorf("format %q level %q accepted", tc.format, tc.level)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		logger.Debug("d")
		logger.Warn("w", "token", "tok-123")
		out := buf.String()
		if got := strings.Contains(out, `"msg":"d"`) || strings.Contains(out, "msg=d"); got != tc.debug {
			t.Errorf("%+v: debug line %v in %q", tc, got, out)
		}
		if got := strings.Contains(out, `"msg":"w"`) || strings.Contains(out, "msg=w"); got != tc.warn {
			t.Errorf("%+v: warn line %v in %q", tc, got, out)
		}
		if strings.Contains(out, "tok-123") {
			t.Errorf("%+v: not redacting: %q", tc, out)
		}
		if tc.warn && strings.HasPrefix(out, "{") != tc.json {
			t.Errorf("%+v: JSON %v: %q", tc, tc.json, out)
		}
	}
}

func TestBuildInfoNamesAVersion(t *testing.T) {
	b := BuildInfo()
	if b.Version == "" || !strings.HasPrefix(b.GoVersion, "go") {
		t.Fatalf("%+v", b)
	}
}

// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the default
// service name.
func TestResourceHonoursTheEnvironment(t *testing.T) {
	attr := func(t *testing.T, name string) string {
		t.Helper()
		res, err := Resource(context.Background(), "brilla-gateway")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range res.Attributes() {
			if string(kv.Key) == name {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	if got := attr(t, string(semconv.ServiceNameKey)); got != "brilla-gateway" {
		t.Fatalf("default service.name %q", got)
	}
	t.Setenv("OTEL_SERVICE_NAME", "gateway-eu")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
	if got := attr(t, string(semconv.ServiceNameKey)); got != "gateway-eu" {
		t.Fatalf("OTEL_SERVICE_NAME ignored: service.name %q", got)
	}
	if got := attr(t, "deployment.environment.name"); got != "staging" {
		t.Fatalf("OTEL_RESOURCE_ATTRIBUTES ignored: %q", got)
	}
}
