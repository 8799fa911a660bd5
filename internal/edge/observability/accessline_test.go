package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// viaSlog is what the standard library's handler writes for l.
func viaSlog(t *testing.T, json bool, l *accessLine) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	if json {
		h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	if err := h.Handle(context.Background(), l.record()); err != nil {
		t.Fatalf("slog: %v", err)
	}
	return buf.String()
}

// direct is what the access log writes for l through BuildLogger's handler.
func direct(t *testing.T, json bool, l *accessLine) string {
	t.Helper()
	var buf bytes.Buffer
	if err := newLineHandler(&buf, json, slog.LevelDebug).writeAccess(context.Background(), l); err != nil {
		t.Fatalf("writeAccess: %v", err)
	}
	return buf.String()
}

func TestAccessLineIsWhatSlogWrites(t *testing.T) {
	bogota := time.FixedZone("COT", -5*3600)
	base := accessLine{
		time: time.Date(2026, 12, 2, 10, 34, 22, 378_912_345, time.UTC), level: slog.LevelInfo,
		requestID: "0699ad98d3359408", method: "POST", path: "/graphql", status: 200, bytes: 281,
		durationMS: 0.168, clientAddr: "127.0.0.1", cache: "hit",
	}
	for name, change := range map[string]func(*accessLine){
		"a cached answer":        func(*accessLine) {},
		"a server error":         func(l *accessLine) { l.level, l.status = slog.LevelWarn, 502 },
		"a probe at debug":       func(l *accessLine) { l.level, l.path = slog.LevelDebug, "/healthz" },
		"local time, whole ms":   func(l *accessLine) { l.time = time.Date(2026, 1, 2, 3, 4, 5, 7_000_000, bogota) },
		"whole second":           func(l *accessLine) { l.time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		"monotonic clock":        func(l *accessLine) { l.time = time.Now() },
		"zero duration":          func(l *accessLine) { l.durationMS = 0 },
		"long duration":          func(l *accessLine) { l.durationMS = 12345678.901 },
		"spaces and quotes":      func(l *accessLine) { l.operation = `Tax "page" = 1` },
		"key name with =":        func(l *accessLine) { l.keyName = "a=b" },
		"control characters":     func(l *accessLine) { l.path = "/a\x00b\x1f\t\r\n\x7f" },
		"backslash":              func(l *accessLine) { l.operation = `a\b` },
		"invalid UTF-8":          func(l *accessLine) { l.operation = "op\xff\xfe" },
		"line separators":        func(l *accessLine) { l.operation = "a\u2028b\u2029c" },
		"non-ASCII space":        func(l *accessLine) { l.operation = "a\u00a0b" },
		"non-printing rune":      func(l *accessLine) { l.operation = "a\u200bb" },
		"accents":                func(l *accessLine) { l.operation = "Ñandú_crédito" },
		"HTML characters":        func(l *accessLine) { l.operation = "<a&b>" },
		"empty strings":          func(l *accessLine) { l.method, l.clientAddr, l.cache = "", "", "" },
		"IPv6 client":            func(l *accessLine) { l.clientAddr = "::1" },
		"negative and big count": func(l *accessLine) { l.status, l.bytes = -1, math.MaxInt },
		"a trace":                func(l *accessLine) { l.traceID = "4bf92f3577b34da6a3ce929d0e0e4736" },
		"zero time":              func(l *accessLine) { l.time = time.Time{} },
		"year 10000":             func(l *accessLine) { l.time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"tiny duration":          func(l *accessLine) { l.durationMS = 1e-7 },
		"huge duration":          func(l *accessLine) { l.durationMS = 1e21 },
		"negative zero":          func(l *accessLine) { l.durationMS = math.Copysign(0, -1) },
	} {
		for _, json := range []bool{false, true} {
			l := base
			change(&l)
			if got, want := direct(t, json, &l), viaSlog(t, json, &l); got != want {
				t.Errorf("%s (json %v):\n got %s\nwant %s", name, json, got, want)
			}
		}
	}
}

// FuzzAccessLineMatchesSlog: the access line is byte for byte what
// slog's text and JSON handlers write for the same record, whatever the
// client put in the method, path or operation name.
func FuzzAccessLineMatchesSlog(f *testing.F) {
	f.Add("POST", "/graphql", "TaxPage", "catalog", "hit", "", int64(1_764_671_662_378_912_345), 200, 281, 0.168)
	f.Add("", "/a b=c", `x"y\z`, "", "", "4bf92f3577b34da6a3ce929d0e0e4736", int64(0), 0, 0, 0.0)
	f.Add("GET", "/\xff\u2028", "ñ\u00a0\u200b<&>", "k=v", "miss", "t r", int64(-1), 502, -1, 1e-7)
	f.Fuzz(func(t *testing.T, method, path, operation, keyName, cache, traceID string, unixNano int64, status, size int, ms float64) {
		if math.IsNaN(ms) || math.IsInf(ms, 0) {
			return // durations are finite; encoding/json refuses these
		}
		l := accessLine{
			time: time.Unix(0, unixNano).In(time.FixedZone("X", int(unixNano%50_000))), level: slog.LevelInfo,
			requestID: "req-12345678", traceID: traceID, method: method, path: path, status: status, bytes: size,
			durationMS: ms, operation: operation, clientAddr: "10.0.0.1", keyName: keyName, cache: cache,
		}
		for _, json := range []bool{false, true} {
			if got, want := direct(t, json, &l), viaSlog(t, json, &l); got != want {
				t.Fatalf("json %v:\n got %q\nwant %q", json, got, want)
			}
		}
	})
}

// Lines from the access log and from other loggers sharing the handler
// never interleave (run with -race).
func TestAccessLineAndSlogLinesStayWhole(t *testing.T) {
	for name, buffered := range map[string]bool{"plain writer": false, "LogBuffer": true} {
		t.Run(name, func(t *testing.T) { testLinesStayWhole(t, buffered) })
	}
}

func testLinesStayWhole(t *testing.T, buffered bool) {
	var buf bytes.Buffer
	var out io.Writer = &buf
	if buffered {
		lb := NewLogBuffer(&buf, 256, time.Millisecond)
		defer lb.Close()
		out = lb
	}
	logger, err := BuildLogger(out, LogFormatText, "")
	if err != nil {
		t.Fatal(err)
	}
	h := AccessLog(logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				logger.Info("something else", "n", j)
			}
		}()
	}
	wg.Wait()
	if lb, ok := out.(*LogBuffer); ok {
		_ = lb.Close()
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "time=") || strings.Count(line, "time=") != 1 {
			t.Fatalf("a torn line: %q", line)
		}
	}
}

// A logger with attributes of its own keeps them on the access line: it
// goes through slog.
func TestAccessLogThroughDerivedLoggerKeepsItsAttributes(t *testing.T) {
	var buf bytes.Buffer
	logger, err := BuildLogger(&buf, LogFormatJSON, "")
	if err != nil {
		t.Fatal(err)
	}
	h := AccessLog(logger.With("replica", "b"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if !strings.Contains(buf.String(), `"replica":"b"`) || !strings.Contains(buf.String(), `"msg":"request"`) {
		t.Fatalf("access line %s", buf.String())
	}
}

// BenchmarkAccessLine: one cached answer's line, written directly and
// through slog's handler (the path a derived logger takes).
func BenchmarkAccessLine(b *testing.B) {
	l := accessLine{
		time: time.Now(), level: slog.LevelInfo, requestID: "0699ad98d3359408", method: "POST", path: "/graphql",
		status: 200, bytes: 281, durationMS: 0.168, clientAddr: "127.0.0.1", cache: "hit",
	}
	for _, format := range []string{LogFormatText, LogFormatJSON} {
		h := newLineHandler(io.Discard, format == LogFormatJSON, slog.LevelInfo)
		b.Run(format+"/direct", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.writeAccess(context.Background(), &l)
			}
		})
		b.Run(format+"/slog", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Handle(context.Background(), l.record())
			}
		})
	}
}

// The request id's header is set in the header map directly, so its name
// must be canonical (http.Header.Get would miss it otherwise).
func TestRequestIDHeaderIsCanonical(t *testing.T) {
	if c := http.CanonicalHeaderKey(requestIDHeader); c != requestIDHeader {
		t.Fatalf("%q is not canonical: write %q", requestIDHeader, c)
	}
	rec := httptest.NewRecorder()
	AccessLog(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).
		ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if id := rec.Result().Header.Get("X-Request-Id"); !safeID.MatchString(id) {
		t.Fatalf("X-Request-Id %q", id)
	}
}

// BenchmarkAccessLog: the access-log layer around a handler that writes
// a small answer, with BuildLogger's handler.
func BenchmarkAccessLog(b *testing.B) {
	for _, format := range []string{LogFormatText, LogFormatJSON} {
		b.Run(format, func(b *testing.B) {
			logger, err := BuildLogger(io.Discard, format, "")
			if err != nil {
				b.Fatal(err)
			}
			answer := []byte(`{"data":{}}`)
			h := AccessLog(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				SetCacheOutcome(r.Context(), "hit")
				_, _ = w.Write(answer)
			}))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			w := discardWriter{http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// The access line carries the request's trace id, as every other line of
// the request does: the caller's with tracing off, the server span's with
// tracing on; none when there is no trace.
func TestAccessLineCarriesTheTraceID(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
	off, err := SetupTracing(context.Background(), "", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	on := &Tracing{Provider: sdktrace.NewTracerProvider()}
	defer func() { _ = on.Provider.(*sdktrace.TracerProvider).Shutdown(context.Background()) }()
	for _, tc := range []struct {
		name        string
		tracing     *Tracing
		traceparent string
		want        string // the trace id the line must carry; "" for none
	}{
		{"tracing off, caller's trace", off, traceparent, traceID},
		{"tracing off, no trace", off, "", ""},
		{"tracing on, continuing the caller's trace", on, traceparent, traceID},
		{"tracing on, a new trace", on, "", "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger, err := BuildLogger(&buf, LogFormatJSON, "")
			if err != nil {
				t.Fatal(err)
			}
			var inner string
			h := AccessLog(logger, tc.tracing.TraceHandler("gateway", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
					inner = sc.TraceID().String()
				}
			})))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			if tc.traceparent != "" {
				req.Header.Set("Traceparent", tc.traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			var line struct {
				TraceID *string `json:"trace_id"`
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			switch {
			case tc.want == "" && line.TraceID != nil:
				t.Fatalf("a trace id with no trace: %s", buf.String())
			case tc.want == "":
			case line.TraceID == nil || *line.TraceID != inner || (tc.want != "new" && inner != tc.want):
				t.Fatalf("line %s; the handler saw trace %q, want %q", buf.String(), inner, tc.want)
			}
		})
	}
}
