package loginguard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

const redisDB = 9

// exercise runs the lockout rule against any Guard: five attempts pass,
// the sixth is refused for the rest of the window; a refund gives one back
// and a success resets.
func exercise(t *testing.T, g Guard, subject string) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		if ok, _, err := g.Begin(ctx, subject); err != nil || !ok {
			t.Fatalf("attempt %d refused (err %v)", i, err)
		}
	}
	ok, wait, err := g.Begin(ctx, subject)
	if err != nil || ok || wait <= 0 || wait > DefaultWindow {
		t.Fatalf("6th attempt: ok %v wait %v err %v", ok, wait, err)
	}
	if ok, _, _ := g.Begin(ctx, subject+"-other"); !ok {
		t.Fatal("another subject is blocked too")
	}
	if err := g.Refund(ctx, subject); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := g.Begin(ctx, subject); !ok {
		t.Fatal("a refunded attempt was not given back")
	}
	if err := g.Reset(ctx, subject); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := g.Begin(ctx, subject); !ok {
		t.Fatal("still blocked after a reset")
	}
	_ = g.Reset(ctx, subject)
}

// Parallel attempts cannot get past the allowance: of 60 at once, 5 pass.
func concurrentBegins(t *testing.T, g Guard, subject string) {
	t.Helper()
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _, err := g.Begin(context.Background(), subject); err == nil && ok {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != DefaultMaxFailures {
		t.Fatalf("%d of 60 parallel attempts passed, want %d", passed.Load(), DefaultMaxFailures)
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory(Policy{})
	exercise(t, m, Subject("123456789", "12345678"))
	concurrentBegins(t, m, Subject("parallel", "1"))

	// The window runs from the first attempt and then forgets.
	now := time.Now()
	m.now = func() time.Time { return now }
	s := Subject("1", "2")
	for range 6 {
		_, _, _ = m.Begin(context.Background(), s)
	}
	if ok, wait, _ := m.Begin(context.Background(), s); ok || wait != DefaultWindow {
		t.Fatalf("ok %v wait %v", ok, wait)
	}
	now = now.Add(DefaultWindow)
	if ok, _, _ := m.Begin(context.Background(), s); !ok {
		t.Fatal("still blocked after the window")
	}
}

func TestRedisSharedAcrossReplicas(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	a, b := NewRedis(rdb, prefix, Policy{}), NewRedis(rdb, prefix, Policy{})
	s := Subject("987654321", "87654321")
	exercise(t, a, s)
	concurrentBegins(t, a, Subject("parallel", "2"))
	// Attempts counted on two replicas add up.
	for i := range 5 {
		g := Guard(a)
		if i%2 == 1 {
			g = b
		}
		if ok, _, err := g.Begin(t.Context(), s); err != nil || !ok {
			t.Fatal(err)
		}
	}
	if ok, _, _ := b.Begin(t.Context(), s); ok {
		t.Fatal("5 attempts across two replicas did not block")
	}
	ttl := rdb.PTTL(t.Context(), a.key(s)).Val()
	if ttl <= 0 || ttl > DefaultWindow {
		t.Fatalf("counter TTL %v, want within the window", ttl)
	}
	for _, k := range rdb.Keys(t.Context(), prefix+"*").Val() {
		if strings.Contains(k, "987654321") {
			t.Fatalf("key %q names the document", k)
		}
	}
}

func TestFallbackThroughAnOutage(t *testing.T) {
	redistest.Client(t, redisDB) // skips without Redis (fails under CI=true)
	opts, err := redis.ParseURL(redistest.URL(t, redisDB))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewCuttable(t, opts.Addr)
	opts.Addr = proxy.Addr()
	opts.MaxRetries = -1
	viaProxy := redis.NewClient(opts)
	t.Cleanup(func() { _ = viaProxy.Close() })
	logs := &testutil.SyncBuffer{}
	f := &Fallback{
		Primary:   NewRedis(viaProxy, redistest.Prefix(t), Policy{}),
		Secondary: NewMemory(Policy{}),
		Gate:      &degrade.Gate{Name: "loginguard", Logger: slog.New(slog.NewTextHandler(logs, nil)), ProbeInterval: 50 * time.Millisecond},
	}
	proxy.Cut()
	start := time.Now()
	exercise(t, f, Subject("5", "6"))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the outage made sign-in checks slow: %v", d)
	}
	if n := strings.Count(logs.String(), "redis unavailable"); n != 1 {
		t.Fatalf("outage logged %d times:\n%s", n, logs.String())
	}
	proxy.Restore()
	testutil.WaitUntil(t, "redis back", func() bool {
		_, _, _ = f.Begin(context.Background(), "probe")
		return strings.Contains(logs.String(), "redis is back")
	})
}
