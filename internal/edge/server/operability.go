package server

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/metrics"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/playground"
)

// openStreams counts the streams open now, for the shutdown log.
type openStreams struct {
	websockets atomic.Int64
	sse        atomic.Int64
}

// countStreams counts each websocket and SSE stream next serves, in
// gateway_open_streams and in open, while it lasts.
func countStreams(m *metrics.Metrics, open *openStreams, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		transport, n := metrics.StreamSSE, &open.sse
		if r.Method == http.MethodGet {
			transport, n = metrics.StreamWebsocket, &open.websockets
		}
		closed := m.StreamOpened(transport)
		n.Add(1)
		defer func() {
			n.Add(-1)
			closed()
		}()
		next.ServeHTTP(w, r)
	})
}

// classifyRoute is the http_route label of r: one of the gateway's routes
// (templates, never raw paths) or "other"; streams are told apart.
func classifyRoute(r *http.Request) (route string, stream bool) {
	switch p := r.URL.Path; {
	case p == "/graphql":
		return p, isStream(r)
	case p == "/healthz", p == "/readyz", p == "/metrics", p == "/":
		return p, false
	case strings.HasPrefix(p, playground.AssetsPath):
		return playground.AssetsPath + "{asset}", false
	}
	return "other", false
}

// withKeyName records the name of the API key that authenticated the
// request (never the key) for its access-log line.
func withKeyName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := auth.FromContext(r.Context()).Key; k != nil {
			observability.SetKeyName(r.Context(), k.Name)
		}
		next.ServeHTTP(w, r)
	})
}
