package serializer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/internal/redistest"
)

const testRedisDB = 12

// redisOptions returns go-redis options for this test binary's own Redis
// (see redistest), on testRedisDB.
func redisOptions(t testing.TB) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(redistest.URL(t, testRedisDB))
	if err != nil {
		t.Fatalf("redistest URL: %v", err)
	}
	opt.DB = testRedisDB
	return opt
}

// rawRedis returns a client on an empty test database, skipping the test
// when no Redis answers (failing it instead when CI=true).
func rawRedis(t testing.TB) *redis.Client {
	t.Helper()
	redistest.Client(t, testRedisDB) // skips or fails when there is no Redis
	c := redis.NewClient(redisOptions(t))
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flushdb: %v", err)
	}
	return c
}

// replica is a Redis serializer with its own client, standing for one
// gateway replica.
func replica(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	c := redis.NewClient(redisOptions(t))
	t.Cleanup(func() { _ = c.Close() })
	return NewRedis(c, opts)
}

// maxTracker records the highest number of fns in flight at once.
type maxTracker struct{ in, max atomic.Int32 }

func (m *maxTracker) enter() {
	n := m.in.Add(1)
	for {
		old := m.max.Load()
		if n <= old || m.max.CompareAndSwap(old, n) {
			return
		}
	}
}

func (m *maxTracker) leave() { m.in.Add(-1) }

// assertNoRedisState checks that key left nothing behind in Redis.
func assertNoRedisState(t *testing.T, raw *redis.Client, s *Redis, key string) {
	t.Helper()
	ks := s.keys(key)
	n, err := raw.Exists(context.Background(), ks.list()...).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d of %v still exist", n, ks.list())
	}
}

func TestRedisOneInFlightAcrossReplicas(t *testing.T) {
	raw := rawRedis(t)
	reps := []*Redis{replica(t, RedisOptions{}), replica(t, RedisOptions{}), replica(t, RedisOptions{})}
	const callers = 60
	var track maxTracker
	var ran atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			err := reps[i%len(reps)].Do(ctx, "serpi:token-a", func(context.Context) error {
				track.enter()
				time.Sleep(2 * time.Millisecond)
				track.leave()
				ran.Add(1)
				return nil
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
		})
	}
	wg.Wait()
	if got := track.max.Load(); got != 1 {
		t.Fatalf("max concurrent calls across replicas = %d, want 1", got)
	}
	if got := ran.Load(); got != callers {
		t.Fatalf("ran %d calls, want %d", got, callers)
	}
	assertNoRedisState(t, raw, reps[0], "serpi:token-a")
}

func TestRedisFIFOAcrossReplicas(t *testing.T) {
	raw := rawRedis(t)
	opts := RedisOptions{Poll: 5 * time.Millisecond}
	holder, a, b := replica(t, opts), replica(t, opts), replica(t, opts)
	const key = "serpi:fifo"
	holding, release := make(chan struct{}), make(chan struct{})
	holderDone := make(chan error)
	go func() {
		holderDone <- holder.Do(context.Background(), key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	// waiting counts callers queued for key: in Redis (one per replica)
	// plus those queued locally behind their replica's Redis waiter.
	waiting := func() int {
		n, err := raw.ZCard(context.Background(), holder.keys(key).queue).Result()
		if err != nil {
			t.Fatal(err)
		}
		return int(n) + a.local.waiting(key) + b.local.waiting(key)
	}
	const waiters = 6
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range waiters {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			err := s.Do(context.Background(), key, func(context.Context) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				return nil
			})
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
		})
		testutil.WaitUntil(t, fmt.Sprintf("waiter %d queued", i), func() bool { return waiting() == i+1 })
		time.Sleep(3 * time.Millisecond) // stagger arrivals
	}
	close(release)
	if err := <-holderDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := []int{0, 1, 2, 3, 4, 5}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("served in order %v, want %v", order, want)
	}
	assertNoRedisState(t, raw, a, key)
}

func TestRedisDifferentKeysRunInParallel(t *testing.T) {
	rawRedis(t)
	reps := map[string]*Redis{"a": replica(t, RedisOptions{}), "b": replica(t, RedisOptions{})}
	started := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	other := map[string]string{"a": "b", "b": "a"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, key := range []string{"a", "b"} {
		wg.Go(func() {
			// Each fn waits for the other key's fn to start: this only
			// completes if both are in flight at once.
			err := reps[key].Do(ctx, "serpi:"+key, func(ctx context.Context) error {
				close(started[key])
				select {
				case <-started[other[key]]:
					return nil
				case <-ctx.Done():
					return fmt.Errorf("key %s never overlapped with key %s: %w", key, other[key], ctx.Err())
				}
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestRedisWaitTimeoutLeavesNoWaiter(t *testing.T) {
	raw := rawRedis(t)
	opts := RedisOptions{Poll: 5 * time.Millisecond}
	holder, waiter := replica(t, opts), replica(t, opts)
	const key = "serpi:timeout"
	holding, release := make(chan struct{}), make(chan struct{})
	holderDone := make(chan error)
	go func() {
		holderDone <- holder.Do(context.Background(), key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	start := time.Now()
	ran := false
	err := waiter.Do(ctx, key, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want ErrWaitTimeout wrapping context.DeadlineExceeded", err)
	}
	if errors.Is(err, ErrStore) {
		t.Fatalf("Do = %v, must not match ErrStore", err)
	}
	if ran {
		t.Fatal("fn ran although its wait timed out")
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("Do returned after %v, want about 80ms", waited)
	}
	keys := waiter.keys(key)
	for _, z := range []string{keys.queue, keys.alive} {
		if n := raw.ZCard(context.Background(), z).Val(); n != 0 {
			t.Fatalf("ZCARD %s = %d after the waiter gave up, want 0", z, n)
		}
	}

	// A later caller is not held up by the one that gave up.
	later := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		later <- waiter.Do(ctx, key, func(context.Context) error { return nil })
	}()
	testutil.WaitUntil(t, "later caller queued", func() bool { return raw.ZCard(context.Background(), keys.queue).Val() == 1 })
	close(release)
	if err := <-holderDone; err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatalf("later caller: %v", err)
	}
	assertNoRedisState(t, raw, waiter, key)
}

func TestRedisCrashedHolderLeaseExpires(t *testing.T) {
	raw := rawRedis(t)
	s := replica(t, RedisOptions{Poll: 5 * time.Millisecond})
	const key = "serpi:crashed-holder"
	// A replica that took the lock and died: nobody renews or releases it.
	if err := raw.Set(context.Background(), s.keys(key).lock, "dead-replica", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Do after the dead holder's lease: %v", err)
	}
	waited := time.Since(start)
	if waited < 200*time.Millisecond || waited > time.Second {
		t.Fatalf("got the turn after %v, want soon after the 300ms lease", waited)
	}
	assertNoRedisState(t, raw, s, key)
}

func TestRedisCrashedReplicaLosesLock(t *testing.T) {
	raw := rawRedis(t)
	crashed := replica(t, RedisOptions{Lease: 300 * time.Millisecond})
	other := replica(t, RedisOptions{Poll: 5 * time.Millisecond})
	const key = "serpi:crashed-replica"
	// The crashed replica's fn never returns and its renewals stop: play
	// it by closing its client while fn blocks.
	holding, unblock := make(chan struct{}), make(chan struct{})
	crashedDone := make(chan struct{})
	go func() {
		defer close(crashedDone)
		_ = crashed.Do(context.Background(), key, func(ctx context.Context) error {
			close(holding)
			<-unblock
			return nil
		})
	}()
	<-holding
	if err := crashed.client.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := other.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("other replica: %v", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("other replica got the turn after %v, want within ~300ms lease", waited)
	}
	close(unblock)
	<-crashedDone
	assertNoRedisState(t, raw, other, key)
}

func TestRedisCrashedWaiterIsDropped(t *testing.T) {
	raw := rawRedis(t)
	s := replica(t, RedisOptions{Poll: 5 * time.Millisecond})
	const key = "serpi:crashed-waiter"
	keys := s.keys(key)
	// Two waiters of a dead replica ahead in the queue: one without a
	// liveness entry, one whose deadline (server time, ms) has passed.
	bg := context.Background()
	now, err := raw.Time(bg).Result()
	if err != nil {
		t.Fatal(err)
	}
	raw.ZAdd(bg, keys.queue, redis.Z{Score: 1, Member: "ghost-1"}, redis.Z{Score: 2, Member: "ghost-2"})
	raw.ZAdd(bg, keys.alive, redis.Z{Score: float64(now.UnixMilli() - 10), Member: "ghost-2"})
	ctx, cancel := context.WithTimeout(bg, time.Second)
	defer cancel()
	if err := s.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Do behind dead waiters: %v", err)
	}
	assertNoRedisState(t, raw, s, key)
}

func TestRedisLeaseRenewalKeepsExclusivity(t *testing.T) {
	raw := rawRedis(t)
	const lease = 150 * time.Millisecond
	opts := RedisOptions{Lease: lease, Poll: 5 * time.Millisecond}
	holder, other := replica(t, opts), replica(t, opts)
	const key = "serpi:renewal"
	var track maxTracker
	entered := make(chan struct{})
	holderDone := make(chan error)
	go func() {
		holderDone <- holder.Do(context.Background(), key, func(ctx context.Context) error {
			track.enter()
			defer track.leave()
			close(entered)
			time.Sleep(3*lease + 100*time.Millisecond)
			return context.Cause(ctx) // nil unless the lease was lost
		})
	}()
	<-entered
	// While the holder runs for 3+ leases, the other replica cannot enter.
	ctx, cancel := context.WithTimeout(context.Background(), 3*lease)
	defer cancel()
	err := other.Do(ctx, key, func(context.Context) error {
		track.enter()
		track.leave()
		return nil
	})
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("other replica during the holder's call: %v, want ErrWaitTimeout", err)
	}
	if err := <-holderDone; err != nil {
		t.Fatalf("holder's fn context ended: %v", err)
	}
	if got := track.max.Load(); got != 1 {
		t.Fatalf("max concurrency %d, want 1", got)
	}
	// And afterwards the other replica proceeds.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := other.Do(ctx2, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("other replica after the holder: %v", err)
	}
	assertNoRedisState(t, raw, other, key)
}

func TestRedisLeaseLostCancelsFn(t *testing.T) {
	raw := rawRedis(t)
	s := replica(t, RedisOptions{Lease: 300 * time.Millisecond})
	const key = "serpi:lease-lost"
	start := time.Now()
	err := s.Do(context.Background(), key, func(ctx context.Context) error {
		// Someone else now owns the lock (e.g. our lease expired during a
		// long pause and another replica took it).
		if err := raw.Set(context.Background(), s.keys(key).lock, "intruder", time.Minute).Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(2 * time.Second):
			return errors.New("fn's context was not cancelled")
		}
	})
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fn saw %v, want ErrLeaseLost", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("lease loss noticed after %v, want within one renewal (100ms)", took)
	}
	// The release must not delete the intruder's lock.
	if v := raw.Get(context.Background(), s.keys(key).lock).Val(); v != "intruder" {
		t.Fatalf("lock = %q after release, want the intruder's token kept", v)
	}
}

func TestRedisPanicReleasesLock(t *testing.T) {
	raw := rawRedis(t)
	a, b := replica(t, RedisOptions{}), replica(t, RedisOptions{})
	const key = "serpi:panic"
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the fn's panic to reach the caller", r)
			}
		}()
		_ = a.Do(context.Background(), key, func(context.Context) error { panic("boom") })
	}()
	assertNoRedisState(t, raw, a, key)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Do(ctx, key, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("lock stayed held after a panic: %v", err)
	}
	if n := a.local.busyKeys(); n != 0 {
		t.Fatalf("%d keys still held locally", n)
	}
}

func TestRedisStoreFailureWhileWaiting(t *testing.T) {
	raw := rawRedis(t)
	holder := replica(t, RedisOptions{})
	proxy := redistest.NewCuttable(t, raw.Options().Addr)
	opt := redisOptions(t)
	opt.Addr = proxy.Addr()
	opt.MaxRetries = -1
	opt.DialTimeout = 200 * time.Millisecond
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	waiter := NewRedis(c, RedisOptions{Poll: 5 * time.Millisecond})
	const key = "serpi:outage"

	holding, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go func() {
		_ = holder.Do(context.Background(), key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	done := make(chan error)
	ran := false
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- waiter.Do(ctx, key, func(context.Context) error { ran = true; return nil })
	}()
	testutil.WaitUntil(t, "waiter queued", func() bool { return raw.ZCard(context.Background(), holder.keys(key).queue).Val() == 1 })
	proxy.Cut()
	select {
	case err := <-done:
		if !errors.Is(err, ErrStore) || errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("Do during an outage = %v, want ErrStore and not ErrWaitTimeout", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Do hung during a Redis outage")
	}
	if ran {
		t.Fatal("fn ran without the lock")
	}
}

func TestRedisUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	s := NewRedis(c, RedisOptions{})
	err := s.Do(context.Background(), "k", func(context.Context) error {
		t.Error("fn ran without Redis")
		return nil
	})
	if !errors.Is(err, ErrStore) || errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("Do = %v, want ErrStore and not ErrWaitTimeout", err)
	}
}

func TestRedisCancelledContextDoesNotRun(t *testing.T) {
	rawRedis(t)
	s := replica(t, RedisOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Do(ctx, "free-key", func(context.Context) error {
		t.Error("fn ran with a cancelled context")
		return nil
	})
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want ErrWaitTimeout wrapping context.Canceled", err)
	}
}

func TestRedisReturnsFnErrorUnchanged(t *testing.T) {
	raw := rawRedis(t)
	s := replica(t, RedisOptions{})
	sentinel := errors.New("upstream said no")
	if err := s.Do(context.Background(), "k", func(context.Context) error { return sentinel }); err != sentinel {
		t.Fatalf("Do = %v, want the fn's own error value", err)
	}
	assertNoRedisState(t, raw, s, "k")
}

// hashTag is the part of a Redis key that Cluster hashes.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestRedisKeysShareOneClusterSlot(t *testing.T) {
	s := NewRedis(nil, RedisOptions{})
	for _, key := range []string{"serpi:0123abcd", "", "a{b}c", "}x{", "{}", "plain"} {
		ks := s.keys(key)
		tag := hashTag(ks.lock)
		if tag == ks.lock || tag == "" {
			t.Fatalf("key %q: %q has no hash tag", key, ks.lock)
		}
		for _, k := range ks.list() {
			if !strings.HasPrefix(k, DefaultRedisPrefix) || hashTag(k) != tag {
				t.Fatalf("key %q: %v do not share hash tag %q under the prefix", key, ks.list(), tag)
			}
		}
		if key != "" && !strings.ContainsAny(key, "{}") && tag != key {
			t.Fatalf("key %q stored under tag %q, want the key as given", key, tag)
		}
	}
	if a, b := s.keys("a{b}c"), s.keys("a{b}d"); hashTag(a.lock) == hashTag(b.lock) {
		t.Fatal("two keys with braces collapsed onto one tag")
	}
}

// TestRedisStressTimeoutsAcrossReplicas mixes callers that give up with
// callers that wait, on three replicas and three keys: no overlap, no
// deadlock, nothing left in Redis, keys usable afterwards.
func TestRedisStressTimeoutsAcrossReplicas(t *testing.T) {
	raw := rawRedis(t)
	opts := RedisOptions{Poll: 2 * time.Millisecond}
	reps := []*Redis{replica(t, opts), replica(t, opts), replica(t, opts)}
	keys := []string{"serpi:s0", "serpi:s1", "serpi:s2"}
	var inFlight [3]atomic.Int32
	var violations, completed atomic.Int32
	var wg sync.WaitGroup
	for i := range 150 {
		wg.Go(func() {
			k := i % len(keys)
			timeout := time.Duration(i*7%40) * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := reps[i/len(keys)%len(reps)].Do(ctx, keys[k], func(context.Context) error {
				if inFlight[k].Add(1) != 1 {
					violations.Add(1)
				}
				time.Sleep(500 * time.Microsecond)
				inFlight[k].Add(-1)
				return nil
			})
			if err == nil {
				completed.Add(1)
			} else if !errors.Is(err, ErrWaitTimeout) {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d calls overlapped on one key", v)
	}
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := reps[0].Do(ctx, k, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("key %s unusable after the storm: %v", k, err)
		}
		cancel()
		assertNoRedisState(t, raw, reps[0], k)
	}
	t.Logf("%d of 150 calls completed, the rest gave up", completed.Load())
}
