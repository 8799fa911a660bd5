package serializer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestAtMostOneInFlightPerKey(t *testing.T) {
	l := NewLocal()
	const callers = 64
	var inFlight, maxSeen, ran atomic.Int32
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			err := l.Do(context.Background(), "token-a", func(context.Context) error {
				n := inFlight.Add(1)
				for {
					m := maxSeen.Load()
					if n <= m || maxSeen.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				inFlight.Add(-1)
				ran.Add(1)
				return nil
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
		})
	}
	wg.Wait()
	if got := maxSeen.Load(); got != 1 {
		t.Fatalf("max concurrent calls for one key = %d, want 1", got)
	}
	if got := ran.Load(); got != callers {
		t.Fatalf("ran %d calls, want %d", got, callers)
	}
	if n := l.busyKeys(); n != 0 {
		t.Fatalf("%d keys still tracked after all calls ended", n)
	}
}

func TestDifferentKeysRunInParallel(t *testing.T) {
	l := NewLocal()
	// Each fn waits for the other to have started: this only completes
	// if both keys are in flight at the same time.
	started := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	other := map[string]string{"a": "b", "b": "a"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, key := range []string{"a", "b"} {
		wg.Go(func() {
			err := l.Do(ctx, key, func(ctx context.Context) error {
				close(started[key])
				select {
				case <-started[other[key]]:
					return nil
				case <-ctx.Done():
					return fmt.Errorf("key %s never saw key %s run: %w", key, other[key], ctx.Err())
				}
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestFIFOOrder(t *testing.T) {
	l := NewLocal()
	const key = "k"
	release := make(chan struct{})
	holding := make(chan struct{})
	go func() {
		_ = l.Do(context.Background(), key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	const waiters = 10
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() {
			_ = l.Do(context.Background(), key, func(context.Context) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return nil
			})
		})
		// Start the next waiter only once this one is queued, so arrival
		// order is known.
		testutil.WaitUntil(t, fmt.Sprintf("waiter %d queued", i), func() bool { return l.waiting(key) == i+1 })
	}
	close(release)
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want 0..%d", order, waiters-1)
		}
	}
	if len(order) != waiters {
		t.Fatalf("served %d waiters, want %d", len(order), waiters)
	}
}

func TestWaitTimeout(t *testing.T) {
	l := NewLocal()
	const key = "k"
	release := make(chan struct{})
	holding := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- l.Do(context.Background(), key, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	ran := false
	err := l.Do(ctx, key, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want ErrWaitTimeout wrapping context.DeadlineExceeded", err)
	}
	if ran {
		t.Fatal("fn ran although its wait timed out")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("Do returned after %v, want about 20ms", waited)
	}
	if n := l.waiting(key); n != 0 {
		t.Fatalf("timed-out waiter still queued (%d waiting)", n)
	}

	// Later callers are not affected by the one that gave up.
	later := make(chan error)
	go func() {
		later <- l.Do(context.Background(), key, func(context.Context) error { return nil })
	}()
	testutil.WaitUntil(t, "later caller queued", func() bool { return l.waiting(key) == 1 })
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-later; err != nil {
		t.Fatalf("later caller: %v", err)
	}
	if n := l.busyKeys(); n != 0 {
		t.Fatalf("%d keys still tracked", n)
	}
}

func TestCancelledContextDoesNotRun(t *testing.T) {
	l := NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.Do(ctx, "free-key", func(context.Context) error {
		t.Error("fn ran with a cancelled context")
		return nil
	})
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want ErrWaitTimeout wrapping context.Canceled", err)
	}
}

func TestReturnsFnErrorUnchanged(t *testing.T) {
	l := NewLocal()
	sentinel := errors.New("upstream said no")
	if err := l.Do(context.Background(), "k", func(context.Context) error { return sentinel }); err != sentinel {
		t.Fatalf("Do = %v, want the fn's own error value", err)
	}
}

func TestPanicReleasesTurn(t *testing.T) {
	l := NewLocal()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the fn's panic to reach the caller", r)
			}
		}()
		_ = l.Do(context.Background(), "k", func(context.Context) error { panic("boom") })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.Do(ctx, "k", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("key stayed held after a panic: %v", err)
	}
	if n := l.busyKeys(); n != 0 {
		t.Fatalf("%d keys still tracked", n)
	}
}

// TestStressTimeoutsAndHandOver mixes callers that give up with callers
// that wait, to exercise the race between a hand-over and a context
// ending. It must neither deadlock nor break mutual exclusion.
func TestStressTimeoutsAndHandOver(t *testing.T) {
	l := NewLocal()
	keys := []string{"a", "b", "c"}
	var inFlight [3]atomic.Int32
	var violations, completed atomic.Int32
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			k := r.IntN(len(keys))
			timeout := time.Duration(r.IntN(3000)) * time.Microsecond
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := l.Do(ctx, keys[k], func(context.Context) error {
				if inFlight[k].Add(1) != 1 {
					violations.Add(1)
				}
				time.Sleep(50 * time.Microsecond)
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
	if n := l.busyKeys(); n != 0 {
		t.Fatalf("%d keys still tracked after the storm", n)
	}
	// The keys must still work afterwards.
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := l.Do(ctx, k, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("key %s unusable after the storm: %v", k, err)
		}
		cancel()
	}
	t.Logf("%d of 300 calls completed, the rest gave up", completed.Load())
}

func TestIdleKeysAreForgotten(t *testing.T) {
	l := NewLocal()
	for i := range 1000 {
		if err := l.Do(context.Background(), fmt.Sprintf("key-%d", i), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.busyKeys(); n != 0 {
		t.Fatalf("%d idle keys kept in memory", n)
	}
}
