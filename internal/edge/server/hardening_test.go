package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func TestAbusiveOperationsAreRefusedBeforeAnyUpstreamCall(t *testing.T) {
	e := newEnv(t)
	var aliases, wide strings.Builder
	aliases.WriteString("{")
	for i := range 300 {
		fmt.Fprintf(&aliases, " t%d: taxes(first: 1) { totalCount }", i)
	}
	aliases.WriteString(" }")
	wide.WriteString("{")
	for i := range 3 {
		fmt.Fprintf(&wide, " b%d: branches(first: 100) { edges { node { id serpiId code reference description address address2 phone phone2 extension extension2 mobile sellerId collectorId isBillingAddress isShippingAddress city { id code } department { id code } country { id code } thirdParty { id nit } } } }", i)
	}
	wide.WriteString(" }")
	tests := []struct {
		name, query, want string
	}{
		{"12 levels deep", "{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { name } } } } } } } } } } } }", "depth"},
		{"300 aliases", aliases.String(), "300 aliases"},
		{"too costly", wide.String(), "complexity"},
		{"batch of operations", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.resetStats()
			if tc.name == "batch of operations" {
				// gqlgen accepts one operation per request: a JSON array is refused.
				req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`[{"query":"{ taxes { totalCount } }"},{"query":"{ branches { totalCount } }"}]`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Api-Key", testKey)
				rec := httptest.NewRecorder()
				e.gateway.ServeHTTP(rec, req)
				if rec.Code < 400 || strings.Contains(rec.Body.String(), `"totalCount"`) {
					t.Fatalf("batch answered %d %s", rec.Code, rec.Body.String())
				}
			} else {
				r := e.do(tc.query, nil, key(testKey))
				// The gateway's own limits refuse before gqlgen validates
				// (limits.Admission), so even the introspection depth is
				// ours, not gqlparser's validation rule.
				got := r.wantCode(t, "BAD_USER_INPUT")
				if !strings.Contains(strings.ToLower(got.Message), tc.want) {
					t.Errorf("message %q does not say %q", got.Message, tc.want)
				}
			}
			if n := totalCalls(e.stats(), "/api/"); n != 0 {
				t.Errorf("a refused operation made %d upstream calls", n)
			}
		})
	}
	// GraphiQL's own introspection still works.
	var schema struct {
		Schema struct{ Types []struct{ Name string } } `json:"__schema"`
	}
	e.do(`{ __schema { types { name fields { name type { kind ofType { kind ofType { kind ofType { name } } } } } } } }`, nil).ok(t, &schema)
	if len(schema.Schema.Types) == 0 {
		t.Fatal("introspection refused")
	}
}

func TestIntrospectionCanBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	h := newGateway(t, e, func(c *server.Config) { c.Hardening.DisableIntrospection = true })
	doOn(t, h, `{ __schema { types { name } } }`).wantCode(t, "BAD_USER_INPUT")
	if r := doOn(t, h, `{ creditQuote(amount: 100000, periods: 2) { installmentAmount } }`); len(r.Errors) > 0 {
		t.Fatalf("ordinary query refused: %s", r.raw)
	}
}

// persistedQuery posts only a hash, or the hash and the query.
func persistedQuery(t *testing.T, h http.Handler, query string, withText bool, headers ...string) result {
	t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": persisted.Hash(query)}}}
	if withText {
		body["query"] = query
	}
	return postRaw(t, h, body, headers...)
}

func TestAPQHashRegisteredOnOneReplicaWorksOnAnother(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "")
	q := `query Taxes { taxes(first: 2) { totalCount } }`
	miss := persistedQuery(t, c.replicas[1], q, false, key(testKey))
	if got := miss.wantCode(t, "PERSISTED_QUERY_NOT_FOUND"); got.Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %s", miss.raw)
	}
	var first, second struct{ Taxes struct{ TotalCount int } }
	persistedQuery(t, c.replicas[0], q, true, key(testKey)).ok(t, &first)
	persistedQuery(t, c.replicas[1], q, false, key(testKey)).ok(t, &second)
	if second.Taxes.TotalCount == 0 || second.Taxes.TotalCount != first.Taxes.TotalCount {
		t.Fatalf("replica B answered %+v, replica A %+v", second, first)
	}
	// Nothing invalid or over the limits is remembered: gqlgen registers a
	// hash before validating, so the store refuses it itself.
	for _, junk := range []string{`{ noSuchField }`, `{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }`} {
		persistedQuery(t, c.replicas[0], junk, true, key(testKey))
		persistedQuery(t, c.replicas[1], junk, false, key(testKey)).wantCode(t, "PERSISTED_QUERY_NOT_FOUND")
	}
	// A hash that does not match its query is refused.
	bad := postRaw(t, c.replicas[0], map[string]any{"query": q, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": persisted.Hash("other")}}}, key(testKey))
	bad.wantCode(t, "BAD_USER_INPUT")
}

func TestTrustedDocumentsOnlyRunTheManifest(t *testing.T) {
	e := newEnv(t)
	q := `query Quote { creditQuote(amount: 500000, periods: 3) { installmentAmount } }`
	m, err := persisted.ParseManifest([]byte(fmt.Sprintf(`{%q: %q}`, persisted.Hash(q), q)))
	if err != nil {
		t.Fatal(err)
	}
	h := newGateway(t, e, func(c *server.Config) { c.Hardening.TrustedDocuments = m })
	var out struct {
		CreditQuote struct{ InstallmentAmount int }
	}
	doOn(t, h, q).ok(t, &out)
	persistedQuery(t, h, q, false).ok(t, &out)
	doOn(t, h, `{ creditQuote(amount: 500000, periods: 4) { installmentAmount } }`).wantCode(t, "FORBIDDEN")
	// And nobody can register a new hash in trusted mode.
	other := `{ validateContract(vat: "123456789", contractNumber: "12345678") { valid } }`
	persistedQuery(t, h, other, true).wantCode(t, "FORBIDDEN")
}

// With Brilla down completely, customer fields fail fast while SERPI's
// answer arrives intact.
func TestBrillaDownLeavesSerpiFieldsIntactAndAnswersQuickly(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "brilla", Status: 503, Rate: 1})
	for i := range 3 { // the third runs with Brilla's circuit open
		start := time.Now()
		r := e.do(`{ viewer { vat } taxes(first: 1) { totalCount } }`, nil, bearer(tok), key(testKey))
		elapsed := time.Since(start)
		r.wantCode(t, "UPSTREAM_UNAVAILABLE", "brilla")
		var data struct {
			Viewer *struct{ Vat string }
			Taxes  struct{ TotalCount int }
		}
		if err := jsonUnmarshal(r.Data, &data); err != nil || data.Taxes.TotalCount == 0 || data.Viewer != nil {
			t.Fatalf("round %d: data %s", i, r.Data)
		}
		if elapsed > 5*time.Second {
			t.Fatalf("round %d took %v", i, elapsed)
		}
	}
}

func TestThirtyPercentSerpiFailuresAreInvisibleToUsers(t *testing.T) {
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 60, Taxes: 20, Articles: 30}})
	// Short freshness and no local reuse: SERPI is read again and again.
	h := newGateway(t, e, func(c *server.Config) {
		c.CatalogCache = cache.Policy{Fresh: 20 * time.Millisecond, Stale: time.Minute}
		c.CatalogRecheck = time.Millisecond
	})
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "serpi", Status: 500, Rate: 0.3})
	for i := range 40 {
		r := doOn(t, h, `{ taxes(first: 1) { totalCount } branches(first: 1) { totalCount } articles(first: 1) { totalCount } }`, key(testKey))
		if len(r.Errors) > 0 {
			t.Fatalf("query %d: %s", i, r.raw)
		}
		time.Sleep(5 * time.Millisecond)
	}
	gets := totalCalls(e.stats(), "GET /api/v1/")
	if gets < 10 {
		t.Fatalf("only %d SERPI GETs: the test did not exercise failing reads", gets)
	}
	t.Logf("40 queries over 30%% failing SERPI: %d GET attempts, no user-visible error", gets)
}

func TestRateLimitIsSharedByEveryReplica(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "", func(cfg *server.Config) {
		cfg.Hardening.RateLimits = ratelimit.Limits{APIKey: ratelimit.PerMinute(6), Customer: ratelimit.PerMinute(6), IP: ratelimit.PerMinute(6)}
	})
	allowed := 0
	limited := map[int]bool{}
	for i := range 12 {
		r := doOn(t, c.replicas[i%2], `{ taxes(first: 1) { totalCount } }`, key(testKey))
		if len(r.Errors) == 0 {
			allowed++
			continue
		}
		got := r.wantCode(t, "RATE_LIMITED")
		if got.Extensions["retryAfterSeconds"] == nil {
			t.Fatalf("no retry hint: %s", r.raw)
		}
		limited[i%2] = true
	}
	if allowed != 6 || !limited[0] || !limited[1] {
		t.Fatalf("allowed %d of 12 (want 6 across both replicas); limited on replicas %v", allowed, limited)
	}
}

var metricLine = regexp.MustCompile(`^gateway_upstream_calls_total\{endpoint="([^"]+)",status="(\d+)",upstream="(\w+)"\} (\d+)`)

func TestMetricsMatchTheSimulatorsCounters(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")
	e.do(viewerQuery, nil, bearer(tok))
	e.do(`{ taxes { totalCount } branches { totalCount } articles { totalCount } }`, nil, key(testKey))
	e.do(`{ registration(trackingCode: "BRL209901010001") { state } }`, nil)

	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	rec := httptest.NewRecorder()
	e.gateway.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	seen := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(rec.Body.String()))
	for sc.Scan() {
		if m := metricLine.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseInt(m[4], 10, 64)
			seen[m[1]] += n
		}
	}
	want := e.stats().Calls
	if len(want) < 8 {
		t.Fatalf("the simulator saw too few endpoints to compare: %v", want)
	}
	for endpoint, n := range want {
		if seen[endpoint] != n {
			t.Errorf("%s: /metrics says %d, the simulator %d", endpoint, seen[endpoint], n)
		}
	}
	for endpoint := range seen {
		if _, ok := want[endpoint]; !ok {
			t.Errorf("/metrics reports %s, which the simulator never saw", endpoint)
		}
	}
	body := rec.Body.String()
	for _, name := range []string{"gateway_graphql_requests_total", "gateway_graphql_request_duration_seconds_bucket", "gateway_cache_requests_total", "gateway_serializer_wait_seconds_count", "gateway_upstream_circuit_state", "gateway_open_subscriptions"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestReadinessAndGraphQLOverHTTP(t *testing.T) {
	e := newEnv(t)
	h := newGateway(t, e, func(c *server.Config) { c.Hardening.Retry.FailureThreshold = 2; c.Hardening.Retry.Attempts = 1 })
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("/readyz %d %s", rec.Code, rec.Body.String())
	}
	// Both upstreams failing: both circuits open, the replica is not ready.
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "brilla", Status: 500, Rate: 1})
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "serpi", Status: 500, Rate: 1})
	for range 3 {
		doOn(t, h, `{ registration(trackingCode: "BRL209901010001") { state } taxes { totalCount } }`, key(testKey))
	}
	if rec := get("/readyz"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "circuit") {
		t.Fatalf("/readyz with both circuits open: %d %s", rec.Code, rec.Body.String())
	}
	if rec := get("/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("/healthz %d: the process is up", rec.Code)
	}

	// application/graphql-response+json: the media type, and 4xx for a
	// request that cannot run.
	for _, tc := range []struct {
		query  string
		status int
	}{{`{ creditQuote(amount: 100000, periods: 2) { amount } }`, 200}, {`{ creditQuote(`, 400}} {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(fmt.Sprintf(`{"query":%q}`, tc.query)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/graphql-response+json") {
			t.Errorf("%s: %d %q", tc.query, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id on the response")
		}
	}
}

func TestCORSAllowsOnlyTheConfiguredOrigins(t *testing.T) {
	e := newEnv(t)
	h := newGateway(t, e, func(c *server.Config) { c.Hardening.CORSOrigins = []string{"https://app.example.com"} })
	for _, tc := range []struct {
		origin string
		allow  bool
	}{{"https://app.example.com", true}, {"https://evil.example.net", false}} {
		req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-api-key")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("Access-Control-Allow-Origin")
		if tc.allow != (got == tc.origin) {
			t.Errorf("origin %s: Access-Control-Allow-Origin %q", tc.origin, got)
		}
	}
}

// A preflight from an allowed origin may ask for the gateway's own
// headers and, by default, trace context and client identification;
// CORS_ALLOWED_HEADERS replaces the extras, never the gateway's own.
func TestCORSAllowedHeaders(t *testing.T) {
	e := newEnv(t)
	preflight := func(h http.Handler, headers string) bool {
		req := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", headers)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Header().Get("Access-Control-Allow-Origin") == "https://app.example.com"
	}
	byDefault := newGateway(t, e, func(c *server.Config) { c.Hardening.CORSOrigins = []string{"https://app.example.com"} })
	custom := newGateway(t, e, func(c *server.Config) {
		c.Hardening.CORSOrigins = []string{"https://app.example.com"}
		c.Hardening.CORSAllowedHeaders = []string{"x-tenant"}
	})
	for _, tc := range []struct {
		name    string
		h       http.Handler
		headers string
		allow   bool
	}{
		// Browsers send the names sorted and lower-case, as rs/cors expects.
		{"gateway headers", byDefault, "authorization,content-type,idempotency-key,x-api-key", true},
		{"trace context and client name by default", byDefault, "apollographql-client-name,apollographql-client-version,baggage,graphql-client-name,traceparent,x-apollo-operation-name", true},
		{"unknown header by default", byDefault, "x-tenant", false},
		{"configured header", custom, "content-type,x-api-key,x-tenant", true},
		{"defaults replaced by the configured list", custom, "traceparent", false},
	} {
		if got := preflight(tc.h, tc.headers); got != tc.allow {
			t.Errorf("%s: preflight allowed = %v, want %v", tc.name, got, tc.allow)
		}
	}
}

// Everything the gateway logged while handling tokens, keys, answers and
// documents holds none of them.
func TestLogsNeverHoldCredentialsOrDocuments(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")
	e.do(signInMutation, signInVars("123456789", "12345678", "respuesta-secreta"))
	e.do(viewerQuery, nil, bearer(tok))
	e.do(`{ taxes { totalCount } }`, nil, key(testKey))
	e.do(`{ taxes { totalCount } }`, nil, key("not-a-real-key-123"))
	document := "%PDF-1.4 confidential-document-body"
	in := regInput(b64Attachment("cedula.pdf", []byte(document)))
	e.do(`mutation($in: RegisterInput!) { register(input: $in) { trackingCode } }`, map[string]any{"in": in})
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "brilla", Status: 500, Rate: 1})
	e.do(viewerQuery, nil, bearer(tok+"x")) // an upstream failure logs its cause
	logs := e.logText()
	if !strings.Contains(logs, "request_id=") || !strings.Contains(logs, "msg=request") {
		t.Fatalf("the access log is missing:\n%s", logs)
	}
	for _, secret := range []string{tok, testKey, "not-a-real-key-123", simSecret, "respuesta-secreta", "mi_respuesta", "confidential-document-body"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q", secret)
		}
	}
	if os.Getenv("GATEWAY_PRINT_LOGS") != "" {
		t.Log(logs)
	}
}

// A client that stalls mid-body does not hold its connection past the
// request deadline.
func TestStalledBodyIsCutAtTheRequestDeadline(t *testing.T) {
	e := newEnv(t)
	h := newGateway(t, e, func(c *server.Config) { c.RequestTimeout = 300 * time.Millisecond })
	srv := httptest.NewServer(h)
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"query\":")
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.ReadAll(conn) // returns when the server answers and closes, or cuts the connection
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a stalled upload held its connection for %v", d)
	}
}
