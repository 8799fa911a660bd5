package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Resilient.
const (
	DefaultProbeInterval = 2 * time.Second
	DefaultOpTimeout     = 250 * time.Millisecond
	// maxPendingDeletes bounds the invalidations remembered during an outage.
	maxPendingDeletes = 10_000
	// probeKey is read to probe a primary that is not a Pinger.
	probeKey = "resilient:probe"
)

// Resilient is a Store that uses primary (Redis) and falls back to fallback
// (memory) while primary fails.
//
//   - Every primary operation runs under a short timeout (OpTimeout, default
//     250ms) and is abandoned when it passes even if the client ignores the
//     context, so no call hangs.
//   - The first failure switches to fallback and logs one WARN ("redis
//     unavailable, serving from memory"). While down, reads, writes and
//     leases go to fallback only, and primary is probed (Ping, or a Get) in
//     the background at most every ProbeInterval (default 2s), triggered by
//     traffic or Healthy; callers never wait for a probe.
//   - When a probe succeeds, the invalidations primary missed are replayed
//     to it, fallback is purged (if it has a Purge method) so outage copies
//     are never served later, one INFO ("redis is back") is logged, and
//     primary is used again.
//   - Delete always goes to both; a primary failure there is not returned
//     (the keys are remembered, up to 10,000, and deleted on recovery).
//   - A failure caused by the caller's own context ending, or an
//     ErrCorruptEntry, is returned as is and does not count as an outage.
//
// Safe for concurrent use.
type Resilient struct {
	primary, fallback Store
	log               *slog.Logger
	probeInterval     time.Duration
	opTimeout         time.Duration

	healthy   atomic.Bool
	probing   atomic.Bool
	lastProbe atomic.Int64 // unix nanos of the last probe start (or of going down)

	mu              sync.Mutex
	pending         map[string]struct{} // deletes primary missed
	pendingOverflow bool
}

var _ Store = (*Resilient)(nil)

// ResilientOption configures NewResilient.
type ResilientOption func(*Resilient)

// WithProbeInterval sets how often a primary that is down is probed
// (default 2s).
func WithProbeInterval(d time.Duration) ResilientOption {
	return func(r *Resilient) {
		if d > 0 {
			r.probeInterval = d
		}
	}
}

// WithOpTimeout sets the timeout of each primary operation (default 250ms).
func WithOpTimeout(d time.Duration) ResilientOption {
	return func(r *Resilient) {
		if d > 0 {
			r.opTimeout = d
		}
	}
}

// NewResilient returns a Store over primary with fallback; it starts out
// assuming primary is healthy. A nil logger discards logs.
func NewResilient(primary, fallback Store, logger *slog.Logger, opts ...ResilientOption) *Resilient {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Resilient{
		primary:       primary,
		fallback:      fallback,
		log:           logger,
		probeInterval: DefaultProbeInterval,
		opTimeout:     DefaultOpTimeout,
		pending:       make(map[string]struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	r.healthy.Store(true)
	return r
}

// Healthy reports whether primary is in use. While it is not, calling
// Healthy also triggers a probe when one is due, so a readiness check alone
// is enough to notice recovery.
func (r *Resilient) Healthy() bool {
	return r.primaryUp()
}

// Get implements Store.
func (r *Resilient) Get(ctx context.Context, key string) (Entry, bool, error) {
	if r.primaryUp() {
		var (
			e  Entry
			ok bool
		)
		err := r.callPrimary(ctx, func(ctx context.Context) (err error) {
			e, ok, err = r.primary.Get(ctx, key)
			return err
		})
		if err == nil {
			return e, ok, nil
		}
		if err := r.passThrough(ctx, err); err != nil {
			return Entry{}, false, err
		}
	}
	return r.fallback.Get(ctx, key)
}

// Set implements Store: to primary while it is healthy, else to fallback.
func (r *Resilient) Set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
	if r.primaryUp() {
		err := r.callPrimary(ctx, func(ctx context.Context) error {
			return r.primary.Set(ctx, key, e, ttl)
		})
		if err == nil {
			return nil
		}
		if err := r.passThrough(ctx, err); err != nil {
			return err
		}
	}
	return r.fallback.Set(ctx, key, e, ttl)
}

// TryLease implements Store: on primary while it is healthy (one holder
// across replicas), else on fallback (one holder in this process).
func (r *Resilient) TryLease(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if r.primaryUp() {
		var got bool
		err := r.callPrimary(ctx, func(ctx context.Context) (err error) {
			got, err = r.primary.TryLease(ctx, key, ttl)
			return err
		})
		if err == nil {
			return got, nil
		}
		if err := r.passThrough(ctx, err); err != nil {
			return false, err
		}
	}
	return r.fallback.TryLease(ctx, key, ttl)
}

// Delete implements Store: from both stores. A primary failure is not
// returned; the keys are deleted from primary when it is back.
func (r *Resilient) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	ferr := r.fallback.Delete(ctx, keys...)
	up := r.primaryUp()
	err := r.callPrimary(ctx, func(ctx context.Context) error {
		return r.primary.Delete(ctx, keys...)
	})
	if err != nil {
		r.addPending(keys)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if up {
			r.markDown(err)
		}
	}
	return ferr
}

// passThrough decides what a primary failure means: the caller's own
// context ending or a corrupt entry is returned; anything else marks
// primary down and returns nil (use the fallback).
func (r *Resilient) passThrough(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrCorruptEntry) {
		return err
	}
	r.markDown(err)
	return nil
}

// callPrimary runs op on primary under the op timeout and returns no later
// than the timeout, even if op ignores its context (op then finishes in
// its own goroutine and its result is dropped).
func (r *Resilient) callPrimary(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.opTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Resilient) primaryUp() bool {
	if r.healthy.Load() {
		return true
	}
	r.maybeProbe()
	return false
}

func (r *Resilient) markDown(err error) {
	if r.healthy.CompareAndSwap(true, false) {
		r.lastProbe.Store(time.Now().UnixNano())
		r.log.Warn("redis unavailable, serving from memory", "error", err, "probe_interval", r.probeInterval)
	}
}

func (r *Resilient) maybeProbe() {
	last := r.lastProbe.Load()
	now := time.Now().UnixNano()
	if now-last < int64(r.probeInterval) || r.probing.Load() {
		return
	}
	if !r.lastProbe.CompareAndSwap(last, now) {
		return // another caller claimed this probe slot
	}
	if !r.probing.CompareAndSwap(false, true) {
		return
	}
	go r.probe()
}

func (r *Resilient) probe() {
	defer r.probing.Store(false)
	err := r.callPrimary(context.Background(), func(ctx context.Context) error {
		if p, ok := r.primary.(Pinger); ok {
			return p.Ping(ctx)
		}
		_, _, err := r.primary.Get(ctx, probeKey)
		return err
	})
	if err != nil {
		r.log.Debug("redis still unavailable", "error", err)
		return
	}
	keys, overflow := r.takePending()
	for len(keys) > 0 {
		n := min(len(keys), 500)
		err := r.callPrimary(context.Background(), func(ctx context.Context) error {
			return r.primary.Delete(ctx, keys[:n]...)
		})
		if err != nil {
			r.addPending(keys)
			if overflow {
				r.mu.Lock()
				r.pendingOverflow = true
				r.mu.Unlock()
			}
			r.log.Debug("redis still unavailable", "error", err)
			return
		}
		keys = keys[n:]
	}
	if overflow {
		r.log.Warn("more invalidations than could be remembered happened while redis was unavailable; some cached entries may be stale until they expire", "remembered", maxPendingDeletes)
	}
	if r.healthy.CompareAndSwap(false, true) {
		if p, ok := r.fallback.(interface{ Purge() }); ok {
			p.Purge()
		}
		r.log.Info("redis is back")
	}
}

func (r *Resilient) addPending(keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if len(r.pending) >= maxPendingDeletes {
			r.pendingOverflow = true
			return
		}
		r.pending[k] = struct{}{}
	}
}

func (r *Resilient) takePending() ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.pending))
	for k := range r.pending {
		keys = append(keys, k)
	}
	clear(r.pending)
	overflow := r.pendingOverflow
	r.pendingOverflow = false
	return keys, overflow
}
