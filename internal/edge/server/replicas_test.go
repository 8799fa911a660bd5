package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// redisDB is this package's Redis database; other packages use others.
const redisDB = 13

// cluster is n gateway replicas sharing one Redis and one simulator, as
// several replicas behind a load balancer would.
type cluster struct {
	*env
	replicas []http.Handler
	rdb      redis.UniversalClient
	prefix   string
}

func newCluster(t *testing.T, n int, cfg sim.Config, redisURL string, tune ...func(*server.Config)) *cluster {
	t.Helper()
	rdb := redistest.Client(t, redisDB)
	if redisURL == "" {
		redisURL = redistest.URL(t, redisDB)
	}
	e := newEnvWith(t, cfg)
	c := &cluster{env: e, rdb: rdb, prefix: fmt.Sprintf("t%d:", time.Now().UnixNano())}
	for range n {
		rc := server.Config{
			BrillaURL:      e.upstream.URL,
			SerpiURL:       e.upstream.URL,
			SerpiSecretKey: simSecret,
			SerpiToken:     simToken,
			APIKeys: []auth.KeyConfig{
				{Name: "rw", SHA256: auth.HashKey(testKey), Scopes: []string{"catalog:read", "catalog:write"}},
			},
			RedisURL:    redisURL,
			RedisPrefix: c.prefix,
			CacheSecret: "test-cache-secret-0123456789",
			Logger:      e.logger(),
		}
		for _, f := range tune {
			f(&rc)
		}
		h, err := server.New(rc)
		if err != nil {
			t.Fatalf("replica: %v", err)
		}
		t.Cleanup(func() { _ = h.Close() })
		c.replicas = append(c.replicas, h)
	}
	return c
}

// keys lists the Redis keys this cluster wrote.
func (c *cluster) keys(t *testing.T) []string {
	t.Helper()
	keys, err := c.rdb.Keys(context.Background(), c.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestReplicasShareOneCatalogWalkAndNeverShareASerpiToken(t *testing.T) {
	c := newCluster(t, 3, sim.Config{Latency: 15 * time.Millisecond}, "")
	queries := []string{
		`{ branches(first: 5, filter: {nit: "123456789"}) { totalCount edges { node { id } } } }`,
		`{ taxes(first: 10, filter: {search: "iva"}) { totalCount } }`,
		`{ articles(first: 3, filter: {active: true}) { totalCount edges { node { code } } } }`,
		`{ branches(first: 2, filter: {search: "cartagena"}) { totalCount } taxes(first: 1) { totalCount } }`,
	}
	const clients = 300
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := doOn(t, c.replicas[i%len(c.replicas)], queries[i%len(queries)], key(testKey))
			if len(r.Errors) > 0 {
				if failed.Add(1) <= 3 {
					t.Errorf("client %d: %s", i, r.raw)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d queries failed", n, clients)
	}
	s := c.stats()
	gets := s.Calls["GET "+serpi.PathSucursales] + s.Calls["GET "+serpi.PathImpuesto] + s.Calls["GET "+serpi.PathArticulo]
	t.Logf("%d concurrent catalog queries on 3 replicas: %d SERPI GETs %v, max concurrent per token %v, rejections %d",
		clients, gets, s.Calls, s.MaxConcurrentPerToken, s.ConcurrencyRejections)
	if gets > 80 {
		t.Errorf("%d SERPI GETs for %d queries, want at most 80", gets, clients)
	}
	if s.MaxConcurrentPerToken[simToken] != 1 || s.ConcurrencyRejections != 0 {
		t.Errorf("SERPI token used concurrently: max %d, rejections %d", s.MaxConcurrentPerToken[simToken], s.ConcurrencyRejections)
	}
}

const creditsQuery = `{ viewer { credits { loanId amortization { sequence principalAmount } payments { amount } paymentSummary { totalPaid } } } }`

func TestCustomerReadsAreSharedAcrossReplicasButNeverAcrossCustomers(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "")
	tokA := c.signIn("123456789", "12345678")
	tokB := c.signIn("987654321", "87654321")
	c.resetStats()

	var cold viewer
	doOn(t, c.replicas[0], creditsQuery, bearer(tokA)).ok(t, &cold)
	n := int64(len(cold.Viewer.Credits))
	calls := c.stats().Calls
	if calls["GET "+brilla.PathCreditDetail] != n || calls["GET "+brilla.PathCreditPayments] != n {
		t.Fatalf("cold query on replica A: %v, want %d detail and %d payments calls", calls, n, n)
	}

	c.resetStats()
	var warm viewer
	doOn(t, c.replicas[1], creditsQuery, bearer(tokA)).ok(t, &warm)
	if brillaCalls := totalCalls(c.stats(), "/api/brilla/"); brillaCalls != 0 {
		t.Fatalf("same query on replica B made %d Brilla calls, want 0: %v", brillaCalls, c.stats().Calls)
	}
	if len(warm.Viewer.Credits) != len(cold.Viewer.Credits) {
		t.Fatalf("replica B served %d credits, A %d", len(warm.Viewer.Credits), len(cold.Viewer.Credits))
	}

	// Customer B on replica B: their own data from Brilla, not A's cache.
	var other viewer
	doOn(t, c.replicas[1], creditsQuery, bearer(tokB)).ok(t, &other)
	for _, cb := range other.Viewer.Credits {
		for _, ca := range cold.Viewer.Credits {
			if cb.LoanID == ca.LoanID {
				t.Fatalf("customer B was served customer A's loan %d", ca.LoanID)
			}
		}
	}

	// Nothing in Redis names a token, or any 12-character piece of one.
	keys := c.keys(t)
	if len(keys) == 0 {
		t.Fatal("no keys in Redis: the replicas did not share a cache")
	}
	for _, k := range keys {
		for _, tok := range []string{tokA, tokB} {
			for i := 0; i+12 <= len(tok); i += 4 {
				if strings.Contains(k, tok[i:i+12]) {
					t.Fatalf("Redis key %q contains part of a customer token", k)
				}
			}
		}
	}
	customerKeys := map[string][]string{}
	for _, k := range keys {
		if i := strings.Index(k, "brilla:c:"); i >= 0 {
			owner := strings.SplitN(k[i+len("brilla:c:"):], ":", 2)[0]
			customerKeys[owner] = append(customerKeys[owner], k)
		}
	}
	if len(customerKeys) != 2 {
		t.Fatalf("want the entries of exactly 2 customers under distinct key owners, got %d: %v", len(customerKeys), keys)
	}
}

func TestRedisOutageKeepsAnsweringAndRedisIsUsedAgainAfter(t *testing.T) {
	opts, err := redis.ParseURL(redistest.URL(t, redisDB))
	if err != nil {
		t.Fatal(err)
	}
	_ = redistest.Client(t, redisDB) // skips (or fails under CI) without Redis
	proxy := redistest.NewCuttable(t, opts.Addr)
	c := newCluster(t, 2, sim.Config{}, fmt.Sprintf("redis://%s/%d", proxy.Addr(), redisDB))

	query := func(i int, q string) result { return doOn(t, c.replicas[i%2], q, key(testKey)) }
	for i := range 4 {
		if r := query(i, `{ taxes(first: 1) { totalCount } }`); len(r.Errors) > 0 {
			t.Fatalf("before the outage: %s", r.raw)
		}
	}
	before := len(c.keys(t))
	if before == 0 {
		t.Fatal("nothing cached in Redis before the outage")
	}

	proxy.Cut()
	for i := range 20 {
		started := time.Now()
		if r := query(i, `{ branches(first: 1) { totalCount } articles(first: 1) { totalCount } }`); len(r.Errors) > 0 {
			t.Fatalf("during the outage, query %d failed: %s", i, r.raw)
		}
		t.Logf("outage query %d: %v", i, time.Since(started))
		if d := time.Since(started); d > 3*time.Second {
			t.Fatalf("during the outage a query took %v", d)
		}
	}
	if logs := c.logText(); strings.Count(logs, "redis unavailable") == 0 {
		t.Errorf("the outage was not logged:\n%s", logs)
	}

	proxy.Restore()
	// The next writes land in Redis again once the replicas' probes see it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Reads go to Redis again: it misses the collection cached only in
		// memory during the outage, fetches it and stores it in Redis.
		r := query(0, `{ articles(first: 2, filter: {search: "a"}) { totalCount } }`)
		if len(r.Errors) > 0 {
			t.Fatalf("after the outage: %s", r.raw)
		}
		if hasKey(c.keys(t), "articles") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis not used again 10s after it came back; keys: %v", c.keys(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func hasKey(keys []string, part string) bool {
	for _, k := range keys {
		if strings.Contains(k, part) {
			return true
		}
	}
	return false
}
