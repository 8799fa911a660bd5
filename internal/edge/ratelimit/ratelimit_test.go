package ratelimit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

const redisDB = 10

func burst(t *testing.T, l Limiter, key string, limit Limit, n int) (allowed int, lastWait time.Duration) {
	t.Helper()
	for range n {
		ok, wait, err := l.Allow(t.Context(), key, limit)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		} else {
			lastWait = wait
		}
	}
	return allowed, lastWait
}

func TestLimiters(t *testing.T) {
	limit := PerMinute(5)
	limiters := map[string]func(t *testing.T) Limiter{
		"memory": func(*testing.T) Limiter { return NewMemory() },
		"redis":  func(t *testing.T) Limiter { return NewRedis(redistest.Client(t, redisDB), redistest.Prefix(t)) },
	}
	for name, mk := range limiters {
		t.Run(name, func(t *testing.T) {
			l := mk(t)
			allowed, wait := burst(t, l, "a", limit, 8)
			if allowed != 5 || wait <= 0 || wait > 13*time.Second {
				t.Fatalf("allowed %d of 8 at 5/min (wait %v)", allowed, wait)
			}
			if allowed, _ := burst(t, l, "b", limit, 5); allowed != 5 {
				t.Fatalf("another key was limited too (%d)", allowed)
			}
		})
	}
}

func TestRedisLimitIsSharedByReplicas(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	a, b := NewRedis(rdb, prefix), NewRedis(rdb, prefix)
	limit := PerMinute(4)
	n1, _ := burst(t, a, "k", limit, 3)
	n2, _ := burst(t, b, "k", limit, 3)
	if n1+n2 != 4 {
		t.Fatalf("two replicas allowed %d+%d, want 4 in total", n1, n2)
	}
}

// Every key the Redis limiter writes lives under its prefix
// (REDIS_PREFIX), though redis_rate itself always writes "rate:" + key.
func TestRedisKeysLiveUnderThePrefix(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	l := NewRedis(rdb, prefix)
	if _, _, err := l.Allow(context.Background(), "ip:203.0.113.7", PerMinute(10)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*203.0.113.7*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := prefix + "rate:ip:203.0.113.7"; len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys %q, want only %q", keys, want)
	}
}

func TestMiddleware(t *testing.T) {
	keys, err := auth.NewKeyStore([]auth.KeyConfig{{Name: "k", SHA256: auth.HashKey("secret-key"), Scopes: []string{"catalog:read"}}}, "s", "t")
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := ParsePrefixes("10.0.0.0/8, 192.0.2.200")
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	cfg := Config{Limiter: NewMemory(), Limits: Limits{APIKey: PerMinute(2), Customer: PerMinute(5), IP: PerMinute(1)}, TrustedProxies: proxies}
	h := keys.Middleware(cfg.Middleware(ok))
	do := func(addr string, headers ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.RemoteAddr = addr
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// An API key gets its own budget wherever it comes from.
	for i, want := range []int{200, 200, 429} {
		if got := do("198.51.100.1:1234", "X-Api-Key", "secret-key").Code; got != want {
			t.Fatalf("key request %d: %d, want %d", i, got, want)
		}
	}
	// Anonymous callers are limited per address...
	if got := do("192.0.2.7:1").Code; got != 200 {
		t.Fatalf("first anonymous request: %d", got)
	}
	rec := do("192.0.2.7:2")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second anonymous request: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body struct {
		Errors []struct {
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Errors[0].Extensions["code"] != "RATE_LIMITED" || body.Errors[0].Extensions["retryAfterSeconds"] == nil {
		t.Fatalf("body %s", rec.Body.String())
	}
	// ... and a made-up bearer token buys no extra budget.
	if got := do("192.0.2.7:3", "Authorization", "Bearer forged-1").Code; got != http.StatusTooManyRequests {
		t.Fatalf("a made-up token got past the address limit: %d", got)
	}
	if got := do("192.0.2.8:1").Code; got != 200 {
		t.Fatalf("another address was limited: %d", got)
	}
	// Behind a trusted proxy the client is the right-most untrusted hop;
	// an untrusted sender's X-Forwarded-For is ignored.
	if got := do("10.1.2.3:5", "X-Forwarded-For", "203.0.113.9, 192.0.2.200").Code; got != 200 {
		t.Fatalf("first request of 203.0.113.9 via the proxies: %d", got)
	}
	if got := do("10.9.9.9:5", "X-Forwarded-For", "203.0.113.9").Code; got != http.StatusTooManyRequests {
		t.Fatalf("second request of 203.0.113.9 via another proxy: %d", got)
	}
	if got := do("198.51.100.77:5", "X-Forwarded-For", "203.0.113.10").Code; got != 200 {
		t.Fatalf("untrusted sender: %d", got)
	}
	if got := do("198.51.100.77:6", "X-Forwarded-For", "203.0.113.11").Code; got != http.StatusTooManyRequests {
		t.Fatal("an untrusted sender rotated X-Forwarded-For to escape its limit")
	}
}

func TestParsePrefixes(t *testing.T) {
	if p, err := ParsePrefixes(" 10.0.0.0/8,::1 , 192.0.2.1"); err != nil || len(p) != 3 {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := ParsePrefixes("10.0.0.0/8,not-an-ip"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestFallbackKeepsLimitingThroughAnOutage(t *testing.T) {
	redistest.Client(t, redisDB) // skips without Redis (fails under CI=true)
	opts, err := redis.ParseURL(redistest.URL(t, redisDB))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewCuttable(t, opts.Addr)
	opts.Addr = proxy.Addr()
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	logs := &testutil.SyncBuffer{}
	f := &Fallback{
		Primary:   NewRedis(client, redistest.Prefix(t)),
		Secondary: NewMemory(),
		Gate:      &degrade.Gate{Name: "ratelimit", Logger: slog.New(slog.NewTextHandler(logs, nil))},
	}
	proxy.Cut()
	start := time.Now()
	allowed, _ := burst(t, f, "k", PerMinute(3), 5)
	if allowed != 3 {
		t.Fatalf("allowed %d of 5 at 3/min during the outage", allowed)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("five checks during an outage took %v", d)
	}
	if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
		t.Fatalf("outage logged %d times", n)
	}
}

// One IPv6 client holds a /64: its addresses share one budget, while IPv4
// addresses (mapped or not) stay their own.
func TestClientAddrGroupsIPv6By64(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote, forwarded, want string
	}{
		{"[2001:db8:1:2::1]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:443", "", "2001:db8:1:3::/64"},
		{"203.0.113.7:5", "", "203.0.113.7"},
		{"[::ffff:203.0.113.7]:5", "", "203.0.113.7"},
		{"10.0.0.1:5", "2001:db8:9:9:1:2:3:4", "2001:db8:9:9::/64"},
		{"10.0.0.1:5", "198.51.100.4", "198.51.100.4"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		req.RemoteAddr = tt.remote
		if tt.forwarded != "" {
			req.Header.Set("X-Forwarded-For", tt.forwarded)
		}
		if got := ClientAddr(req, trusted); got != tt.want {
			t.Errorf("%s (X-Forwarded-For %q): %q, want %q", tt.remote, tt.forwarded, got, tt.want)
		}
	}
}

// FuzzLimitIdentityIsCanonical: an IPv4 address counts under its
// canonical text whatever the client sent (the shortcut returns the text
// it parsed), so one client cannot split its budget by spelling.
func FuzzLimitIdentityIsCanonical(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "01.2.3.4", "1.2.3.4%eth0", "::ffff:1.2.3.4", "2001:db8::1", "1.2.3", " 1.2.3.4", "0.0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		want := a.Unmap().String()
		if !a.Unmap().Is4() {
			want = netip.PrefixFrom(a, IPv6PrefixBits).Masked().String()
		}
		if got := limitIdentity(s); got != want {
			t.Fatalf("limitIdentity(%q) = %q, want %q", s, got, want)
		}
	})
}
