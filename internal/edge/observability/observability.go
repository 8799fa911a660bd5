// Package observability gives every request an id, a structured access
// log line and a trace span, and keeps secrets out of logs: a slog handler
// redacts attributes whose names say they hold credentials or documents,
// whatever code logs them.
package observability

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ---- request ids ---------------------------------------------------------

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if r := recordFrom(ctx); r != nil {
		return r.id
	}
	return ""
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// newID returns 16 random hex characters. An id tells requests apart;
// it guards nothing, so the runtime's generator (ChaCha8, seeded by the
// system) serves, without crypto/rand's system call per request.
func newID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer
// (websocket hijacking, flushing for SSE).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush forwards to the underlying writer when it can flush (SSE).
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// AccessLog assigns each request an id (a sane inbound X-Request-Id is
// kept, so ids follow a request across systems), echoes it in the
// response, puts it in the context for every log line of the request, and
// logs one line when the request ends: method, path (never the query
// string, which may carry a token), status, bytes, duration_ms, and what
// inner layers recorded (see record): operation, client_address, key_name
// (the API key's name, never the key) and cache. Health checks and
// scrapes (quietPaths) log at debug level: a load balancer probing every
// few seconds would otherwise fill the log.
func AccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	handler := logger.Handler()
	if h, ok := handler.(redacting); ok {
		handler = h.Handler
	}
	// BuildLogger's handler takes the line without slog's machinery.
	direct, _ := handler.(*lineHandler)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !safeID.MatchString(id) {
			id = newID()
		}
		// One allocation for what the request's layers share, the
		// response header's value included.
		state := &requestState{statusRecorder: statusRecorder{ResponseWriter: w}, record: record{id: id}}
		state.idHeader[0] = id
		w.Header()[requestIDHeader] = state.idHeader[:]
		fields, rec := &state.record, &state.statusRecorder
		ctx := context.WithValue(r.Context(), recordKey{}, fields)
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		elapsed := time.Since(start)
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelWarn
		case quietPaths[r.URL.Path]:
			level = slog.LevelDebug
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		// The client's own text (method, path, operation name) is
		// scrubbed here; the rest are numbers, ids and names the gateway
		// chose, so the line skips the redacting handler, which would
		// copy and scan every attribute.
		line := accessLine{
			time:       start.Add(elapsed),
			level:      level,
			requestID:  id,
			method:     ScrubText(r.Method),
			path:       ScrubText(r.URL.Path),
			status:     rec.status,
			bytes:      rec.bytes,
			durationMS: float64(elapsed.Microseconds()) / 1000,
		}
		fields.snapshot(&line)
		line.operation = ScrubText(line.operation)
		if direct != nil {
			_ = direct.writeAccess(ctx, &line)
			return
		}
		_ = handler.Handle(ctx, line.record())
	})
}

// requestState is what AccessLog keeps for one request.
type requestState struct {
	statusRecorder
	record
	idHeader [1]string
}

// requestIDHeader is canonical, so the header map is used directly
// (Header.Set would canonicalise it on every request).
const requestIDHeader = "X-Request-Id"

// quietPaths are the probe and scrape endpoints, logged at debug level.
var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// ---- logging -------------------------------------------------------------

// sensitive matches attribute names whose values must never be logged.
var sensitive = regexp.MustCompile(`(?i)(authorization|token|api[_-]?key|secret|password|passwd|cookie|attachment|base64|answer)`)

// redacting wraps a handler: it adds the request id from the context and
// replaces the values of sensitive attributes.
type redacting struct{ slog.Handler }

// NewLogger returns a JSON (or text) logger writing to w that redacts
// sensitive attributes and stamps request ids.
func NewLogger(h slog.Handler) *slog.Logger { return slog.New(redacting{h}) }

func (r redacting) Handle(ctx context.Context, rec slog.Record) error {
	// The message is free text too: the standard library's log package
	// and libraries' loggers routed here put everything in it.
	out := slog.NewRecord(rec.Time, rec.Level, ScrubText(rec.Message), rec.PC)
	if id := RequestID(ctx); id != "" {
		out.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		out.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return r.Handler.Handle(ctx, out)
}

func (r redacting) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redact(a)
	}
	return redacting{r.Handler.WithAttrs(clean)}
}

func (r redacting) WithGroup(name string) slog.Handler { return redacting{r.Handler.WithGroup(name)} }

func redact(a slog.Attr) slog.Attr {
	if mayHoldSecret(a.Key) && sensitive.MatchString(a.Key) {
		return slog.String(a.Key, "[REDACTED]")
	}
	if a.Value.Kind() == slog.KindGroup {
		group := a.Value.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = redact(g)
		}
		return slog.Group(a.Key, clean...)
	}
	if a.Value.Kind() == slog.KindString {
		return slog.String(a.Key, ScrubText(a.Value.String()))
	}
	// An error's text is free text too (libraries log err values).
	if err, ok := a.Value.Resolve().Any().(error); ok && a.Value.Kind() == slog.KindAny {
		return slog.String(a.Key, ScrubText(err.Error()))
	}
	return a
}

var bearerValue = regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/=-]+`)

// secretPair matches "name=value", "name: value" and "\"name\":\"value\""
// in free text when the name says it holds a secret (a body, a header or
// a query string quoted in a library's message); the value is a quoted
// string or runs to the next separator.
var secretPair = regexp.MustCompile(`(?i)([\w-]*(?:authorization|token|api[_-]?key|secret|password|passwd|cookie|attachment|base64|answer)[\w-]*)(\\?"?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|\\"(?:[^\\]|\\[^"])*\\"|[^\s"',;&}\]]+)`)

// urlUserinfo matches the credentials of a URL such as redis://u:p@host.
var urlUserinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/@\s"]+@`)

// ScrubText removes credentials from free text: "Bearer <token>",
// values of secret-named pairs and URL credentials.
func ScrubText(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	s = scrubBearer(s)
	s = secretPair.ReplaceAllString(s, "${1}${2}[REDACTED]")
	return urlUserinfo.ReplaceAllString(s, "${1}[REDACTED]@")
}

// secretWords are what every pattern above needs in its match, ASCII
// lower case: a text holding none of them has nothing to redact.
var secretWords = [][]byte{[]byte("authorization"), []byte("token"), []byte("api"), []byte("secret"), []byte("passw"),
	[]byte("cookie"), []byte("attachment"), []byte("base64"), []byte("answer"), []byte("bearer"), []byte("://")}

// mayHoldSecret reports whether the patterns could match s, without
// running them (they cost more than the rest of an access-log line). The
// patterns fold case the Unicode way (ſ matches s, K matches k), so text
// with any non-ASCII byte always goes to them.
func mayHoldSecret(s string) bool {
	if len(s) < len("api") {
		// Shorter than every secret word, in any case folding.
		return false
	}
	var buf [256]byte
	lower := buf[:0]
	if len(s) > len(buf) {
		lower = make([]byte, 0, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return true
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	for _, w := range secretWords {
		if bytes.Contains(lower, w) {
			return true
		}
	}
	return false
}

// scrubBearer removes "Bearer <token>" from free text (an error message
// that quoted a header).
func scrubBearer(s string) string {
	if !strings.Contains(strings.ToLower(s), "bearer") {
		return s
	}
	return bearerValue.ReplaceAllString(s, "Bearer [REDACTED]")
}

// ---- tracing ---------------------------------------------------------------

// Tracing holds the tracer provider; Shutdown flushes it.
type Tracing struct {
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// Shutdown flushes pending spans.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// SetupTracing exports spans over OTLP/HTTP to endpoint (e.g.
// "http://collector:4318"); with an empty endpoint tracing is off (a no-op
// provider: no cost, no network). service is the service.name unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise (Resource).
func SetupTracing(ctx context.Context, endpoint, service string) (*Tracing, error) {
	if endpoint == "" {
		return &Tracing{Provider: noop.NewTracerProvider()}, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := Resource(ctx, service)
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// TraceHandler opens a server span per request (continuing an inbound
// W3C trace context). With tracing off it only carries the inbound trace
// context and baggage into the request's context, which is all a no-op
// span would do (the access log's trace_id and the upstream calls'
// traceparent still follow the caller's trace), without otelhttp's
// per-request wrapping and metric recording.
func (t *Tracing) TraceHandler(name string, next http.Handler) http.Handler {
	if _, off := t.Provider.(noop.TracerProvider); off {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.Header) > 0 && (r.Header.Get("Traceparent") != "" || r.Header.Get("Baggage") != "") {
				r = r.WithContext(propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
				setTraceID(r.Context())
			}
			next.ServeHTTP(w, r)
		})
	}
	inner := next
	next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setTraceID(r.Context())
		inner.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(next, name,
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// TraceTransport opens a client span per upstream call and propagates the
// trace context to the upstream.
func (t *Tracing) TraceTransport(base http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}

// Tracer returns a tracer for the gateway's own spans.
func (t *Tracing) Tracer() trace.Tracer {
	return t.Provider.Tracer("github.com/serfigas/brilla-gateway")
}
