package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// Requests are measured under the semantic-convention names with bounded
// labels; streams are not (they are counted as open streams).
func TestInstrumentMeasuresRequests(t *testing.T) {
	m := New()
	classify := func(r *http.Request) (string, bool) {
		if r.URL.Path == "/graphql" {
			return "/graphql", r.Header.Get("Upgrade") != ""
		}
		return "other", false
	}
	var inFlight float64
	h := m.Instrument(classify, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(scrape(t, m), "http_server_active_requests 1") {
			inFlight = 1
		}
		if r.URL.Path != "/graphql" {
			http.NotFound(w, r)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/coffee/pot/42", nil))
	ws := httptest.NewRequest(http.MethodGet, "/graphql", nil)
	ws.Header.Set("Upgrade", "websocket")
	h.ServeHTTP(httptest.NewRecorder(), ws)
	if inFlight != 1 {
		t.Error("http_server_active_requests was not 1 during a request")
	}
	body := scrape(t, m)
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200",http_route="/graphql"} 1`,
		`http_server_request_duration_seconds_count{http_request_method="_OTHER",http_response_status_code="404",http_route="other"} 1`,
		`http_server_request_duration_seconds_bucket{http_request_method="POST",http_response_status_code="200",http_route="/graphql",le="60"} 1`,
		`http_server_active_requests 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `http_request_method="GET"`) {
		t.Error("a websocket upgrade was measured as a request")
	}
}

func TestStreamAndRedisGauges(t *testing.T) {
	m := New()
	var degraded atomic.Bool
	m.RedisDegraded(degraded.Load)
	closeWS := m.StreamOpened(StreamWebsocket)
	m.StreamOpened(StreamSSE)
	degraded.Store(true)
	body := scrape(t, m)
	for _, want := range []string{`gateway_open_streams{transport="websocket"} 1`, `gateway_open_streams{transport="sse"} 1`, `gateway_redis_degraded 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	closeWS()
	closeWS()
	degraded.Store(false)
	body = scrape(t, m)
	for _, want := range []string{`gateway_open_streams{transport="websocket"} 0`, `gateway_redis_degraded 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The client_name label takes at most maxClientNames values besides
// "unknown" and "other", learned from successful operations only, and
// sanitised.
func TestClientNamesAreBounded(t *testing.T) {
	m := New()
	if got := m.clientLabel("", true); got != "unknown" {
		t.Fatalf("no header: %q", got)
	}
	if got := m.clientLabel("evil", false); got != "other" {
		t.Fatalf("a failed operation taught a name: %q", got)
	}
	if got := m.clientLabel(` web app "v2"`+"\n", true); got != "web_app__v2_" {
		t.Fatalf("sanitised to %q", got)
	}
	if got := m.clientLabel(strings.Repeat("x", 500), true); len(got) != maxClientNameChars {
		t.Fatalf("a long name kept %d characters", len(got))
	}
	for i := range 100 {
		m.clientLabel(fmt.Sprintf("client-%d", i), true)
	}
	if got := m.clientLabel("web_app__v2_", false); got != "web_app__v2_" {
		t.Fatalf("a learned name became %q", got)
	}
	if got := m.clientLabel("client-99", true); got != "other" {
		t.Fatalf("past the budget: %q", got)
	}
	m.namesMu.Lock()
	n := len(m.clients)
	m.namesMu.Unlock()
	if n != maxClientNames {
		t.Fatalf("%d client names learned, want %d", n, maxClientNames)
	}
}

// Whatever a client sends as its name, the label value is short and
// plain.
func FuzzSanitizeClientName(f *testing.F) {
	for _, seed := range []string{"", "portal-web", " web app \"v2\"\n", strings.Repeat("ñ", 40), "a/b.c_d-e", "\xff\xfe{}\x00"} {
		f.Add(seed)
	}
	plain := regexp.MustCompile(`^[A-Za-z0-9._/-]{0,64}$`)
	f.Fuzz(func(t *testing.T, name string) {
		if got := SanitizeClientName(name); !plain.MatchString(got) {
			t.Fatalf("SanitizeClientName(%q) = %q", name, got)
		}
	})
}

// Header names looked up on every request are kept canonical: Header.Get
// allocates a canonical copy of any other spelling on every call.
func TestClientHeadersAreCanonical(t *testing.T) {
	for _, name := range clientHeaders {
		if canonical := http.CanonicalHeaderKey(name); canonical != name {
			t.Errorf("%q is not canonical: write %q", name, canonical)
		}
	}
}
