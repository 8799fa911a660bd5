package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

const (
	msgDown = "redis unavailable, serving from memory"
	msgBack = "redis is back"
)

func TestResilientFailsOverAndBack(t *testing.T) {
	direct := redistest.Client(t, testDB) // the real server; skips without Redis
	prefix := redistest.Prefix(t)
	opt, err := redis.ParseURL(redistest.URL(t, testDB))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewCuttable(t, opt.Addr)
	opt.Addr = proxy.Addr()
	viaProxy := redis.NewClient(opt)
	t.Cleanup(func() { _ = viaProxy.Close() })

	rec := &logRecorder{}
	fallback := cache.NewMemory(100)
	const probe = 200 * time.Millisecond
	r := cache.NewResilient(cache.NewRedis(viaProxy, prefix), fallback, slog.New(rec), cache.WithProbeInterval(probe))
	ctx := context.Background()
	entry := func(v string) cache.Entry { return cache.Entry{Value: []byte(v), StoredAt: time.Now()} }
	inRedis := func(key string) (string, bool) {
		raw, err := direct.Get(ctx, prefix+key).Bytes()
		if errors.Is(err, redis.Nil) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(raw[9:]), true
	}

	// Healthy: writes land in Redis.
	if err := r.Set(ctx, "before", entry("v0"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok := inRedis("before"); !ok || v != "v0" {
		t.Fatalf("healthy write not in Redis: %q %v", v, ok)
	}
	if err := r.Set(ctx, "to-invalidate", entry("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if !r.Healthy() || rec.countLevel(slog.LevelWarn) != 0 {
		t.Fatal("not healthy at start")
	}

	// Redis goes away.
	proxy.Cut()
	timed := func(what string, op func() error) {
		t.Helper()
		t0 := time.Now()
		if err := op(); err != nil {
			t.Fatalf("%s during outage: %v", what, err)
		}
		d := time.Since(t0)
		if d > 100*time.Millisecond {
			t.Logf("%s took %v", what, d)
		}
		if d > 300*time.Millisecond+50*time.Millisecond {
			t.Fatalf("%s took %v during outage", what, d)
		}
	}
	for i := range 20 {
		k := fmt.Sprint("outage", i)
		timed("Set", func() error { return r.Set(ctx, k, entry(k), time.Minute) })
		timed("Get", func() error {
			e, ok, err := r.Get(ctx, k)
			if err == nil && (!ok || string(e.Value) != k) {
				err = fmt.Errorf("got %q %v, want the value just written (from memory)", e.Value, ok)
			}
			return err
		})
		timed("TryLease", func() error {
			if got, err := r.TryLease(ctx, "lease:"+k, time.Minute); err != nil || !got {
				return fmt.Errorf("TryLease = %v, %v", got, err)
			}
			return nil
		})
	}
	timed("Delete", func() error { return r.Delete(ctx, "to-invalidate") })
	if r.Healthy() {
		t.Fatal("Healthy during outage")
	}
	// Probes keep failing quietly for a few intervals.
	for range 3 {
		time.Sleep(probe)
		timed("Get", func() error { _, _, err := r.Get(ctx, "outage1"); return err })
	}
	if n := rec.count(slog.LevelWarn, msgDown); n != 1 {
		t.Fatalf("WARN %q logged %d times, want once", msgDown, n)
	}
	if _, ok := inRedis("outage0"); ok {
		t.Fatal("an outage write reached Redis")
	}
	if v, ok := inRedis("to-invalidate"); !ok || v != "old" {
		t.Fatal("setup: the real Redis should still hold the entry invalidated during the outage")
	}

	// Redis comes back.
	proxy.Restore()
	eventually(t, 10*probe, "never noticed Redis is back", r.Healthy)
	if n := rec.count(slog.LevelInfo, msgBack); n != 1 {
		t.Fatalf("INFO %q logged %d times, want once", msgBack, n)
	}
	if err := r.Set(ctx, "after", entry("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok := inRedis("after"); !ok || v != "v1" {
		t.Fatalf("write after recovery not in Redis: %q %v", v, ok)
	}
	if e, ok, err := r.Get(ctx, "before"); err != nil || !ok || string(e.Value) != "v0" {
		t.Fatalf("Get after recovery = %q %v %v; want Redis's v0", e.Value, ok, err)
	}
	if _, ok := inRedis("to-invalidate"); ok {
		t.Fatal("the invalidation made during the outage was not replayed to Redis")
	}
	if fallback.Len() != 0 {
		t.Fatalf("fallback still holds %d outage entries", fallback.Len())
	}
	if _, ok, _ := r.Get(ctx, "outage0"); ok {
		t.Fatal("an outage copy was served after recovery")
	}
	for range 5 {
		_, _, _ = r.Get(ctx, "after")
	}
	if down, back := rec.count(slog.LevelWarn, msgDown), rec.count(slog.LevelInfo, msgBack); down != 1 || back != 1 {
		t.Fatalf("logged down %d, back %d times; want 1, 1", down, back)
	}

	// A second outage is reported again, once.
	proxy.Cut()
	for range 5 {
		timed("Get", func() error { _, _, err := r.Get(ctx, "after"); return err })
	}
	if n := rec.count(slog.LevelWarn, msgDown); n != 2 {
		t.Fatalf("second outage: WARN logged %d times in all, want 2", n)
	}
	proxy.Restore()
	eventually(t, 10*probe, "never noticed Redis is back (second time)", r.Healthy)
}

// hangingStore never answers until its context ends (and sometimes not
// even then): a black-holed Redis.
type hangingStore struct{ ignoreCtx bool }

func (h hangingStore) wait(ctx context.Context) error {
	if h.ignoreCtx {
		time.Sleep(2 * time.Second)
		return errors.New("late")
	}
	<-ctx.Done()
	return ctx.Err()
}
func (h hangingStore) Get(ctx context.Context, _ string) (cache.Entry, bool, error) {
	return cache.Entry{}, false, h.wait(ctx)
}
func (h hangingStore) Set(ctx context.Context, _ string, _ cache.Entry, _ time.Duration) error {
	return h.wait(ctx)
}
func (h hangingStore) Delete(ctx context.Context, _ ...string) error { return h.wait(ctx) }
func (h hangingStore) TryLease(ctx context.Context, _ string, _ time.Duration) (bool, error) {
	return false, h.wait(ctx)
}

func TestResilientNeverHangs(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprint("primary ignores ctx=", ignore), func(t *testing.T) {
			rec := &logRecorder{}
			r := cache.NewResilient(hangingStore{ignoreCtx: ignore}, cache.NewMemory(10), slog.New(rec),
				cache.WithOpTimeout(50*time.Millisecond), cache.WithProbeInterval(time.Hour))
			ctx := context.Background()
			t0 := time.Now()
			if err := r.Set(ctx, "k", cache.Entry{Value: []byte("v")}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d > 200*time.Millisecond {
				t.Fatalf("first op took %v with a 50ms op timeout", d)
			}
			// Down now: memory only, no waiting at all.
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					t0 := time.Now()
					e, ok, err := r.Get(ctx, "k")
					if err != nil || !ok || string(e.Value) != "v" || time.Since(t0) > 20*time.Millisecond {
						t.Errorf("Get during outage = %q %v %v in %v", e.Value, ok, err, time.Since(t0))
					}
				})
			}
			wg.Wait()
			if n := rec.count(slog.LevelWarn, msgDown); n != 1 {
				t.Fatalf("WARN logged %d times", n)
			}
		})
	}
}

func TestResilientCallerCancelIsNotAnOutage(t *testing.T) {
	rec := &logRecorder{}
	r := cache.NewResilient(hangingStore{}, cache.NewMemory(10), slog.New(rec))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := r.Get(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
	if !r.Healthy() || rec.countLevel(slog.LevelWarn) != 0 {
		t.Fatal("the caller's own deadline was taken for a Redis outage")
	}
}

// The Cache on a Resilient store keeps answering through an outage.
func TestCacheOverResilientDuringOutage(t *testing.T) {
	r := cache.NewResilient(hangingStore{}, cache.NewMemory(10), nil, cache.WithOpTimeout(30*time.Millisecond))
	c := cache.New(r, nil)
	defer c.Close()
	calls := 0
	for range 3 {
		got, err := c.Fetch(context.Background(), "k", pol, func(context.Context) ([]byte, error) {
			calls++
			return []byte("v"), nil
		})
		if err != nil || string(got) != "v" {
			t.Fatalf("Fetch = %q, %v", got, err)
		}
	}
	if calls != 1 {
		t.Fatalf("fetch calls = %d; the memory fallback should have cached the value", calls)
	}
}
