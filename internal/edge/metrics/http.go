package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
)

// ---- HTTP server -------------------------------------------------------

// Stream transports, the label values of gateway_open_streams.
const (
	StreamWebsocket = "websocket"
	StreamSSE       = "sse"
)

// Classify names a request for the HTTP metrics: its route (a fixed
// template, never the raw path, so the label set stays small) and whether
// it opens a stream, which lasts as long as its subscriptions and is
// counted in gateway_open_streams instead of the latency histogram.
type Classify func(r *http.Request) (route string, stream bool)

// Instrument measures every request next serves (streams aside):
// http_server_request_duration_seconds by method, route and status, and
// http_server_active_requests.
func (m *Metrics) Instrument(classify Classify, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, stream := classify(r)
		if stream {
			next.ServeHTTP(w, r)
			return
		}
		m.httpActive.Inc()
		defer m.httpActive.Dec()
		rec := &statusWriter{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		m.served.get(servedLabels{method: methodLabel(r.Method), route: route, status: status}).Observe(time.Since(start).Seconds())
	})
}

// methodLabel bounds the method label as the semantic conventions do:
// the known methods, and "_OTHER".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodOptions, http.MethodHead, http.MethodPut,
		http.MethodDelete, http.MethodPatch, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush forwards to the underlying writer when it can flush.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// StreamOpened counts an open stream of transport (StreamWebsocket or
// StreamSSE) until the returned func is called.
func (m *Metrics) StreamOpened(transport string) (closed func()) {
	g := m.streams.WithLabelValues(transport)
	g.Inc()
	var once sync.Once
	return func() { once.Do(g.Dec) }
}

// ---- Redis and build ---------------------------------------------------

// RedisDegraded registers gateway_redis_degraded, 1 while degraded()
// reports that Redis is configured but the gateway serves from its
// per-process fallbacks. Call it once.
func (m *Metrics) RedisDegraded(degraded func() bool) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gateway_redis_degraded",
		Help: "1 while Redis is configured but unreachable and the gateway serves from memory (per-process cache, rate limits, serializer, sign-in guard).",
	}, func() float64 {
		if degraded() {
			return 1
		}
		return 0
	}))
}

// Build sets gateway_build_info's labels.
func (m *Metrics) Build(version, revision, goVersion string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// ---- client names ------------------------------------------------------

// maxClientNames bounds the client_name label: each distinct name a
// client sends would otherwise be a new series forever.
const maxClientNames = 20

// maxClientNameChars bounds one client name's label value.
const maxClientNameChars = 64

// clientHeaders identify the calling application: graphql-client's and
// Apollo Client's conventions, written in canonical form: Header.Get
// allocates a canonical copy of any other spelling on every call.
var clientHeaders = []string{"Graphql-Client-Name", "Apollographql-Client-Name"}

// clientName is the client name the operation's request declared, or "".
func clientName(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return ""
	}
	return clientNameIn(graphql.GetOperationContext(ctx).Headers)
}

// clientNameIn is the client name headers declare, or "".
func clientNameIn(headers http.Header) string {
	for _, h := range clientHeaders {
		if v := headers.Get(h); v != "" {
			return v
		}
	}
	return ""
}

// SanitizeClientName turns a header value into a label value: letters,
// digits and . _ - / kept, anything else (spaces, quotes, control
// characters) replaced by "_", at most 64 characters.
func SanitizeClientName(name string) string {
	name = strings.TrimSpace(name)
	if len(name) > maxClientNameChars {
		name = name[:maxClientNameChars]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '/':
			return r
		}
		return '_'
	}, name)
}

// clientLabel is the client_name label of name: "unknown" when none was
// sent; the sanitised name when it was already learned, or when it is
// learned now (from an operation that succeeded, while fewer than
// maxClientNames are known); "other" otherwise.
func (m *Metrics) clientLabel(name string, mayLearn bool) string {
	name = SanitizeClientName(name)
	if name == "" {
		return "unknown"
	}
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	if m.clients[name] {
		return name
	}
	if !mayLearn || len(m.clients) >= maxClientNames {
		return "other"
	}
	m.clients[name] = true
	return name
}
