package loginguard

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/internal/degrade"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

const redisDB = 9

// exercise runs the lockout rule against any Guard: four failures leave
// the subject open, the fifth locks it, a success resets it.
func exercise(t *testing.T, g Guard, subject string) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		if err := g.Fail(ctx, subject); err != nil {
			t.Fatal(err)
		}
		if blocked, _, err := g.Blocked(ctx, subject); err != nil || blocked {
			t.Fatalf("blocked after %d failures (err %v)", i, err)
		}
	}
	if err := g.Fail(ctx, subject); err != nil {
		t.Fatal(err)
	}
	blocked, wait, err := g.Blocked(ctx, subject)
	if err != nil || !blocked || wait <= 0 || wait > DefaultWindow {
		t.Fatalf("after 5 failures: blocked %v wait %v err %v", blocked, wait, err)
	}
	if blocked, _, _ := g.Blocked(ctx, subject+"-other"); blocked {
		t.Fatal("another subject is blocked too")
	}
	if err := g.Reset(ctx, subject); err != nil {
		t.Fatal(err)
	}
	if blocked, _, _ := g.Blocked(ctx, subject); blocked {
		t.Fatal("still blocked after a reset")
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory(Policy{})
	exercise(t, m, Subject("123456789", "12345678"))

	// The window runs from the first failure and then forgets.
	now := time.Now()
	m.now = func() time.Time { return now }
	s := Subject("1", "2")
	for range 5 {
		_ = m.Fail(context.Background(), s)
	}
	if blocked, wait, _ := m.Blocked(context.Background(), s); !blocked || wait != DefaultWindow {
		t.Fatalf("blocked %v wait %v", blocked, wait)
	}
	now = now.Add(DefaultWindow)
	if blocked, _, _ := m.Blocked(context.Background(), s); blocked {
		t.Fatal("still blocked after the window")
	}
	_ = m.Fail(context.Background(), "x") // prunes expired windows
	if _, ok := m.counts[s]; ok {
		t.Fatal("expired window kept in memory")
	}
}

func TestRedisSharedAcrossReplicas(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	a, b := NewRedis(rdb, prefix, Policy{}), NewRedis(rdb, prefix, Policy{})
	s := Subject("987654321", "87654321")
	exercise(t, a, s)
	// Failures counted on two replicas add up.
	for i := range 5 {
		g := Guard(a)
		if i%2 == 1 {
			g = b
		}
		if err := g.Fail(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	if blocked, _, _ := b.Blocked(t.Context(), s); !blocked {
		t.Fatal("5 failures across two replicas did not block")
	}
	ttl := rdb.PTTL(t.Context(), a.key(s)).Val()
	if ttl <= 0 || ttl > DefaultWindow {
		t.Fatalf("counter TTL %v, want within the window", ttl)
	}
	if keys := rdb.Keys(t.Context(), prefix+"*").Val(); len(keys) != 1 || strings.Contains(keys[0], "987654321") {
		t.Fatalf("keys %v: want one opaque key", keys)
	}
}

func TestFallbackThroughAnOutage(t *testing.T) {
	redistest.Client(t, redisDB) // skips without Redis (fails under CI=true)
	opts, err := redis.ParseURL(redistest.URL(redisDB))
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
		_, _, _ = f.Blocked(context.Background(), "probe")
		return strings.Contains(logs.String(), "redis is back")
	})
}
