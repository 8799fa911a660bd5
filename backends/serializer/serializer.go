// Package serializer runs work one call at a time per key.
//
// SERPI refuses a token that is already in use by another call, so every
// SERPI call with one token must wait for the previous one to finish. A
// Serializer is the primitive that enforces it: at most one fn in flight
// per key, waiters served in arrival order, waiting bounded by the caller's
// context. Local does it inside one process; an implementation backed by a
// shared store (Redis) can do it across gateway replicas behind the same
// interface, which is why the interface is kept to a single method.
package serializer

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrWaitTimeout is returned (wrapped together with the context's error)
// when the context ends before the caller got its turn. fn did not run.
var ErrWaitTimeout = errors.New("serializer: gave up waiting for a turn")

// Serializer runs functions so that at most one is in flight per key.
type Serializer interface {
	// Do waits for key's turn, runs fn with ctx and returns fn's error
	// unchanged. Callers waiting on the same key are served first come,
	// first served. If ctx ends before the turn comes, Do returns an error
	// matching both ErrWaitTimeout and ctx.Err() (errors.Is) without
	// running fn. The turn is released when fn returns or panics. Do is
	// reentrant: called with the context fn received (or one derived from
	// it) and the same key, it runs its fn at once within the turn held
	// (see turn.go), so several calls can share one turn.
	Do(ctx context.Context, key string, fn func(ctx context.Context) error) error
}

// Local is a process-local Serializer: one FIFO queue of waiters per busy
// key. A key is present in the map only while a call holds it, so memory
// is bounded by the number of keys in use, not by the number ever seen.
// The zero value is not usable; call NewLocal.
type Local struct {
	mu     sync.Mutex
	queues map[string]*queue // key -> waiters; presence means "held"
}

// queue holds the callers waiting for one key, oldest first. container/list
// lets a waiter whose context ended leave from the middle in O(1).
type queue struct {
	waiters list.List // of *waiter
}

// waiter is one caller waiting for its turn. turn is closed when the turn
// is handed over; granted (guarded by Local.mu) records the hand-over so a
// waiter whose context ends at the same moment knows it must pass the turn
// on instead of just leaving the queue.
type waiter struct {
	turn    chan struct{}
	granted bool
	elem    *list.Element
}

var _ Serializer = (*Local)(nil)

// NewLocal returns an empty process-local serializer.
func NewLocal() *Local {
	return &Local{queues: make(map[string]*queue)}
}

// Do implements Serializer. A panic in fn releases the turn (the release
// is deferred) and then continues unwinding into the caller.
func (l *Local) Do(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	if holdsTurn(ctx, l, key) {
		return fn(ctx) // a call made within the turn this context holds
	}
	if err := l.acquire(ctx, key); err != nil {
		return err
	}
	defer l.release(key)
	return fn(withTurn(ctx, l, key))
}

// acquire blocks until the caller holds key or ctx ends.
func (l *Local) acquire(ctx context.Context, key string) error {
	// A caller whose context is already over must not run, even when the
	// key is free: the outcome would otherwise depend on timing.
	if err := ctx.Err(); err != nil {
		return waitError(err)
	}
	l.mu.Lock()
	q, busy := l.queues[key]
	if !busy {
		l.queues[key] = &queue{}
		l.mu.Unlock()
		return nil
	}
	w := &waiter{turn: make(chan struct{})}
	w.elem = q.waiters.PushBack(w)
	l.mu.Unlock()

	select {
	case <-w.turn:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// The turn was handed to us just as ctx ended. We hold the key
		// now, so pass it to the next waiter or the queue would stall.
		l.mu.Unlock()
		l.release(key)
	} else {
		q.waiters.Remove(w.elem)
		l.mu.Unlock()
	}
	return waitError(ctx.Err())
}

// release hands key to the oldest waiter, or forgets the key when nobody
// waits (keeping the map as small as the set of busy keys).
func (l *Local) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q, ok := l.queues[key]
	if !ok {
		return // unreachable unless release is called twice; stay safe
	}
	front := q.waiters.Front()
	if front == nil {
		delete(l.queues, key)
		return
	}
	w := q.waiters.Remove(front).(*waiter)
	w.granted = true
	close(w.turn)
}

// busyKeys reports how many keys are held; tests use it to prove that
// idle keys are forgotten.
func (l *Local) busyKeys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queues)
}

// waiting reports how many callers wait on key (tests use it to order
// arrivals deterministically).
func (l *Local) waiting(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if q, ok := l.queues[key]; ok {
		return q.waiters.Len()
	}
	return 0
}

// waitError wraps both the sentinel and the context's reason, so callers
// can test for either with errors.Is.
func waitError(ctxErr error) error {
	return fmt.Errorf("%w: %w", ErrWaitTimeout, ctxErr)
}
