package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/cache"
)

var pol = cache.Policy{Fresh: time.Minute, Stale: time.Hour}

// seed stores value under key as if it had been stored age ago.
func seed(t *testing.T, s cache.Store, key, value string, age time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, cache.Entry{Value: []byte(value), StoredAt: time.Now().Add(-age)}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s cache.Store, key string) string {
	t.Helper()
	e, ok, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<miss>"
	}
	return string(e.Value)
}

// counter is a fetch function that counts its calls and returns value.
func counter(n *atomic.Int32, value string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		n.Add(1)
		return []byte(value), nil
	}
}

func TestFetchStates(t *testing.T) {
	tests := []struct {
		name      string
		age       time.Duration // of the seeded entry; <0: none
		want      string
		syncCalls int32 // fetch calls before Fetch returns
	}{
		{"missing: fetched synchronously", -1, "new", 1},
		{"fresh: no fetch", 30 * time.Second, "old", 0},
		{"clock skew (stored in the future) counts as fresh", -10 * time.Second, "old", 0},
		{"stale: old value at once", 10 * time.Minute, "old", 0},
		{"older than fresh+stale: fetched synchronously", 90 * time.Minute, "new", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := cache.NewMemory(10)
			if tt.age != -1 {
				seed(t, store, "k", "old", tt.age)
			}
			c := cache.New(store, nil)
			defer c.Close()
			var n atomic.Int32
			release := make(chan struct{})
			fetch := func(ctx context.Context) ([]byte, error) {
				if n.Add(1) > 0 && tt.syncCalls == 0 {
					<-release // a background refresh: hold it until Fetch returned
				}
				return []byte("new"), nil
			}
			got, err := c.Fetch(context.Background(), "k", pol, fetch)
			close(release)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Fetch = %q, %v; want %q", got, err, tt.want)
			}
			if tt.syncCalls == 1 && n.Load() != 1 {
				t.Fatalf("fetch calls = %d, want 1", n.Load())
			}
			if tt.age < pol.Fresh { // fresh (or no entry): nothing in the background
				c.Close()
				if want := tt.syncCalls; n.Load() != want {
					t.Fatalf("fetch calls = %d, want %d", n.Load(), want)
				}
			}
			if tt.syncCalls == 1 {
				if v := get(t, store, "k"); v != "new" {
					t.Fatalf("store has %q after a fetch", v)
				}
			}
		})
	}
}

func TestFreshHitMakesNoFetch(t *testing.T) {
	c := cache.New(cache.NewMemory(10), nil)
	defer c.Close()
	var n atomic.Int32
	for i := range 5 {
		got, err := c.Fetch(context.Background(), "k", pol, counter(&n, fmt.Sprint("v", i)))
		if err != nil || string(got) != "v0" {
			t.Fatalf("Fetch #%d = %q, %v; want v0", i, got, err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("fetch calls = %d, want 1", n.Load())
	}
}

func TestStaleServesOldAndRefreshesOnce(t *testing.T) {
	store := cache.NewMemory(10)
	seed(t, store, "k", "old", 2*time.Minute)
	c := cache.New(store, nil)
	defer c.Close()

	var n atomic.Int32
	release := make(chan struct{})
	fetch := func(ctx context.Context) ([]byte, error) {
		n.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte("new"), nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			got, err := c.Fetch(context.Background(), "k", pol, fetch)
			if err != nil || string(got) != "old" {
				errs <- fmt.Errorf("Fetch = %q, %v; want old", got, err)
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	// The refresh is blocked, so returning proves the readers did not wait.
	within(t, 2*time.Second, "stale readers waited for the refresh", allDone)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(release)
	eventually(t, 2*time.Second, "refreshed value never stored", func() bool { return get(t, store, "k") == "new" })
	eventually(t, 2*time.Second, "lease never released", func() bool {
		_, ok, _ := store.Get(context.Background(), "lease:k")
		return !ok
	})
	c.Close()
	if n.Load() != 1 {
		t.Fatalf("fetch calls = %d, want exactly 1 background refresh", n.Load())
	}
	if got, _ := c.Fetch(context.Background(), "k", pol, fetch); string(got) != "new" {
		t.Fatalf("after refresh Fetch = %q", got)
	}
}

// Two processes (Cache instances) sharing one Redis refresh a stale key
// once between them: the lease.
func TestStaleRefreshOnceAcrossReplicas(t *testing.T) {
	client := redisStore(t) // skips without Redis
	a := cache.NewRedis(client.Client(), client.Key(""))
	b := cache.NewRedis(client.Client(), client.Key(""))
	seed(t, a, "k", "old", 2*time.Minute)
	ca, cb := cache.New(a, nil), cache.New(b, nil)
	defer ca.Close()
	defer cb.Close()

	var n atomic.Int32
	fetch := func(context.Context) ([]byte, error) {
		n.Add(1)
		time.Sleep(100 * time.Millisecond)
		return []byte("new"), nil
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for wave := range 6 { // readers keep coming during and after the refresh
		for _, c := range []*cache.Cache{ca, cb} {
			for range 10 {
				wg.Go(func() {
					got, err := c.Fetch(context.Background(), "k", pol, fetch)
					if err != nil || (string(got) != "old" && string(got) != "new") {
						bad.Add(1)
					}
				})
			}
		}
		time.Sleep(time.Duration(wave) * 15 * time.Millisecond)
	}
	wg.Wait()
	eventually(t, 3*time.Second, "refreshed value never reached Redis", func() bool { return get(t, a, "k") == "new" })
	time.Sleep(200 * time.Millisecond) // room for a wrong second refresh to show
	ca.Close()
	cb.Close()
	if bad.Load() != 0 {
		t.Fatalf("%d Fetch calls failed", bad.Load())
	}
	if n.Load() != 1 {
		t.Fatalf("fetch calls across two replicas = %d, want 1", n.Load())
	}
}

func TestColdCallersShareOneFetch(t *testing.T) {
	c := cache.New(cache.NewMemory(10), nil)
	defer c.Close()
	var n atomic.Int32
	fetch := func(context.Context) ([]byte, error) {
		n.Add(1)
		time.Sleep(50 * time.Millisecond)
		return []byte("v"), nil
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 100 {
		wg.Go(func() {
			<-start
			got, err := c.Fetch(context.Background(), "k", pol, fetch)
			if err != nil || string(got) != "v" {
				bad.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n.Load() != 1 || bad.Load() != 0 {
		t.Fatalf("fetch calls = %d (want 1), bad results = %d", n.Load(), bad.Load())
	}
}

func TestFetchErrorIsReturnedNotCached(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	boom := errors.New("upstream down")
	var n atomic.Int32
	fetch := func(context.Context) ([]byte, error) {
		if n.Add(1) == 1 {
			return nil, boom
		}
		return []byte("v"), nil
	}
	if _, err := c.Fetch(context.Background(), "k", pol, fetch); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if v := get(t, store, "k"); v != "<miss>" {
		t.Fatalf("an error was cached: %q", v)
	}
	if got, err := c.Fetch(context.Background(), "k", pol, fetch); err != nil || string(got) != "v" || n.Load() != 2 {
		t.Fatalf("second Fetch = %q, %v after %d calls; want a new fetch", got, err, n.Load())
	}
}

func TestFetchPanicBecomesError(t *testing.T) {
	c := cache.New(cache.NewMemory(10), slog.New(&logRecorder{}))
	defer c.Close()
	_, err := c.Fetch(context.Background(), "k", pol, func(context.Context) ([]byte, error) { panic("bug") })
	if err == nil {
		t.Fatal("a panicking fetch must give an error")
	}
}

func TestCancelledWaiterReturnsWhileOthersGetTheValue(t *testing.T) {
	c := cache.New(cache.NewMemory(10), nil)
	defer c.Close()
	var n atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	fetchCtxErr := make(chan error, 1)
	fetch := func(ctx context.Context) ([]byte, error) {
		n.Add(1)
		close(started)
		<-release
		fetchCtxErr <- ctx.Err()
		return []byte("v"), nil
	}

	// The first caller (whose context starts the fetch) gives up.
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctxA, "k", pol, fetch)
		errA <- err
	}()
	within(t, 2*time.Second, "fetch never started", started)

	type result struct {
		v   string
		err error
	}
	resB := make(chan result, 1)
	go func() {
		v, err := c.Fetch(context.Background(), "k", pol, fetch)
		resB <- result{string(v), err}
	}()
	time.Sleep(20 * time.Millisecond) // let B join

	t0 := time.Now()
	cancelA()
	if err := within(t, time.Second, "cancelled waiter did not return", errA); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v", err)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("cancelled waiter took %v", d)
	}
	select {
	case r := <-resB:
		t.Fatalf("B returned before the fetch ended: %+v", r)
	default:
	}
	close(release)
	if r := within(t, 2*time.Second, "B never got the value", resB); r.err != nil || r.v != "v" {
		t.Fatalf("B = %+v", r)
	}
	if err := <-fetchCtxErr; err != nil {
		t.Fatalf("the shared fetch was cancelled with the first caller: %v", err)
	}
	if n.Load() != 1 {
		t.Fatalf("fetch calls = %d", n.Load())
	}
}

func TestFetchCancelledWhenEveryWaiterLeaves(t *testing.T) {
	c := cache.New(cache.NewMemory(10), nil)
	defer c.Close()
	fetchErr := make(chan error, 1)
	started := make(chan struct{})
	fetch := func(ctx context.Context) ([]byte, error) {
		close(started)
		select {
		case <-ctx.Done():
			fetchErr <- ctx.Err()
		case <-time.After(5 * time.Second):
			fetchErr <- nil
		}
		return nil, errors.New("unused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Fetch(ctx, "k", pol, fetch); done <- err }()
	within(t, time.Second, "fetch never started", started)
	cancel()
	within(t, time.Second, "waiter did not return", done)
	if err := within(t, time.Second, "orphaned fetch was not cancelled", fetchErr); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch ctx err = %v", err)
	}
}

func TestFetchTimeout(t *testing.T) {
	c := cache.New(cache.NewMemory(10), nil, cache.WithFetchTimeout(50*time.Millisecond))
	defer c.Close()
	_, err := c.Fetch(context.Background(), "k", pol, func(ctx context.Context) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the fetch timeout", err)
	}
}

func TestInvalidate(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	var n atomic.Int32
	fetch := func(context.Context) ([]byte, error) { return []byte(fmt.Sprint("v", n.Add(1))), nil }
	ctx := context.Background()
	if got, _ := c.Fetch(ctx, "k", pol, fetch); string(got) != "v1" {
		t.Fatal(string(got))
	}
	if got, _ := c.Fetch(ctx, "k", pol, fetch); string(got) != "v1" {
		t.Fatal(string(got))
	}
	if err := c.Invalidate(ctx, "k", "other"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Fetch(ctx, "k", pol, fetch); string(got) != "v2" || n.Load() != 2 {
		t.Fatalf("after Invalidate Fetch = %q with %d calls; want a new fetch", got, n.Load())
	}
}

// A fetch in flight when its key is invalidated answers its waiters but
// does not store its (pre-change) result.
func TestInvalidateDuringFetchDoesNotStoreOldResult(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	started, release := make(chan struct{}), make(chan struct{})
	res := make(chan string, 1)
	go func() {
		v, _ := c.Fetch(context.Background(), "k", pol, func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("before-write"), nil
		})
		res <- string(v)
	}()
	within(t, time.Second, "fetch never started", started)
	if err := c.Invalidate(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if v := within(t, time.Second, "waiter never returned", res); v != "before-write" {
		t.Fatalf("waiter got %q", v)
	}
	time.Sleep(20 * time.Millisecond)
	if v := get(t, store, "k"); v != "<miss>" {
		t.Fatalf("invalidated fetch stored %q", v)
	}
}

func TestCloseEndsBackgroundRefresh(t *testing.T) {
	store := cache.NewMemory(10)
	seed(t, store, "k", "old", 2*time.Minute)
	c := cache.New(store, nil)
	started := make(chan struct{})
	refreshErr := make(chan error, 1)
	fetch := func(ctx context.Context) ([]byte, error) {
		close(started)
		select {
		case <-ctx.Done():
			refreshErr <- ctx.Err()
			return nil, ctx.Err()
		case <-time.After(10 * time.Second):
			refreshErr <- nil
			return []byte("new"), nil
		}
	}
	if got, _ := c.Fetch(context.Background(), "k", pol, fetch); string(got) != "old" {
		t.Fatal(string(got))
	}
	within(t, time.Second, "refresh never started", started)
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	within(t, time.Second, "Close did not end the refresh", closed)
	if err := <-refreshErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("refresh ctx err = %v, want Canceled", err)
	}
	// After Close stale values are still served, with no refresh.
	if got, _ := c.Fetch(context.Background(), "k", pol, fetch); string(got) != "old" {
		t.Fatal(string(got))
	}
}

func TestBackgroundRefreshEndsAtItsDeadline(t *testing.T) {
	store := cache.NewMemory(10)
	seed(t, store, "k", "old", 2*time.Minute)
	rec := &logRecorder{}
	c := cache.New(store, slog.New(rec), cache.WithRefreshTimeout(50*time.Millisecond))
	defer c.Close()
	refreshErr := make(chan error, 1)
	_, _ = c.Fetch(context.Background(), "k", pol, func(ctx context.Context) ([]byte, error) {
		<-ctx.Done()
		refreshErr <- ctx.Err()
		return nil, ctx.Err()
	})
	if err := within(t, time.Second, "refresh outlived its deadline", refreshErr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("refresh ctx err = %v", err)
	}
	eventually(t, time.Second, "failed refresh not logged", func() bool {
		return rec.count(slog.LevelWarn, "cache background refresh failed; serving stale") == 1
	})
	if v := get(t, store, "k"); v != "old" {
		t.Fatalf("a failed refresh changed the entry: %q", v)
	}
}

// failingStore fails every operation.
type failingStore struct{}

var errStore = errors.New("store broken")

func (failingStore) Get(context.Context, string) (cache.Entry, bool, error) {
	return cache.Entry{}, false, errStore
}
func (failingStore) Set(context.Context, string, cache.Entry, time.Duration) error { return errStore }
func (failingStore) Delete(context.Context, ...string) error                       { return errStore }
func (failingStore) TryLease(context.Context, string, time.Duration) (bool, error) {
	return false, errStore
}

func TestStoreErrorsAreMisses(t *testing.T) {
	rec := &logRecorder{}
	c := cache.New(failingStore{}, slog.New(rec))
	defer c.Close()
	var n atomic.Int32
	for range 2 {
		got, err := c.Fetch(context.Background(), "k", pol, counter(&n, "v"))
		if err != nil || string(got) != "v" {
			t.Fatalf("Fetch = %q, %v", got, err)
		}
	}
	if n.Load() != 2 {
		t.Fatalf("fetch calls = %d, want 2 (nothing can be cached)", n.Load())
	}
	if rec.countLevel(slog.LevelWarn) < 2 {
		t.Fatal("store errors were not logged")
	}
	if err := c.Invalidate(context.Background(), "k"); !errors.Is(err, errStore) {
		t.Fatalf("Invalidate = %v", err)
	}
}

func TestZeroPolicyCachesNothing(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	var n atomic.Int32
	for range 3 {
		if _, err := c.Fetch(context.Background(), "k", cache.Policy{}, counter(&n, "v")); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 3 || store.Len() != 0 {
		t.Fatalf("calls = %d, stored = %d; want 3, 0", n.Load(), store.Len())
	}
}

func TestFetchJSON(t *testing.T) {
	type credit struct {
		ID     string `json:"id"`
		Amount int64  `json:"amount"`
	}
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	var n atomic.Int32
	fetch := func(context.Context) ([]credit, error) {
		n.Add(1)
		return []credit{{"a", 100}, {"b", 9_007_199_254_740_993}}, nil
	}
	for range 2 {
		got, err := cache.FetchJSON(context.Background(), c, "credits", pol, fetch)
		if err != nil || len(got) != 2 || got[1].Amount != 9_007_199_254_740_993 {
			t.Fatalf("FetchJSON = %+v, %v", got, err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("fetch calls = %d", n.Load())
	}

	// A cached value that no longer decodes is dropped and fetched again.
	seed(t, store, "credits", `{"not":"a list"}`, 0)
	got, err := cache.FetchJSON(context.Background(), c, "credits", pol, fetch)
	if err != nil || len(got) != 2 || n.Load() != 2 {
		t.Fatalf("FetchJSON over junk = %+v, %v after %d calls", got, err, n.Load())
	}

	boom := errors.New("boom")
	if _, err := cache.FetchJSON(context.Background(), c, "other", pol, func(context.Context) (credit, error) {
		return credit{}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := cache.FetchJSON(context.Background(), c, "chan", pol, func(context.Context) (chan int, error) {
		return make(chan int), nil
	}); err == nil {
		t.Fatal("an unencodable value must be an error")
	}
}

func TestObserverSeesHitsStaleAndMisses(t *testing.T) {
	var results []string
	var mu sync.Mutex
	c := cache.New(cache.NewMemory(10), nil, cache.WithObserver(func(r string) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}))
	defer c.Close()
	fetch := func(context.Context) ([]byte, error) { return []byte("v"), nil }
	p := cache.Policy{Fresh: time.Hour, Stale: time.Hour}
	for range 2 {
		if _, err := c.Fetch(t.Context(), "k", p, fetch); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(results, ",") != "miss,hit" {
		t.Fatalf("results %v", results)
	}
}
