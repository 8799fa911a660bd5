package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults for Cache.
const (
	// DefaultFetchTimeout bounds a shared synchronous fetch (see Fetch).
	DefaultFetchTimeout = 30 * time.Second
	// DefaultRefreshTimeout bounds a background refresh, and is the TTL of
	// the cross-replica refresh lease.
	DefaultRefreshTimeout = 30 * time.Second
	// storeWriteTimeout bounds the store write after a fetch.
	storeWriteTimeout = 5 * time.Second
	// leasePrefix names the refresh lease of a key: leasePrefix+key.
	leasePrefix = "lease:"
)

// Policy is how long a resource stays fresh and then how long a stale copy
// may still be served while it is refreshed. Entries are stored with TTL
// Fresh+Stale; a Policy with Fresh+Stale <= 0 caches nothing (concurrent
// callers still share one fetch).
type Policy struct {
	Fresh, Stale time.Duration
}

// Cache adds freshness, stale-while-revalidate and single-flight to a
// Store. Safe for concurrent use.
type Cache struct {
	store          Store
	log            *slog.Logger
	fetchTimeout   time.Duration
	refreshTimeout time.Duration
	now            func() time.Time
	observe        func(result string)

	base   context.Context // cancelled by Close; parent of background refreshes
	cancel context.CancelFunc
	wg     sync.WaitGroup // background refreshes

	mu         sync.Mutex
	calls      map[string]*call    // synchronous fetches in flight
	refreshing map[string]*refresh // background refreshes in flight
	closed     bool
}

// call is one shared synchronous fetch.
type call struct {
	done    chan struct{} // closed once val and err are set
	val     []byte
	err     error
	waiters int                // guarded by Cache.mu
	noStore bool               // guarded by Cache.mu: invalidated while in flight
	cancel  context.CancelFunc // cancels the fetch
}

// refresh is one background refresh.
type refresh struct {
	noStore bool // guarded by Cache.mu: invalidated while in flight
}

// Option configures New.
type Option func(*Cache)

// WithFetchTimeout bounds a shared synchronous fetch (default 30s).
func WithFetchTimeout(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.fetchTimeout = d
		}
	}
}

// WithRefreshTimeout bounds a background refresh and sets the TTL of its
// cross-replica lease (default 30s).
func WithRefreshTimeout(d time.Duration) Option {
	return func(c *Cache) {
		if d > 0 {
			c.refreshTimeout = d
		}
	}
}

// Lookup results reported to an observer.
const (
	ResultHit   = "hit"
	ResultStale = "stale"
	ResultMiss  = "miss"
)

// WithObserver reports every Fetch's lookup result (ResultHit, ResultStale
// or ResultMiss), for metrics.
func WithObserver(observe func(result string)) Option {
	return func(c *Cache) { c.observe = observe }
}

func (c *Cache) report(result string) {
	if c.observe != nil {
		c.observe(result)
	}
}

// New returns a Cache over store. A nil logger discards logs.
func New(store Store, logger *slog.Logger, opts ...Option) *Cache {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	c := &Cache{
		store:          store,
		log:            logger,
		fetchTimeout:   DefaultFetchTimeout,
		refreshTimeout: DefaultRefreshTimeout,
		now:            time.Now,
		base:           base,
		cancel:         cancel,
		calls:          make(map[string]*call),
		refreshing:     make(map[string]*refresh),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Fetch returns the value under key, calling fetch when needed:
//
//   - fresh (age < p.Fresh): the cached value; fetch is not called.
//   - stale (age < p.Fresh+p.Stale): the cached value at once, and a
//     background refresh unless one is already running for key in this
//     process and unless another process holds the key's refresh lease
//     (store.TryLease("lease:"+key, refresh timeout)). The refresh runs
//     under its own context: the caller's values without its cancellation,
//     the refresh timeout, and cancelled by Close. A refresh that fails is
//     logged and keeps its lease until it expires, which spaces retries.
//   - missing or older: fetch is called synchronously. Concurrent callers
//     for key in this process share one call. The call runs in its own
//     goroutine with the first caller's context values but not its
//     cancellation, under the fetch timeout (default 30s) counted from its
//     start; it is cancelled early only when every caller waiting for it
//     has gone. Each caller returns when the call ends or its own ctx is
//     done (then with ctx.Err()).
//
// A fetch error is returned and nothing is cached. Store errors are logged
// and treated as misses. A fetched value is stored with TTL
// p.Fresh+p.Stale and StoredAt now, before the callers are answered. The
// returned slice may be shared with other callers: do not modify it.
func (c *Cache) Fetch(ctx context.Context, key string, p Policy, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	ttl := p.Fresh + p.Stale
	if ttl <= 0 {
		return c.do(ctx, key, 0, fetch)
	}
	e, ok, err := c.store.Get(ctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Warn("cache read failed; fetching", "key", key, "error", err)
		ok = false
	}
	if ok {
		age := c.now().Sub(e.StoredAt)
		if age < p.Fresh {
			c.report(ResultHit)
			return e.Value, nil
		}
		if age < ttl {
			c.report(ResultStale)
			c.refresh(ctx, key, p, fetch)
			return e.Value, nil
		}
	}
	c.report(ResultMiss)
	return c.do(ctx, key, ttl, fetch)
}

// do runs fetch once for all concurrent callers of key and stores the
// result with ttl (nothing when ttl <= 0).
func (c *Cache) do(ctx context.Context, key string, ttl time.Duration, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	cl, ok := c.calls[key]
	if !ok {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.fetchTimeout)
		cl = &call{done: make(chan struct{}), cancel: cancel}
		c.calls[key] = cl
		go c.run(fctx, key, ttl, cl, fetch)
	}
	cl.waiters++
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		c.mu.Lock()
		cl.waiters--
		if cl.waiters == 0 && !isClosed(cl.done) {
			// Nobody wants the result any more.
			cl.cancel()
			if c.calls[key] == cl {
				delete(c.calls, key)
			}
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *Cache) run(ctx context.Context, key string, ttl time.Duration, cl *call, fetch func(context.Context) ([]byte, error)) {
	defer cl.cancel()
	val, err := c.safeFetch(ctx, key, fetch)
	if err == nil && ttl > 0 {
		// Store before answering, so a caller that got the value finds it
		// in the store (and no caller ever sees this call's result after
		// it was invalidated without also having it dropped from the store).
		c.putUnlessInvalidated(ctx, key, val, ttl, func() bool { return cl.noStore })
	}
	c.mu.Lock()
	if c.calls[key] == cl {
		delete(c.calls, key)
	}
	cl.val, cl.err = val, err
	close(cl.done)
	c.mu.Unlock()
}

// putUnlessInvalidated stores val unless invalidated() (read under c.mu)
// holds, and deletes it again if the key was invalidated while it was
// being written.
func (c *Cache) putUnlessInvalidated(ctx context.Context, key string, val []byte, ttl time.Duration, invalidated func() bool) {
	c.mu.Lock()
	skip := invalidated()
	c.mu.Unlock()
	if skip {
		return
	}
	c.put(ctx, key, val, ttl)
	c.mu.Lock()
	undo := invalidated()
	c.mu.Unlock()
	if undo {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
		defer cancel()
		if err := c.store.Delete(ctx, key); err != nil {
			c.log.Warn("cache invalidate failed", "key", key, "error", err)
		}
	}
}

// refresh starts a background refresh of key unless one is running here,
// or c is closed.
func (c *Cache) refresh(ctx context.Context, key string, p Policy, fetch func(context.Context) ([]byte, error)) {
	c.mu.Lock()
	if c.closed || c.refreshing[key] != nil {
		c.mu.Unlock()
		return
	}
	rf := &refresh{}
	c.refreshing[key] = rf
	c.wg.Add(1)
	c.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.refreshTimeout)
	stop := context.AfterFunc(c.base, cancel)
	go func() {
		defer c.wg.Done()
		defer func() {
			stop()
			cancel()
			c.mu.Lock()
			delete(c.refreshing, key)
			c.mu.Unlock()
		}()
		c.runRefresh(rctx, key, p, rf, fetch)
	}()
}

func (c *Cache) runRefresh(ctx context.Context, key string, p Policy, rf *refresh, fetch func(context.Context) ([]byte, error)) {
	lease := leasePrefix + key
	got, err := c.store.TryLease(ctx, lease, c.refreshTimeout)
	if err != nil {
		c.log.Warn("cache refresh lease failed; serving stale", "key", key, "error", err)
		return
	}
	if !got {
		return // another replica is refreshing key
	}
	// Another replica may have refreshed key (and released its lease)
	// between our read and our lease.
	if e, ok, err := c.store.Get(ctx, key); err == nil && ok && c.now().Sub(e.StoredAt) < p.Fresh {
		c.releaseLease(ctx, lease)
		return
	}
	val, err := c.safeFetch(ctx, key, fetch)
	if err != nil {
		// Keep the lease: it spaces out retries against a failing upstream.
		c.log.Warn("cache background refresh failed; serving stale", "key", key, "error", err)
		return
	}
	c.putUnlessInvalidated(ctx, key, val, p.Fresh+p.Stale, func() bool { return rf.noStore })
	c.releaseLease(ctx, lease)
}

func (c *Cache) releaseLease(ctx context.Context, lease string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
	defer cancel()
	if err := c.store.Delete(ctx, lease); err != nil {
		c.log.Debug("cache lease release failed; it will expire", "lease", lease, "error", err)
	}
}

func (c *Cache) put(ctx context.Context, key string, val []byte, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
	defer cancel()
	if err := c.store.Set(ctx, key, Entry{Value: val, StoredAt: c.now()}, ttl); err != nil {
		c.log.Warn("cache write failed", "key", key, "error", err)
	}
}

// safeFetch calls fetch, turning a panic into an error: fetch runs on a
// goroutine of its own, where a panic would end the process.
func (c *Cache) safeFetch(ctx context.Context, key string, fetch func(context.Context) ([]byte, error)) (val []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("cache fetch panicked", "key", key, "panic", v, "stack", string(debug.Stack()))
			val, err = nil, fmt.Errorf("cache: fetch for %q panicked: %v", key, v)
		}
	}()
	return fetch(ctx)
}

// Invalidate deletes keys from the store. Fetches and refreshes of those
// keys already in flight in this process still answer their callers but
// no longer store their (possibly pre-change) result, and the next Fetch
// starts a new fetch.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	c.Forget(keys...)
	if err := c.store.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("cache: invalidate: %w", err)
	}
	return nil
}

// Replace stores val under key as a copy read now (fresh for p.Fresh,
// then stale for p.Stale), in place of whatever is cached, after stopping
// fetches and refreshes of key in flight here from storing what they read
// (possibly before val) over it. A caller that has just read the upstream
// itself uses it, so that its read also serves everyone else's.
func (c *Cache) Replace(ctx context.Context, key string, val []byte, p Policy) error {
	c.Forget(key)
	if err := c.store.Set(ctx, key, Entry{Value: val, StoredAt: c.now()}, p.Fresh+p.Stale); err != nil {
		return fmt.Errorf("cache: replace: %w", err)
	}
	return nil
}

// Forget is Invalidate without the store delete, for a replica told that
// another one invalidated keys: fetches and refreshes of keys in flight
// here (possibly started before the change) answer their callers but no
// longer store their result, and the next Fetch starts a new fetch.
func (c *Cache) Forget(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if cl := c.calls[k]; cl != nil {
			cl.noStore = true
			delete(c.calls, k)
		}
		if rf := c.refreshing[k]; rf != nil {
			rf.noStore = true
		}
	}
}

// Close stops background refreshes (cancels their context) and waits for
// them to return. After Close, stale values are served without refresh;
// synchronous fetches still work.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// FetchJSON is Fetch with JSON encoding of T. A cached value that no longer
// decodes into T (say T changed between releases) is dropped and fetched
// again.
func FetchJSON[T any](ctx context.Context, c *Cache, key string, p Policy, fetch func(context.Context) (T, error)) (T, error) {
	raw := func(ctx context.Context) ([]byte, error) {
		v, err := fetch(ctx)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("cache: encode %T: %w", v, err)
		}
		return b, nil
	}
	var zero T
	for attempt := 0; ; attempt++ {
		b, err := c.Fetch(ctx, key, p, raw)
		if err != nil {
			return zero, err
		}
		var v T
		err = json.Unmarshal(b, &v)
		if err == nil {
			return v, nil
		}
		if attempt > 0 {
			return zero, fmt.Errorf("cache: decode %T: %w", v, err)
		}
		c.log.Warn("cached value does not decode; fetching again", "key", key, "error", err)
		if err := c.Invalidate(ctx, key); err != nil {
			c.log.Warn("cache invalidate failed", "key", key, "error", err)
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
