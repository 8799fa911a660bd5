package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestLoggerRedactsSecretsAndStampsRequestIDs(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(slog.NewJSONHandler(&buf, nil))
	ctx := context.WithValue(context.Background(), recordKey{}, &record{id: "req-12345678"})
	logger.With("api_key", "k-123").InfoContext(ctx, "hello",
		"authorization", "Bearer abc.def.ghi",
		"cause", "upstream said: invalid Bearer eyJhbGciOi.payload.sig",
		"answer", "mi_respuesta",
		slog.Group("upstream", "token", "demo-token", "status", 500),
		"status", 200)
	out := buf.String()
	for _, secret := range []string{"k-123", "abc.def.ghi", "eyJhbGciOi", "mi_respuesta", "demo-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("log leaks %q: %s", secret, out)
		}
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["request_id"] != "req-12345678" || line["status"] != float64(200) {
		t.Errorf("line %v", line)
	}
}

// Libraries' log lines arrive as free text in the message (log.Printf
// through slog.SetDefault, http.Server.ErrorLog, go-redis): secrets in it
// are scrubbed like attribute values.
func TestLoggerScrubsFreeText(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(slog.NewJSONHandler(&buf, nil))
	for _, tc := range []struct{ text, secret, keep string }{
		{`decoding error: EOF body:{"variables":{"in":{"answer":"my secret answer","attachment":"JVBERi0x"}}}`, "my secret answer", "decoding error"},
		{`decoding error: EOF body:{"variables":{"in":{"answer":"x","attachment":"JVBERi0x"}}}`, "JVBERi0x", "body:"},
		{`header Authorization: Bearer abc.def.ghi`, "abc.def.ghi", "header"},
		{`GET /graphql?token=tok-42&x=1`, "tok-42", "x=1"},
		{`answer=mi_respuesta password: hunter2`, "hunter2", ""},
		{`answer=mi_respuesta password: hunter2`, "mi_respuesta", ""},
		{`{\"answer\":\"quoted secret\"}`, "quoted secret", ""},
		{`redis: dial redis://user:pa55w0rd@cache:6379/0: refused`, "pa55w0rd", "cache:6379"},
	} {
		buf.Reset()
		logger.Warn(tc.text, "error", tc.text)
		out := buf.String()
		if strings.Contains(out, tc.secret) || !strings.Contains(out, tc.keep) {
			t.Errorf("%q logged as %s", tc.text, out)
		}
	}
	buf.Reset()
	logger.Error("exporter failed", "err", errors.New("password=hunter2"))
	if strings.Contains(buf.String(), "hunter2") {
		t.Errorf("an error value leaks: %s", buf.String())
	}
	if got := ScrubText("nothing to hide: status=500 path=/graphql"); got != "nothing to hide: status=500 path=/graphql" {
		t.Errorf("ScrubText changed plain text: %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(slog.NewJSONHandler(&buf, nil))
	var seen string
	h := AccessLog(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct{ inbound, want string }{
		{"abcdef12-3456", "abcdef12-3456"}, // a sane inbound id is kept
		{"bad id\n<script>", ""},           // anything else is replaced
	} {
		buf.Reset()
		req := httptest.NewRequest(http.MethodGet, "/graphql?query={viewer{vat}}&token=secret", nil)
		req.Header.Set("X-Request-Id", tc.inbound)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if got != seen || (tc.want != "" && got != tc.want) || (tc.want == "" && !safeID.MatchString(got)) {
			t.Fatalf("request id %q (handler saw %q)", got, seen)
		}
		if !strings.Contains(buf.String(), `"status":418`) || strings.Contains(buf.String(), "secret") {
			t.Fatalf("access log %s", buf.String())
		}
	}
}

// The access line is built outside the redacting handler's copy: the
// client's own text in it is scrubbed anyway, whatever handler the logger
// has, and the line still carries the request id.
func TestAccessLogScrubsTheClientsText(t *testing.T) {
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"redacting JSON": func(b *bytes.Buffer) slog.Handler { return NewLogger(slog.NewJSONHandler(b, nil)).Handler() },
		"redacting text": func(b *bytes.Buffer) slog.Handler { return NewLogger(slog.NewTextHandler(b, nil)).Handler() },
		"plain JSON":     func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"BuildLogger JSON": func(b *bytes.Buffer) slog.Handler {
			l, _ := BuildLogger(b, LogFormatJSON, "")
			return l.Handler()
		},
		"BuildLogger text": func(b *bytes.Buffer) slog.Handler {
			l, _ := BuildLogger(b, LogFormatText, "")
			return l.Handler()
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			h := AccessLog(slog.New(newHandler(&buf)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				SetOperation(r.Context(), "apiKey=hunter3")
			}))
			req := httptest.NewRequest(http.MethodGet, "/files/token=hunter2/x", nil)
			req.Header.Set("X-Request-Id", "req-12345678")
			h.ServeHTTP(httptest.NewRecorder(), req)
			line := buf.String()
			if strings.Contains(line, "hunter2") || strings.Contains(line, "hunter3") {
				t.Fatalf("a secret in the path or operation reached the log: %s", line)
			}
			if !strings.Contains(line, "req-12345678") || !strings.Contains(line, "/files/") {
				t.Fatalf("access line lacks the request id or the path: %s", line)
			}
		})
	}
}

func TestTracingOffByDefault(t *testing.T) {
	tr, err := SetupTracing(context.Background(), "", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	h := tr.TraceHandler("graphql", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With tracing off, an inbound trace context still reaches the request's
// context (the access log's trace_id) and the upstream calls.
func TestTracingOffCarriesInboundTraceContext(t *testing.T) {
	tr, err := SetupTracing(context.Background(), "", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
	var upstreamSaw, upstreamBaggage string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamSaw, upstreamBaggage = r.Header.Get("Traceparent"), r.Header.Get("Baggage")
	}))
	defer upstream.Close()
	client := &http.Client{Transport: tr.TraceTransport(http.DefaultTransport)}
	var handlerSaw string
	h := tr.TraceHandler("graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerSaw = trace.SpanContextFromContext(r.Context()).TraceID().String()
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}))
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("Traceparent", traceparent)
	req.Header.Set("Baggage", "tenant=acme")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if handlerSaw != traceID {
		t.Errorf("handler's trace id %q, want %q", handlerSaw, traceID)
	}
	if upstreamSaw != traceparent || upstreamBaggage != "tenant=acme" {
		t.Errorf("upstream got traceparent %q, baggage %q; want %q, tenant=acme", upstreamSaw, upstreamBaggage, traceparent)
	}

	// Without a trace context nothing is made up.
	handlerSaw = "unset"
	upstreamSaw = "unset"
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if handlerSaw != (trace.TraceID{}).String() || upstreamSaw != "" {
		t.Errorf("no inbound context: handler trace id %q, upstream traceparent %q", handlerSaw, upstreamSaw)
	}
}

// With an endpoint configured, spans reach an OTLP/HTTP collector.
func TestTracingExportsOverOTLP(t *testing.T) {
	got := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	tr, err := SetupTracing(context.Background(), collector.URL, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Traceparent") == "" {
			t.Error("upstream call carries no trace context")
		}
	}))
	defer upstream.Close()
	client := &http.Client{Transport: tr.TraceTransport(http.DefaultTransport)}
	h := tr.TraceHandler("graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.URL, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case path := <-got:
		if path != "/v1/traces" {
			t.Fatalf("exported to %s", path)
		}
	default:
		t.Fatal("no spans exported")
	}
}
