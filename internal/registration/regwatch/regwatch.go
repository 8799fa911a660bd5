// Package regwatch follows registrations until Brilla decides them and
// pushes every change to every watcher, in this process and, through
// Redis, on every replica.
//
// For one tracking code, every replica with a watcher runs one topic loop.
// Exactly one loop across all replicas holds the code's poller lease (SET
// NX PX in Redis, renewed while it polls) and polls Brilla: every
// FastPoll while the registration is young (FastWindow from its receipt),
// then with backoff, at most PollBudget times per code across replicas;
// each change it sees is stored in a shared state key (the latest
// Registration, kept for StateTTL) and published on one Redis channel.
// Every replica holds a single pub/sub subscription to that channel and
// fans its messages out to its local watchers. Pub/sub is at-most-once, so
// a loop without the lease re-reads the state key every Lease/2 (and at
// once when the pub/sub connection comes back or a lease is released) and
// tries to take the lease: a crashed replica's lease expires and another
// replica's loop carries on polling.
//
// A watcher registers with its topic before it reads the current state, so
// no change can fall between the read and the subscription; the topic
// keeps the latest state and only moves forward (never from a final state
// back to PENDING), and each watcher is sent the latest state it has not
// seen yet, so a slow watcher skips intermediate states but never misses
// the final one.
//
// Without Redis the same hub runs over an in-process state and each topic
// loop is its own poller. When Redis fails, loops poll from their own
// replica until it is back.
package regwatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
)

// Defaults of Options.
const (
	DefaultPollMin = time.Second
	DefaultPollMax = 30 * time.Second
	// DefaultFastPoll and DefaultFastWindow: a registration younger than a
	// minute is polled every second, so a quick decision reaches watchers
	// within about a second.
	DefaultFastPoll   = time.Second
	DefaultFastWindow = time.Minute
	// DefaultPollBudget bounds the polls of one tracking code within
	// StateTTL, across replicas: the first minute's 60, the backoff's
	// steps, then about 85 minutes at PollMax.
	DefaultPollBudget = 240
	DefaultLease      = 15 * time.Second
	DefaultStateTTL   = 24 * time.Hour
	DefaultPrefix     = "gw:reg:"
	// readyWait bounds how long a watcher waits for the replica's pub/sub
	// subscription before reading the state (the periodic re-read covers
	// anything missed meanwhile).
	readyWait = 2 * time.Second
	// releaseTimeout bounds releasing a lease on the way out.
	releaseTimeout = time.Second
)

// Fetcher reads a registration's current state from Brilla. A registration
// Brilla does not know is an error (an *upstream.Error of kind NotFound).
type Fetcher func(ctx context.Context, trackingCode string) (*model.Registration, error)

// Options configures a Hub.
type Options struct {
	// Fetch reads Brilla. Required.
	Fetch Fetcher
	// Redis shares state, leases and events between replicas; nil keeps
	// everything in the process.
	Redis redis.UniversalClient
	// Prefix starts every Redis key and the channel; DefaultPrefix when
	// empty.
	Prefix string
	// FastPoll is the wait between polls while the registration is
	// younger than FastWindow: its age counts from when Brilla received it
	// (the updatedAt of a pending state) or, when that is unknown or
	// later, from when this replica's loop started. Defaults:
	// DefaultFastPoll (never slower than PollMin) and DefaultFastWindow;
	// a negative FastWindow turns fast polling off.
	FastPoll, FastWindow time.Duration
	// PollMin and PollMax bound the poller's backoff once the registration
	// is no longer young: the first poll comes PollMin after the last,
	// each next one waits twice as long, up to PollMax.
	PollMin, PollMax time.Duration
	// PollBudget caps the polls of one tracking code within StateTTL,
	// counted across replicas (DefaultPollBudget when zero). A loop that
	// finds it spent stops polling; its watchers keep their subscription
	// and still get any state read by Current (the registration query) on
	// any replica.
	PollBudget int64
	// Lease is how long a poller lease outlives a replica that stops
	// renewing it (renewed every Lease/3); watchers without the lease
	// re-read the shared state every Lease/2. DefaultLease when zero.
	Lease time.Duration
	// StateTTL is how long the latest state of a code is kept.
	StateTTL time.Duration
	// Logger receives warnings (Redis failures, failed polls); discarded
	// when nil.
	Logger *slog.Logger
}

// codePattern is what a tracking code may look like: it becomes part of
// Redis keys and of a Brilla path.
var codePattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// Final reports whether a state is the last one a registration takes.
func Final(r *model.Registration) bool {
	return r != nil && (r.State == model.RegistrationStateApproved || r.State == model.RegistrationStateRejected)
}

// Hub watches registrations. It is safe for concurrent use.
type Hub struct {
	opts Options
	st   backend
	log  *slog.Logger
	id   string
	seq  atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ready     chan struct{}
	readyOnce sync.Once
	redisDown atomic.Bool

	mu     sync.Mutex
	topics map[string]*topic
	closed bool
}

// topic is one tracking code watched in this process.
type topic struct {
	code string
	// latest is the newest state known here; guarded by Hub.mu.
	latest *model.Registration
	subs   map[*watcher]struct{}
	// stop ends the topic's loop; nil until it starts.
	stop context.CancelFunc
	// wake interrupts the loop's wait: the state turned final, a lease was
	// released, or the pub/sub connection came back.
	wake chan struct{}
	// priming is open while a watcher reads the first state for all;
	// primeErr is how that read ended.
	priming  chan struct{}
	primeErr error
}

// watcher is one subscriber; notify (capacity 1) says latest moved.
type watcher struct {
	notify chan struct{}
}

// New returns a hub; Close releases it.
func New(opts Options) *Hub {
	if opts.Fetch == nil {
		panic("regwatch: Options.Fetch is required")
	}
	if opts.PollMin <= 0 {
		opts.PollMin = DefaultPollMin
	}
	if opts.PollMax < opts.PollMin {
		opts.PollMax = max(DefaultPollMax, opts.PollMin)
	}
	if opts.FastPoll <= 0 {
		opts.FastPoll = min(DefaultFastPoll, opts.PollMin)
	}
	if opts.FastWindow == 0 {
		opts.FastWindow = DefaultFastWindow
	}
	if opts.PollBudget <= 0 {
		opts.PollBudget = DefaultPollBudget
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.StateTTL <= 0 {
		opts.StateTTL = DefaultStateTTL
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		opts:   opts,
		log:    logger,
		id:     hex.EncodeToString(id),
		ctx:    ctx,
		cancel: cancel,
		ready:  make(chan struct{}),
		topics: map[string]*topic{},
	}
	if opts.Redis != nil {
		rs := newRedisBackend(opts.Redis, opts.Prefix, opts.StateTTL)
		h.st = rs
		h.wg.Add(1)
		go h.listen(rs)
	} else {
		h.st = newMemoryBackend(opts.StateTTL)
		h.markReady()
	}
	return h
}

// Close ends every watch (their channels close) and every poller
// (releasing its lease), closes the pub/sub connection and waits for all
// of it. The Redis client stays open: it is the caller's.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.st.close()
	h.wg.Wait()
}

// Watch returns a channel that receives the registration's current state
// at once, then each change, and closes after a final state, when ctx
// ends or when the hub closes. An unknown code fails here, before any
// state is sent.
func (h *Hub) Watch(ctx context.Context, code string) (<-chan *model.Registration, error) {
	if !codePattern.MatchString(code) {
		return nil, apperr.BadInput("trackingCode", "trackingCode must be the code register returned, e.g. BRL202501150001")
	}
	h.waitReady(ctx)
	t, w, err := h.join(code)
	if err != nil {
		return nil, err
	}
	// The watcher is registered: from here on every change reaches it,
	// so the state read next cannot be overtaken unseen. Closing the hub
	// cuts the read short.
	pctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(h.ctx, cancel)
	err = h.prime(pctx, t)
	stop()
	cancel()
	if err != nil {
		h.leave(t, w)
		h.wg.Done()
		return nil, err
	}
	h.startLoop(t)
	out := make(chan *model.Registration)
	go h.deliver(ctx, t, w, out)
	return out, nil
}

// Current returns the registration's state: a final state from the shared
// state without asking Brilla, anything else from Brilla (and shared, so
// watchers see it too).
func (h *Hub) Current(ctx context.Context, code string) (*model.Registration, error) {
	if !codePattern.MatchString(code) {
		return nil, apperr.BadInput("trackingCode", "trackingCode must be the code register returned, e.g. BRL202501150001")
	}
	h.mu.Lock()
	var local *model.Registration
	if t := h.topics[code]; t != nil {
		local = t.latest
	}
	h.mu.Unlock()
	if Final(local) {
		return clone(local), nil
	}
	stored, err := h.st.load(ctx, code)
	h.noteRedis(err)
	if Final(stored) {
		return stored, nil
	}
	reg, err := h.opts.Fetch(ctx, code)
	if err != nil {
		return nil, err
	}
	h.publish(ctx, code, reg)
	return clone(reg), nil
}

// join registers a new watcher on code's topic, creating the topic. It
// counts the watcher's delivery goroutine in h.wg (under the lock, so
// Close cannot be waiting yet).
func (h *Hub) join(code string) (*topic, *watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, apperr.New(apperr.UpstreamUnavailable, "the gateway is shutting down; subscribe again")
	}
	t := h.topics[code]
	if t == nil {
		t = &topic{code: code, subs: map[*watcher]struct{}{}, wake: make(chan struct{}, 1)}
		h.topics[code] = t
	}
	w := &watcher{notify: make(chan struct{}, 1)}
	t.subs[w] = struct{}{}
	h.wg.Add(1)
	return t, w, nil
}

// leave removes w; the last watcher out stops the topic's loop.
func (h *Hub) leave(t *topic, w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(t.subs, w)
	if len(t.subs) == 0 {
		if h.topics[t.code] == t {
			delete(h.topics, t.code)
		}
		if t.stop != nil {
			t.stop()
		}
	}
}

// prime makes sure t knows a state: the topic's own, else the shared
// state, else Brilla's (which also tells whether the code exists). Watchers
// arriving together share one read.
func (h *Hub) prime(ctx context.Context, t *topic) error {
	for {
		h.mu.Lock()
		if t.latest != nil {
			h.mu.Unlock()
			return nil
		}
		if t.priming == nil {
			done := make(chan struct{})
			t.priming = done
			h.mu.Unlock()
			err := h.read(ctx, t)
			h.mu.Lock()
			t.priming, t.primeErr = nil, err
			h.mu.Unlock()
			close(done)
			return err
		}
		wait := t.priming
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
		known, err := t.latest != nil, t.primeErr
		h.mu.Unlock()
		if known {
			return nil
		}
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return err // the same answer (say, not found) for every watcher
		}
		// The first reader gave up (its client left): read ourselves.
	}
}

// read gives t the shared state or, failing that, Brilla's.
func (h *Hub) read(ctx context.Context, t *topic) error {
	stored, err := h.st.load(ctx, t.code)
	h.noteRedis(err)
	if stored != nil {
		h.offer(t.code, stored)
		return nil
	}
	reg, err := h.opts.Fetch(ctx, t.code)
	if err != nil {
		return err
	}
	h.publish(ctx, t.code, reg)
	return nil
}

// startLoop starts t's loop unless it runs, the state is final or nobody
// watches any more.
func (h *Hub) startLoop(t *topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.stop != nil || h.closed || len(t.subs) == 0 || Final(t.latest) {
		return
	}
	ctx, stop := context.WithCancel(h.ctx)
	t.stop = stop
	h.wg.Add(1)
	go h.run(ctx, t)
}

// deliver sends w the states it has not seen, newest first, until a final
// one (then closes out), ctx ends or the hub closes.
func (h *Hub) deliver(ctx context.Context, t *topic, w *watcher, out chan<- *model.Registration) {
	defer h.wg.Done()
	defer close(out)
	defer h.leave(t, w)
	var sent *model.Registration
	for {
		h.mu.Lock()
		cur := t.latest
		h.mu.Unlock()
		if cur != nil && !same(cur, sent) {
			select {
			case out <- clone(cur):
				sent = cur
			case <-ctx.Done():
				return
			case <-h.ctx.Done():
				return
			}
			if Final(cur) {
				return
			}
			continue
		}
		select {
		case <-w.notify:
		case <-ctx.Done():
			return
		case <-h.ctx.Done():
			return
		}
	}
}

// offer moves code's topic to reg if reg is newer, and tells its watchers.
// It never blocks: notifications are coalesced.
func (h *Hub) offer(code string, reg *model.Registration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[code]
	if t == nil || !newer(t.latest, reg) {
		return
	}
	t.latest = reg
	for w := range t.subs {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
	if Final(reg) {
		poke(t.wake)
	}
}

// wakeTopic interrupts the wait of code's loop (a lease was released).
func (h *Hub) wakeTopic(code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[code]; t != nil {
		poke(t.wake)
	}
}

// wakeAll interrupts every loop's wait, so each re-reads the shared state
// (after the pub/sub connection came back: messages may have been lost).
func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.topics {
		poke(t.wake)
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// publish stores reg as code's shared state (Redis publishes it to every
// replica) and hands it to this process's watchers at once.
func (h *Hub) publish(ctx context.Context, code string, reg *model.Registration) {
	err := h.st.save(ctx, code, reg)
	h.noteRedis(err)
	h.offer(code, reg)
}

func (h *Hub) isFinal(t *topic) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Final(t.latest)
}

// run is t's loop in this process: poll Brilla while holding the code's
// lease, otherwise follow the shared state and try to take the lease.
func (h *Hub) run(ctx context.Context, t *topic) {
	defer h.wg.Done()
	owner := fmt.Sprintf("%s:%d", h.id, h.seq.Add(1))
	leased := false
	defer func() {
		if leased {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			h.noteRedis(h.st.release(rctx, t.code, owner))
			cancel()
		}
	}()
	started := time.Now()
	backoff := h.opts.PollMin
	var polled int64 // by this loop, counted when the shared count is unavailable
	for ctx.Err() == nil && !h.isFinal(t) {
		solo := false
		if !leased {
			ok, err := h.st.acquire(ctx, t.code, owner, h.opts.Lease)
			h.noteRedis(err)
			leased, solo = ok, err != nil
		}
		if !leased && !solo {
			// Another replica polls. Follow the shared state, which covers
			// pub/sub messages this replica missed, and try again for the
			// lease (its holder may have crashed).
			if !h.sleep(ctx, t, h.opts.Lease/2, nil) {
				return
			}
			stored, err := h.st.load(ctx, t.code)
			h.noteRedis(err)
			if stored != nil {
				h.offer(t.code, stored)
			}
			continue
		}
		renew := func() bool {
			ok, err := h.st.renew(ctx, t.code, owner, h.opts.Lease)
			h.noteRedis(err)
			return ok || err != nil // on a Redis error keep polling; the lease may lapse
		}
		if !leased {
			renew = nil
		}
		wait, young := backoff, h.young(t, started)
		if young {
			wait = h.opts.FastPoll
		}
		if !h.sleep(ctx, t, wait, renew) {
			return
		}
		if leased && !renew() {
			// The lease lapsed and another replica took it: follow it.
			leased = false
			continue
		}
		if h.isFinal(t) {
			return
		}
		if !young {
			backoff = min(2*backoff, h.opts.PollMax)
		}
		polled++
		if n := h.countPoll(ctx, t.code, polled); n > h.opts.PollBudget {
			h.log.Info("registration poll budget spent; no more polls for this code", "trackingCode", t.code, "polls", h.opts.PollBudget)
			return
		}
		reg, err := h.opts.Fetch(ctx, t.code)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("registration poll failed", "trackingCode", t.code, "error", err, "retryIn", backoff)
			}
			continue
		}
		h.publish(ctx, t.code, reg)
	}
}

// young reports whether t's registration is still in its fast window: it
// was received (the updatedAt of its pending state) or, failing that,
// first polled here (started) less than FastWindow - FastPoll ago, so the
// next poll still falls within the window.
func (h *Hub) young(t *topic, started time.Time) bool {
	if h.opts.FastWindow < 0 {
		return false
	}
	born := started
	h.mu.Lock()
	if t.latest != nil && t.latest.UpdatedAt != nil && t.latest.UpdatedAt.Before(born) {
		born = *t.latest.UpdatedAt
	}
	h.mu.Unlock()
	return time.Since(born)+h.opts.FastPoll <= h.opts.FastWindow
}

// countPoll counts one poll of code in the shared count and returns it;
// while that count is unavailable, the loop's own count (polled) stands
// in, so the budget still bounds a loop.
func (h *Hub) countPoll(ctx context.Context, code string, polled int64) int64 {
	n, err := h.st.countPoll(ctx, code)
	h.noteRedis(err)
	if err != nil {
		return polled
	}
	return n
}

// sleep waits d. It returns false when ctx ends. renew, when set, runs
// every Lease/3; if it reports the lease lost, sleep returns early. A wake
// ends the wait only for a loop without the lease, or when the state
// turned final.
func (h *Hub) sleep(ctx context.Context, t *topic, d time.Duration, renew func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var tick <-chan time.Time
	if renew != nil {
		ticker := time.NewTicker(max(h.opts.Lease/3, time.Millisecond))
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-t.wake:
			if renew == nil || h.isFinal(t) {
				return true
			}
		case <-tick:
			if !renew() {
				return true
			}
		}
	}
}

// listen is the replica's one pub/sub subscription: it hands every event
// to the local topics, and after each (re)subscription wakes every loop to
// re-read the shared state.
func (h *Hub) listen(rs *redisBackend) {
	defer h.wg.Done()
	// The channel is recorded even when this fails (Redis down): the next
	// receive reconnects and subscribes.
	if err := rs.ps.Subscribe(h.ctx, rs.channel); err != nil {
		h.noteRedis(err)
		h.markReady()
	}
	backoff := 100 * time.Millisecond
	for h.ctx.Err() == nil {
		msg, err := rs.ps.ReceiveTimeout(h.ctx, 30*time.Second)
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check the connection is alive (a failed
				// ping makes the next receive reconnect).
				_ = rs.ps.Ping(h.ctx)
				continue
			}
			h.markReady()
			h.noteRedis(err)
			select {
			case <-time.After(backoff):
			case <-h.ctx.Done():
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			h.markReady()
			h.noteRedis(nil)
			h.wakeAll()
		case *redis.Message:
			var ev event
			if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil || !codePattern.MatchString(ev.Code) {
				h.log.Warn("registration event ignored", "payload", m.Payload)
				continue
			}
			if ev.Released {
				h.wakeTopic(ev.Code)
			} else if ev.Registration != nil {
				h.offer(ev.Code, ev.Registration)
			}
		}
	}
}

func (h *Hub) markReady() { h.readyOnce.Do(func() { close(h.ready) }) }

// waitReady waits (briefly) for the replica's pub/sub subscription.
func (h *Hub) waitReady(ctx context.Context) {
	select {
	case <-h.ready:
		return
	default:
	}
	timer := time.NewTimer(readyWait)
	defer timer.Stop()
	select {
	case <-h.ready:
	case <-timer.C:
	case <-ctx.Done():
	case <-h.ctx.Done():
	}
}

// noteRedis logs once when Redis starts failing and once when it is back.
func (h *Hub) noteRedis(err error) {
	if err == nil {
		if h.redisDown.CompareAndSwap(true, false) {
			h.log.Info("registration watch: Redis is back; replicas share pollers again")
		}
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return // the caller left or ran out of time; not Redis's fault
	}
	if h.redisDown.CompareAndSwap(false, true) {
		h.log.Warn("registration watch: Redis unavailable; this replica polls Brilla for its own watchers until it is back", "error", err)
	}
}

// newer reports whether next should replace cur: anything replaces
// nothing, nothing replaces a final state, and a pending state does not go
// back in time.
func newer(cur, next *model.Registration) bool {
	switch {
	case next == nil:
		return false
	case cur == nil:
		return true
	case Final(cur) || same(cur, next):
		return false
	case Final(next):
		return true
	case cur.UpdatedAt != nil && next.UpdatedAt != nil && next.UpdatedAt.Before(*cur.UpdatedAt):
		return false
	}
	return true
}

// same reports whether two states are the same in every field.
func same(a, b *model.Registration) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func clone(r *model.Registration) *model.Registration {
	c := *r
	return &c
}

// event is what travels on the Redis channel.
type event struct {
	Code         string              `json:"code"`
	Registration *model.Registration `json:"registration,omitempty"`
	// Released says the code's poller lease was given up: a loop without
	// it should try to take it now.
	Released bool `json:"released,omitempty"`
}
