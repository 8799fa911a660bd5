package serializer

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

func TestFallbackKeepsServingThroughARedisOutage(t *testing.T) {
	raw := rawRedis(t)
	proxy := redistest.NewCuttable(t, raw.Options().Addr)
	opt := redisOptions(t)
	opt.Addr = proxy.Addr()
	opt.MaxRetries = -1
	opt.DialTimeout = 200 * time.Millisecond
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })

	logs := &testutil.SyncBuffer{}
	local := NewLocal()
	f := &Fallback{
		Primary:   NewRedis(c, RedisOptions{Poll: 5 * time.Millisecond, Local: local}),
		Secondary: local,
		Gate:      &degrade.Gate{Name: "serializer", Logger: slog.New(slog.NewTextHandler(logs, nil)), ProbeInterval: 100 * time.Millisecond},
	}
	var inFlight, maxInFlight atomic.Int32
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return f.Do(ctx, "serpi:fallback", func(context.Context) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			return nil
		})
	}
	run := func(n int) {
		t.Helper()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := call(); err != nil {
					t.Errorf("call failed: %v", err)
				}
			}()
		}
		wg.Wait()
	}

	run(10)
	proxy.Cut()
	run(30) // through the outage: every call runs, still one at a time in this process
	if got := strings.Count(logs.String(), "redis unavailable"); got != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", got, logs.String())
	}
	proxy.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "redis is back") {
		if time.Now().After(deadline) {
			t.Fatalf("never went back to Redis:\n%s", logs.String())
		}
		run(2)
		time.Sleep(50 * time.Millisecond)
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("max in flight %d, want 1", m)
	}
}
