package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bus carries invalidation notices between the replicas of the gateway, so
// that a write seen by one replica drops every replica's in-process copy of
// what it changed at once, rather than when each next rechecks the shared
// cache.
//
// A subscriber's handler receives every key published after its
// subscription is confirmed, its own replica's included. The empty key
// means "notices may have been lost" (the subscription was interrupted):
// the handler must then drop everything it holds.
type Bus interface {
	// Publish notifies every subscriber of key. Implementations may wait
	// for the subscribers to have handled it (see RedisBus).
	Publish(ctx context.Context, key string) error
	// Subscribe calls fn for each key published, from one goroutine, until
	// ctx is done or the bus is closed. It returns once the subscription
	// is confirmed, or with an error (see the implementations for what
	// then happens to the subscription).
	Subscribe(ctx context.Context, fn func(key string)) error
	// Close ends every subscription and waits for their goroutines.
	Close() error
}

// ErrBusClosed is returned by a closed bus.
var ErrBusClosed = errors.New("cache: bus closed")

// LocalBus is a Bus within one process: Publish calls every handler
// before it returns. It serves a single replica (no REDIS_URL) and tests.
type LocalBus struct {
	mu     sync.Mutex
	next   int
	subs   map[int]func(string)
	closed bool
}

// NewLocalBus returns an empty in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{subs: map[int]func(string){}} }

// Publish implements Bus: every handler has run when it returns.
func (b *LocalBus) Publish(_ context.Context, key string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBusClosed
	}
	fns := make([]func(string), 0, len(b.subs))
	for _, fn := range b.subs {
		fns = append(fns, fn)
	}
	b.mu.Unlock()
	// Handlers run without the lock, so one may publish or subscribe.
	for _, fn := range fns {
		fn(key)
	}
	return nil
}

// Subscribe implements Bus. The subscription ends when ctx is done.
func (b *LocalBus) Subscribe(ctx context.Context, fn func(string)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusClosed
	}
	id := b.next
	b.next++
	b.subs[id] = fn
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	})
	return nil
}

// Close implements Bus.
func (b *LocalBus) Close() error {
	b.mu.Lock()
	b.closed = true
	clear(b.subs)
	b.mu.Unlock()
	return nil
}

// RedisBusOptions configures NewRedisBus.
type RedisBusOptions struct {
	// Prefix starts the channel names: notices go to Prefix+"invalidate",
	// acknowledgements to Prefix+"invalidate:ack".
	Prefix string
	// AckTimeout bounds how long Publish waits for the subscribers'
	// acknowledgements (default 1s).
	AckTimeout time.Duration
	// ConfirmTimeout bounds how long Subscribe waits for Redis to confirm
	// the subscription (default 3s).
	ConfirmTimeout time.Duration
	// HealthInterval is how long a quiet subscription waits before it
	// pings Redis to detect a dead connection (default 15s).
	HealthInterval time.Duration
	// Logger receives subscription trouble; discarded when nil.
	Logger *slog.Logger
}

// RedisBus is a Bus over Redis pub/sub: one subscription (one dedicated
// connection) per replica, shared by the notices and their
// acknowledgements.
//
// Publish waits until every subscriber Redis delivered the notice to has
// handled it and acknowledged (or AckTimeout passes), so when a write's
// response reaches its client every live replica has already dropped its
// copy. Pub/sub is at-most-once: a subscriber that was disconnected calls
// its handler with "" when it is subscribed again, to drop everything.
// Under Redis Cluster, PUBLISH counts only the subscribers of the node
// that received it, so the wait is best effort there.
type RedisBus struct {
	client redis.UniversalClient
	opts   RedisBusOptions
	notice string // channel of notices
	ack    string // channel of acknowledgements

	base   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	subscribed bool                  // Subscribe was called and its loop runs
	live       bool                  // the subscription is confirmed and connected
	waiters    map[string]*ackWaiter // notice id -> its publisher
}

// ackWaiter counts the acknowledgements of one notice.
type ackWaiter struct {
	got    int
	notify chan struct{} // capacity 1: "got changed"
}

var _ Bus = (*RedisBus)(nil)
var _ Bus = (*LocalBus)(nil)

// NewRedisBus returns a bus on client.
func NewRedisBus(client redis.UniversalClient, opts RedisBusOptions) *RedisBus {
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = time.Second
	}
	if opts.ConfirmTimeout <= 0 {
		opts.ConfirmTimeout = 3 * time.Second
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &RedisBus{
		client:  client,
		opts:    opts,
		notice:  opts.Prefix + "invalidate",
		ack:     opts.Prefix + "invalidate:ack",
		base:    base,
		cancel:  cancel,
		waiters: map[string]*ackWaiter{},
	}
}

// Publish implements Bus. It sends "<id> <key>" on the notice channel and
// waits for as many acknowledgements of id as Redis delivered the notice
// to, or AckTimeout. Acknowledgements arrive through this bus's own
// subscription: while it is not connected Publish does not wait. Not receiving every
// acknowledgement in time is an error (the notice was still sent).
func (b *RedisBus) Publish(ctx context.Context, key string) error {
	if b.base.Err() != nil {
		return ErrBusClosed
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	w := &ackWaiter{notify: make(chan struct{}, 1)}
	b.mu.Lock()
	wait := b.live
	if wait {
		b.waiters[id] = w
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, id)
		b.mu.Unlock()
	}()

	n, err := b.client.Publish(ctx, b.notice, id+" "+key).Result()
	if err != nil {
		return fmt.Errorf("cache: publish invalidation: %w", err)
	}
	if !wait || n == 0 {
		return nil
	}
	timer := time.NewTimer(b.opts.AckTimeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		got := w.got
		b.mu.Unlock()
		if int64(got) >= n {
			return nil
		}
		select {
		case <-w.notify:
		case <-timer.C:
			return fmt.Errorf("cache: %d of %d subscribers acknowledged the invalidation within %v", got, n, b.opts.AckTimeout)
		case <-ctx.Done():
			return fmt.Errorf("cache: waiting for invalidation acknowledgements: %w", ctx.Err())
		case <-b.base.Done():
			return ErrBusClosed
		}
	}
}

// Subscribe implements Bus. A RedisBus has at most one subscription. It
// returns once Redis has confirmed the subscription; if that does not
// happen within ConfirmTimeout it returns an error, but the subscription
// keeps trying in the background and, once confirmed, calls fn("") (notices
// published meanwhile were missed). The subscription ends when ctx is done
// or the bus is closed.
func (b *RedisBus) Subscribe(ctx context.Context, fn func(string)) error {
	b.mu.Lock()
	switch {
	case b.base.Err() != nil:
		b.mu.Unlock()
		return ErrBusClosed
	case b.subscribed:
		b.mu.Unlock()
		return errors.New("cache: a RedisBus takes one subscription")
	}
	b.subscribed = true
	b.wg.Add(1)
	b.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.base, cancel)
	ps := b.client.Subscribe(ctx, b.notice, b.ack)
	// Receive does not watch ctx: closing the PubSub is what unblocks it.
	closeOnDone := context.AfterFunc(ctx, func() { _ = ps.Close() })
	confirmed := make(chan struct{})
	go func() {
		defer b.wg.Done()
		defer func() {
			closeOnDone()
			stop()
			cancel()
			_ = ps.Close()
			b.mu.Lock()
			b.subscribed, b.live = false, false
			b.mu.Unlock()
		}()
		b.receive(ctx, ps, fn, confirmed)
	}()

	timer := time.NewTimer(b.opts.ConfirmTimeout)
	defer timer.Stop()
	select {
	case <-confirmed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cache: bus subscription: %w", ctx.Err())
	case <-timer.C:
		return fmt.Errorf("cache: Redis did not confirm the invalidation subscription within %v; it keeps retrying", b.opts.ConfirmTimeout)
	}
}

// receive is the subscription's loop.
func (b *RedisBus) receive(ctx context.Context, ps *redis.PubSub, fn func(string), confirmed chan struct{}) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	ready := false // confirmed once
	lost := false  // the connection failed since the last confirmation
	pending := map[string]bool{b.notice: true, b.ack: true}
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.opts.HealthInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet for a while: a ping proves the connection alive
				// (its pong is the next message) or breaks it.
				if perr := ps.Ping(ctx); perr != nil {
					b.lostConnection(&lost, fn, perr)
				}
				continue
			}
			b.lostConnection(&lost, fn, err)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			delete(pending, m.Channel)
			if len(pending) > 0 {
				continue
			}
			pending = map[string]bool{b.notice: true, b.ack: true}
			b.setLive(true)
			if !ready {
				ready = true
				close(confirmed)
				if lost {
					fn("") // confirmed late: notices may have been missed
				}
			} else {
				// Subscribed again after a reconnect: notices sent while
				// disconnected were lost.
				b.opts.Logger.Info("invalidation bus: subscribed again after a Redis interruption")
				fn("")
			}
			lost = false
		case *redis.Message:
			b.handle(ctx, m, fn)
		}
	}
}

// lostConnection notes a broken subscription once per interruption and
// drops everything at once: notices may be missed until it is back.
func (b *RedisBus) lostConnection(lost *bool, fn func(string), err error) {
	if *lost {
		return
	}
	*lost = true
	b.setLive(false)
	b.opts.Logger.Warn("invalidation bus: subscription interrupted; resubscribing", "error", err)
	fn("")
}

func (b *RedisBus) setLive(live bool) {
	b.mu.Lock()
	b.live = live
	b.mu.Unlock()
}

// handle dispatches one message: a notice is handled, then acknowledged;
// an acknowledgement is counted for its publisher, if it is waiting here.
func (b *RedisBus) handle(ctx context.Context, m *redis.Message, fn func(string)) {
	switch m.Channel {
	case b.notice:
		id, key, ok := strings.Cut(m.Payload, " ")
		if !ok {
			return
		}
		fn(key)
		if err := b.client.Publish(ctx, b.ack, id).Err(); err != nil && ctx.Err() == nil {
			b.opts.Logger.Warn("invalidation bus: acknowledgement failed", "error", err)
		}
	case b.ack:
		b.mu.Lock()
		if w := b.waiters[m.Payload]; w != nil {
			w.got++
			select {
			case w.notify <- struct{}{}:
			default:
			}
		}
		b.mu.Unlock()
	}
}

// Close implements Bus: it ends the subscription and waits for its
// goroutine. It does not close the Redis client.
func (b *RedisBus) Close() error {
	b.cancel()
	b.wg.Wait()
	return nil
}

// sleepCtx waits d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
