package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func getPath(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

type readyBody struct {
	Status    string            `json:"status"`
	Redis     string            `json:"redis"`
	Fallbacks []string          `json:"fallbacks"`
	Circuits  map[string]string `json:"circuits"`
}

func readyz(t *testing.T, h http.Handler) (int, readyBody) {
	t.Helper()
	rec := getPath(h, "/readyz")
	var b readyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body.String(), err)
	}
	return rec.Code, b
}

// With Redis gone the gateway serves from memory, so it stays in the load
// balancer's pool (200) and says it is degraded, in /readyz's body and in
// gateway_redis_degraded; only draining takes it out (503).
func TestReadinessStaysReadyWhileRedisIsDown(t *testing.T) {
	_ = redistest.Client(t, redisDB) // skips (or fails under CI) without Redis
	opts, err := redis.ParseURL(redistest.URL(t, redisDB))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewCuttable(t, opts.Addr)
	e := newEnv(t)
	h := newGateway(t, e, func(c *server.Config) {
		c.RedisURL = fmt.Sprintf("redis://%s/%d", proxy.Addr(), redisDB)
		c.RedisPrefix = redistest.Prefix(t)
		c.CacheSecret = "test-cache-secret-0123456789"
	})
	if code, b := readyz(t, h); code != http.StatusOK || b.Status != "ready" || b.Redis != "up" {
		t.Fatalf("before the outage: %d %+v", code, b)
	}

	proxy.Cut()
	if r := doOn(t, h, `{ taxes(first: 1) { totalCount } }`, key(testKey)); len(r.Errors) > 0 {
		t.Fatalf("during the outage: %s", r.raw)
	}
	// The background check notices within its interval (2 s).
	var code int
	var b readyBody
	testutil.WaitUntil(t, "/readyz to report Redis down", func() bool {
		code, b = readyz(t, h)
		return b.Redis == "down" || code != http.StatusOK
	})
	if code != http.StatusOK || b.Status != "degraded" || b.Redis != "down" || len(b.Fallbacks) == 0 {
		t.Fatalf("Redis down: %d %+v, want 200 degraded with redis down and the components on their fallback", code, b)
	}
	if b.Circuits["brilla"] != "closed" || b.Circuits["serpi"] != "closed" {
		t.Errorf("circuits %v", b.Circuits)
	}
	if m := getPath(h, "/metrics").Body.String(); !strings.Contains(m, "\ngateway_redis_degraded 1\n") {
		t.Errorf("gateway_redis_degraded is not 1 while Redis is down")
	}

	h.(*server.Gateway).Drain()
	if code, b := readyz(t, h); code != http.StatusServiceUnavailable || b.Status != "draining" {
		t.Fatalf("draining: %d %+v, want 503 draining", code, b)
	}
}

// syncBuffer is a log buffer the gateway's goroutines write into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The access-log line of a GraphQL request through the whole gateway is
// one JSON object naming the operation, the client's address as the
// trusted proxy forwarded it, the API key's name (not the key), the cache
// outcome and the duration in milliseconds.
func TestAccessLogLineOfAGraphQLRequest(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	h := newGateway(t, e, func(c *server.Config) {
		c.Logger = observability.NewLogger(slog.NewJSONHandler(&logs, nil))
		c.Hardening.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} // httptest's RemoteAddr
	})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"query TaxPage { taxes(first: 1) { totalCount } }","operationName":"TaxPage"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("X-Forwarded-For", "198.51.100.23")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["msg"] == "request" && m["path"] == "/graphql" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access-log line in:\n%s", logs.String())
	}
	want := map[string]any{"operation": "TaxPage", "client_address": "198.51.100.23", "key_name": "rw", "cache": "miss", "status": float64(200), "method": "POST"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if d, ok := line["duration_ms"].(float64); !ok || d <= 0 {
		t.Errorf("duration_ms %v", line["duration_ms"])
	}
	if strings.Contains(logs.String(), testKey) {
		t.Error("the API key itself is in the log")
	}
}

// After one request /metrics has the semantic-convention HTTP metrics, the
// stream and Redis gauges and the client-name label, and client names
// stay bounded however many a client invents.
func TestMetricsAfterARequest(t *testing.T) {
	e := newEnv(t)
	h := newGateway(t, e, nil)
	ask := func(client string) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"query TaxPage { taxes(first: 1) { totalCount } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", testKey)
		req.Header.Set("apollographql-client-name", client)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	ask("portal-web")
	body := getPath(h, "/metrics").Body.String()
	for _, want := range []string{
		`http_server_request_duration_seconds_bucket{http_request_method="POST",http_response_status_code="200",http_route="/graphql",le="60"} 1`,
		"\nhttp_server_active_requests ",
		`gateway_open_streams{transport="websocket"} 0`,
		`gateway_open_streams{transport="sse"} 0`,
		"\ngateway_redis_degraded 0\n",
		"gateway_build_info{",
		`gateway_graphql_requests_total{client_name="portal-web",operation="TaxPage",outcome="ok",type="query"} 1`,
		`gateway_graphql_request_duration_seconds_bucket{client_name="portal-web",operation="TaxPage",type="query",le="60"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	for i := range 40 {
		ask(fmt.Sprintf("made-up-%d", i))
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`gateway_graphql_requests_total\{client_name="([^"]*)"`).FindAllStringSubmatch(getPath(h, "/metrics").Body.String(), -1) {
		names[m[1]] = true
	}
	if len(names) > 21 || !names["other"] || !names["portal-web"] {
		t.Fatalf("%d client_name values (want at most 20 learned plus other): %v", len(names), names)
	}
}
