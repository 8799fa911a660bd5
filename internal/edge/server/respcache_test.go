package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// metric reads one sample of the gateway's /metrics, e.g.
// `gateway_response_cache_requests_total{outcome="hit"}`; 0 when absent.
func metric(t *testing.T, h http.Handler, sample string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

func outcome(t *testing.T, h http.Handler, o string) float64 {
	t.Helper()
	return metric(t, h, `gateway_response_cache_requests_total{outcome="`+o+`"}`)
}

// outcomes counts each outcome of the response cache on h.
type outcomes map[string]float64

func outcomesOf(t *testing.T, h http.Handler) outcomes {
	t.Helper()
	out := outcomes{}
	for _, o := range []string{"hit", "hit_shared", "miss", "stale", "bypass"} {
		out[o] = outcome(t, h, o)
	}
	return out
}

// since returns what happened on h after before was taken.
func (before outcomes) since(t *testing.T, h http.Handler) outcomes {
	t.Helper()
	now := outcomesOf(t, h)
	for k := range now {
		now[k] -= before[k]
	}
	return now
}

// getGraphQL sends a query as GET and returns the recorder.
func getGraphQL(t *testing.T, h http.Handler, query string, vars map[string]any, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	q := url.Values{"query": {query}}
	if vars != nil {
		b, _ := json.Marshal(vars)
		q.Set("variables", string(b))
	}
	req := httptest.NewRequest(http.MethodGet, "/graphql?"+q.Encode(), nil)
	for _, hd := range headers {
		name, value, _ := strings.Cut(hd, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const cachedTaxesQuery = `query Taxes($first: Int) { taxes(first: $first) { totalCount edges { cursor node { id description rate } } pageInfo { hasNextPage endCursor } } }`

func TestCachedAnswerIsByteIdenticalToAnExecutedOne(t *testing.T) {
	e := newEnv(t)
	uncached := newGateway(t, e, func(c *server.Config) { c.ResponseCacheBytes = -1 })
	vars := map[string]any{"first": 25}

	executed := post(t, uncached, cachedTaxesQuery, vars, key(testKey)).raw
	before := outcomesOf(t, e.gateway)
	first := post(t, e.gateway, cachedTaxesQuery, vars, key(testKey)).raw
	second := post(t, e.gateway, cachedTaxesQuery, vars, key(testKey)).raw
	// The same document written differently (comments, spacing) is the
	// same normalized document and shares the entry.
	reformatted := post(t, e.gateway, "# the same\n"+strings.ReplaceAll(cachedTaxesQuery, " {", "  {"), vars, key(testKey)).raw
	got := before.since(t, e.gateway)
	if got["miss"] != 2 || got["hit"] != 1 {
		// The reformatted text is a new document to this replica: it runs
		// once to learn its plan, and its answer is stored under the same
		// normalized key.
		t.Fatalf("outcomes %v, want 2 misses (one per document text) and 1 hit", got)
	}
	for name, body := range map[string]string{"first (executed)": first, "second (cached)": second, "reformatted": reformatted} {
		if body != executed {
			t.Fatalf("%s answer differs from the uncached gateway's:\n%s\n%s", name, body, executed)
		}
	}
	if strings.Contains(executed, `"errors"`) || !strings.Contains(executed, `"totalCount":40`) {
		t.Fatalf("unexpected answer %s", executed)
	}
	// And the reformatted document hits now.
	before = outcomesOf(t, e.gateway)
	if again := post(t, e.gateway, "# the same\n"+strings.ReplaceAll(cachedTaxesQuery, " {", "  {"), vars, key(testKey)).raw; again != executed {
		t.Fatalf("reformatted hit differs: %s", again)
	}
	if got := before.since(t, e.gateway); got["hit"] != 1 {
		t.Fatalf("outcomes %v, want a hit", got)
	}
	// Other variables are another entry.
	if other := post(t, e.gateway, cachedTaxesQuery, map[string]any{"first": 2}, key(testKey)).raw; other == executed {
		t.Fatal("first: 2 was answered with first: 25's answer")
	}
}

func TestResponseCacheNeverServesAnotherCallersAnswer(t *testing.T) {
	e := newEnv(t)
	h := e.gateway
	q := `{ taxes(first: 3) { totalCount } }`
	doOn(t, h, q, key(testKey)).ok(t, &struct{}{})
	doOn(t, h, q, key(testKey)).ok(t, &struct{}{}) // cached now
	if n := outcome(t, h, "hit"); n != 1 {
		t.Fatalf("hits %v, want 1", n)
	}
	// SECURITY: the cached catalog answer reaches neither an unknown key,
	// nor an anonymous caller, nor a customer token.
	tok := e.signIn("123456789", "12345678")
	for _, tc := range []struct {
		name    string
		headers []string
		code    string
	}{
		{"unknown key", []string{key("not-a-key")}, "UNAUTHENTICATED"},
		{"anonymous", nil, "UNAUTHENTICATED"},
		{"customer token", []string{bearer(tok)}, "UNAUTHENTICATED"},
	} {
		for range 2 {
			doOn(t, h, q, tc.headers...).wantCode(t, tc.code)
		}
	}
	// Another key with the scope gets its own entry (a miss first).
	before := outcomesOf(t, h)
	doOn(t, h, q, key(testReadOnlyKey)).ok(t, &struct{}{})
	if got := before.since(t, h); got["hit"] != 0 || got["miss"] != 1 {
		t.Fatalf("another key's first read: %v, want a miss", got)
	}

	// creditQuote is public: an anonymous answer is shared by anonymous
	// callers, but a customer's quote uses their own rate.
	quote := `{ creditQuote(amount: 1000000, periods: 12) { monthlyRate rateSource installmentAmount } }`
	type quoteOut struct {
		CreditQuote struct {
			MonthlyRate, RateSource string
			InstallmentAmount       int64
		}
	}
	var anon, anon2, mine quoteOut
	doOn(t, h, quote).ok(t, &anon)
	doOn(t, h, quote).ok(t, &anon2)
	doOn(t, h, quote, bearer(tok)).ok(t, &mine)
	if anon.CreditQuote.RateSource != "DEFAULT" || anon2 != anon {
		t.Fatalf("anonymous quotes %+v, %+v", anon, anon2)
	}
	if mine.CreditQuote.RateSource != "CUSTOMER" {
		t.Fatalf("the customer was served the anonymous quote: %+v", mine)
	}
}

func TestCustomersAndKeysNeverShareEntriesAcrossReplicas(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "", func(cfg *server.Config) {
		cfg.APIKeys = append(cfg.APIKeys, auth.KeyConfig{Name: "ro", SHA256: auth.HashKey(testReadOnlyKey), Scopes: []string{"catalog:read"}})
	})
	tokA := c.signIn("123456789", "12345678")
	tokB := c.signIn("987654321", "87654321")
	q := `{ viewer { vat creditSummary { creditLimit } credits { loanId } } }`
	type viewerOut struct {
		Viewer struct {
			Vat     string
			Credits []struct{ LoanID int }
		}
	}
	respKeys := func() int {
		n := 0
		for _, k := range c.keys(t) {
			if strings.Contains(k, "resp:") {
				n++
			}
		}
		return n
	}
	read := func(i int, tok, vat string) {
		t.Helper()
		var out viewerOut
		doOn(t, c.replicas[i], q, bearer(tok)).ok(t, &out)
		if out.Viewer.Vat != vat || len(out.Viewer.Credits) == 0 {
			t.Fatalf("replica %d served %+v to customer %s", i, out, vat)
		}
	}
	// B on replica 1 first: replica 1 learns the document, and stores B's
	// answer.
	read(1, tokB, "987654321")
	read(0, tokA, "123456789")
	if !waitFor(5*time.Second, func() bool { return respKeys() == 2 }) {
		t.Fatalf("%d shared answers, want 2 (one per customer)", respKeys())
	}
	// Replica 1 now serves A from the shared tier, and B from memory.
	before := outcomesOf(t, c.replicas[1])
	read(1, tokA, "123456789")
	read(1, tokB, "987654321")
	if got := before.since(t, c.replicas[1]); got["hit_shared"] != 1 || got["hit"] != 1 {
		t.Fatalf("replica 1: %v, want A from the shared tier and B from memory", got)
	}
	// And replica 0 serves B from the shared tier: each its own.
	for range 2 {
		read(0, tokB, "987654321")
		read(0, tokA, "123456789")
	}
	if n := respKeys(); n != 2 {
		t.Fatalf("%d shared answers, want 2 (one per customer)", n)
	}

	// Two API keys: the rw key's answer on replica 0 reaches replica 1's
	// rw reads through the shared tier, never the ro key's, nor anonymous
	// callers.
	taxes := `{ taxes(first: 3) { totalCount edges { node { id } } } }`
	doOn(t, c.replicas[1], taxes, key(testReadOnlyKey)).ok(t, &struct{}{}) // replica 1 learns the document
	doOn(t, c.replicas[0], taxes, key(testKey)).ok(t, &struct{}{})
	if !waitFor(5*time.Second, func() bool { return respKeys() == 4 }) {
		t.Fatalf("%d shared answers, want 4 (two customers, two keys)", respKeys())
	}
	before = outcomesOf(t, c.replicas[1])
	doOn(t, c.replicas[1], taxes, key(testKey)).ok(t, &struct{}{})
	if got := before.since(t, c.replicas[1]); got["hit_shared"] != 1 {
		t.Fatalf("rw key on replica 1: %v, want its entry from the shared tier", got)
	}
	doOn(t, c.replicas[1], taxes).wantCode(t, "UNAUTHENTICATED")
	doOn(t, c.replicas[0], taxes, bearer(tokA)).wantCode(t, "UNAUTHENTICATED")
	if n := respKeys(); n != 4 {
		t.Fatalf("%d shared answers after refused reads, want 4", n)
	}
}

func TestCatalogWriteOnOneReplicaMakesTheNextReadOnAnotherMiss(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "")
	q := `query($s: String) { taxes(filter: {search: $s}) { totalCount edges { node { description } } } }`
	vars := map[string]any{"s": "CACHEADO"}
	reader := c.replicas[1]
	count := func() int {
		var out struct{ Taxes struct{ TotalCount int } }
		post(t, reader, q, vars, key(testKey)).ok(t, &out)
		return out.Taxes.TotalCount
	}
	if n := count(); n != 0 {
		t.Fatalf("%d taxes before the write", n)
	}
	before := outcomesOf(t, reader)
	if n := count(); n != 0 {
		t.Fatal("changed without a write")
	}
	if got := before.since(t, reader); got["hit"] != 1 {
		t.Fatalf("second read: %v, want a hit", got)
	}
	post(t, c.replicas[0], createTaxMutation, map[string]any{"in": taxInput("CACHEADO")}, key(testKey)).ok(t, &struct{}{})
	before = outcomesOf(t, reader)
	if n := count(); n != 1 {
		t.Fatalf("replica 1 answers %d taxes right after replica 0 created one: a cached answer outlived the write", n)
	}
	if got := before.since(t, reader); got["hit"]+got["hit_shared"] != 0 {
		t.Fatalf("read after the write: %v, want a miss", got)
	}
}

func TestAnswersWithErrorsAreNeverCached(t *testing.T) {
	e := newEnv(t)
	stored := func() float64 { return metric(t, e.gateway, `gateway_response_cache_stores_total{stored="true"}`) }
	for _, q := range []string{
		// Partial data: the list resolves, the bad ID does not.
		`{ taxes(first: 2) { totalCount } tax(id: "bm90LWEtdGF4") { id } }`,
		// A field error with no data at all.
		`{ tax(id: "!!") { id } }`,
	} {
		for range 3 {
			r := doOn(t, e.gateway, q, key(testKey))
			if len(r.Errors) == 0 {
				t.Fatalf("%s: want an error, got %s", q, r.raw)
			}
		}
	}
	if n := stored(); n != 0 {
		t.Fatalf("%v answers with errors stored", n)
	}
	if h := outcome(t, e.gateway, "hit"); h != 0 {
		t.Fatalf("%v hits on answers with errors", h)
	}
	// Uncacheable operations: a mutation, a field without hint.
	before := outcomesOf(t, e.gateway)
	doOn(t, e.gateway, `{ validateContract(vat: "123456789", contractNumber: "12345678") { valid } }`)
	doOn(t, e.gateway, `{ validateContract(vat: "123456789", contractNumber: "12345678") { valid } }`)
	if got := before.since(t, e.gateway); got["bypass"] != 2 || got["hit"] != 0 {
		t.Fatalf("unhinted field: %v, want 2 bypasses", got)
	}
}

func TestGetAnswersCarryCachingHeadersAnd304(t *testing.T) {
	e := newEnv(t)
	q := `{ taxes(first: 2) { edges { node { description } } } }`
	first := getGraphQL(t, e.gateway, q, nil, key(testKey))
	etag := first.Header().Get("ETag")
	if first.Code != http.StatusOK || etag == "" {
		t.Fatalf("GET: %d, ETag %q", first.Code, etag)
	}
	if cc := first.Header().Get("Cache-Control"); cc != "private, max-age=60" {
		t.Fatalf("Cache-Control %q, want private, max-age=60 (catalog data behind a key)", cc)
	}
	for _, tc := range []struct {
		ifNoneMatch string
		want        int
	}{
		{etag, http.StatusNotModified},
		{`"other", ` + etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{`"other"`, http.StatusOK},
	} {
		rec := getGraphQL(t, e.gateway, q, nil, key(testKey), "If-None-Match: "+tc.ifNoneMatch)
		if rec.Code != tc.want {
			t.Fatalf("If-None-Match %s: %d, want %d", tc.ifNoneMatch, rec.Code, tc.want)
		}
		body, _ := io.ReadAll(rec.Body)
		if tc.want == http.StatusNotModified && len(body) != 0 {
			t.Fatalf("304 with a body: %s", body)
		}
		if tc.want == http.StatusOK && string(body) != first.Body.String() {
			t.Fatalf("200 body differs: %s", body)
		}
	}
	// The access log says what the cache did for each request.
	for _, outcome := range []string{"cache=miss", "cache=hit"} {
		if !strings.Contains(e.logText(), outcome) {
			t.Fatalf("no access-log line with %s in:\n%s", outcome, e.logText())
		}
	}
	// An anonymous public answer may be cached by shared caches.
	pub := getGraphQL(t, e.gateway, `{ creditQuote(amount: 500000, periods: 3) { installmentAmount } }`, nil)
	if cc := pub.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Fatalf("anonymous creditQuote: Cache-Control %q", cc)
	}
	// A customer's answer is private whatever its hints.
	tok := e.signIn("123456789", "12345678")
	priv := getGraphQL(t, e.gateway, `{ creditQuote(amount: 500000, periods: 3) { installmentAmount } }`, nil, bearer(tok))
	if cc := priv.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
		t.Fatalf("customer creditQuote: Cache-Control %q", cc)
	}
	// POST answers carry no HTTP caching headers.
	body := strings.NewReader(fmt.Sprintf(`{"query":%q}`, q))
	req := httptest.NewRequest(http.MethodPost, "/graphql", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testKey)
	rec := httptest.NewRecorder()
	e.gateway.ServeHTTP(rec, req)
	if rec.Header().Get("ETag") != "" || rec.Header().Get("Cache-Control") != "" {
		t.Fatalf("POST answer carries caching headers: %v", rec.Header())
	}
}

// When an entry goes stale under load, the identical requests that miss
// together run once: one executes, the others wait for its answer and are
// served it. Callers with different credentials never share a run.
func TestIdenticalMissesRunOnce(t *testing.T) {
	// The upstream's latency keeps the first execution open while the
	// others arrive.
	e := newEnvWith(t, sim.Config{Latency: 150 * time.Millisecond, Serpi: serpi.SimConfig{Taxes: 40}})
	q := `query($s: String) { taxes(first: 10, filter: {search: $s}) { totalCount edges { node { description } } } }`
	vars := map[string]any{"s": "IVA"}
	for _, k := range []string{testKey, testReadOnlyKey} {
		post(t, e.gateway, q, vars, key(k)).ok(t, &struct{}{}) // learn the plan, store
	}
	// A write drops the collection: every stored answer above is stale.
	post(t, e.gateway, createTaxMutation, map[string]any{"in": taxInput("IVA COALESCIDO 7,5%")}, key(testKey)).ok(t, &struct{}{})

	const perKey = 6
	before := outcomesOf(t, e.gateway)
	type answer struct{ key, body string }
	answers := make(chan answer, 2*perKey)
	start := make(chan struct{})
	for _, k := range []string{testKey, testReadOnlyKey} {
		for range perKey {
			go func() {
				<-start
				answers <- answer{k, post(t, e.gateway, q, vars, key(k)).raw}
			}()
		}
	}
	close(start)
	bodies := map[string]map[string]bool{}
	for range 2 * perKey {
		a := <-answers
		if bodies[a.key] == nil {
			bodies[a.key] = map[string]bool{}
		}
		bodies[a.key][a.body] = true
	}
	for k, set := range bodies {
		if len(set) != 1 {
			t.Fatalf("key %s got %d different answers", k, len(set))
		}
		for body := range set {
			if !strings.Contains(body, "IVA COALESCIDO") || strings.Contains(body, `"errors"`) {
				t.Fatalf("key %s was answered %s, not the collection after the write", k, body)
			}
		}
	}
	got := before.since(t, e.gateway)
	// One run per key: the one that found its entry stale (or missing);
	// the other five of each key are served that run's answer.
	if runs := got["miss"] + got["stale"]; runs != 2 || got["hit"] != 2*perKey-2 {
		t.Fatalf("outcomes %v: want 2 executions (one per key) and %d hits", got, 2*perKey-2)
	}
}

// stalledWriter is a client that reads nothing: its writes block until
// release closes.
type stalledWriter struct {
	*httptest.ResponseRecorder
	release chan struct{}
}

func (s *stalledWriter) Write(p []byte) (int, error) {
	<-s.release
	return s.ResponseRecorder.Write(p)
}

// The request that runs a coalesced miss hands its answer to the others
// before writing its own: a client that reads slowly (or not at all)
// cannot hold the requests waiting on it.
func TestAStalledReaderDoesNotHoldCoalescedRequests(t *testing.T) {
	e := newEnvWith(t, sim.Config{Latency: 150 * time.Millisecond, Serpi: serpi.SimConfig{Taxes: 40}})
	q := `query($s: String) { taxes(first: 10, filter: {search: $s}) { totalCount } }`
	vars := map[string]any{"s": "IVA"}
	post(t, e.gateway, q, vars, key(testKey)).ok(t, &struct{}{})
	post(t, e.gateway, createTaxMutation, map[string]any{"in": taxInput("IVA LECTOR LENTO 7,5%")}, key(testKey)).ok(t, &struct{}{})

	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testKey)
	stalled := &stalledWriter{ResponseRecorder: httptest.NewRecorder(), release: make(chan struct{})}
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		e.gateway.ServeHTTP(stalled, req)
	}()
	time.Sleep(30 * time.Millisecond) // within the first run's upstream wait
	follower := make(chan string, 1)
	go func() { follower <- post(t, e.gateway, q, vars, key(testKey)).raw }()
	select {
	case got := <-follower:
		if !strings.Contains(got, `"totalCount":`) || strings.Contains(got, `"errors"`) {
			t.Fatalf("the waiting request was answered %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request coalesced with a stalled reader's run waited for that reader")
	}
	close(stalled.release)
	<-leaderDone
}
