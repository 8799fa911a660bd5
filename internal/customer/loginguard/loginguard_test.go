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
	a := Attempt{Subject: subject, Addr: "198.51.100.7"}
	for i := 1; i <= 5; i++ {
		if v, err := g.Begin(ctx, a); err != nil || !v.Allowed {
			t.Fatalf("attempt %d refused (err %v)", i, err)
		}
	}
	v, err := g.Begin(ctx, a)
	if err != nil || v.Allowed || v.ByAddress || v.Wait <= 0 || v.Wait > DefaultWindow {
		t.Fatalf("6th attempt: %+v err %v", v, err)
	}
	if v, _ := g.Begin(ctx, Attempt{Subject: subject + "-other", Addr: a.Addr}); !v.Allowed {
		t.Fatal("another subject is blocked too")
	}
	if err := g.Refund(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Begin(ctx, a); !v.Allowed {
		t.Fatal("a refunded attempt was not given back")
	}
	if err := g.Reset(ctx, a); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.Begin(ctx, a); !v.Allowed {
		t.Fatal("still blocked after a reset")
	}
	_ = g.Reset(ctx, a)
	_ = g.Reset(ctx, Attempt{Subject: subject + "-other", Addr: a.Addr})
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
			if v, err := g.Begin(context.Background(), Attempt{Subject: subject}); err == nil && v.Allowed {
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
		_, _ = m.Begin(context.Background(), Attempt{Subject: s})
	}
	if v, _ := m.Begin(context.Background(), Attempt{Subject: s}); v.Allowed || v.Wait != DefaultWindow {
		t.Fatalf("%+v", v)
	}
	now = now.Add(DefaultWindow)
	if v, _ := m.Begin(context.Background(), Attempt{Subject: s}); !v.Allowed {
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
		if v, err := g.Begin(t.Context(), Attempt{Subject: s}); err != nil || !v.Allowed {
			t.Fatal(err)
		}
	}
	if v, _ := b.Begin(t.Context(), Attempt{Subject: s}); v.Allowed {
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
		_, _ = f.Begin(context.Background(), Attempt{Subject: "probe"})
		return strings.Contains(logs.String(), "redis is back")
	})
}
