package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
)

// Collection names, as used in cache keys and Invalidate.
const (
	CollectionBranches = "branches"
	CollectionTaxes    = "taxes"
	CollectionArticles = "articles"
)

// Cached serves indexed collections from the shared cache: a collection is
// walked from SERPI at most once per freshness period across every replica
// (stale copies are served while one replica refreshes), and each replica
// builds its index once per version of the cached bytes.
type Cached struct {
	loader  *Loader
	cache   *cache.Cache
	policy  cache.Policy
	recheck time.Duration
	now     func() time.Time

	mu      sync.Mutex
	indexes map[string]builtIndex
	// epoch counts invalidations seen here; an index built from bytes
	// read before one is used once but not kept.
	epoch uint64
	bus   cache.Bus
	log   *slog.Logger

	// checker, checkPeriod and verdicts verify each reader's own SERPI
	// credential (see CheckCredentials); nil checker: no checks.
	checker     CredentialChecker
	checkPeriod time.Duration
	verdicts    map[string]verdict

	// attached is the bus subscription's context; unconfirmed holds keys
	// whose invalidation could not be published, published again by one
	// goroutine at a time (republishing) once the bus is back (stale.go).
	attached     context.Context
	unconfirmed  map[string]struct{}
	republishing bool
}

type builtIndex struct {
	sum     [sha256.Size]byte
	index   any
	checked time.Time
}

// DefaultRecheck is how long a replica answers from its own index before
// it compares it with the shared cache again.
const DefaultRecheck = time.Second

// NewCached serves loader's collections through c with policy. Each
// replica answers from its in-process index and compares it with the
// shared cache at most every recheck (DefaultRecheck when <= 0): reading
// and hashing a whole collection per request would cost more than the
// query itself (see BENCHMARKS.md).
func NewCached(loader *Loader, c *cache.Cache, policy cache.Policy, recheck time.Duration) *Cached {
	if recheck <= 0 {
		recheck = DefaultRecheck
	}
	return &Cached{loader: loader, cache: c, policy: policy, recheck: recheck, now: time.Now, indexes: map[string]builtIndex{}}
}

// Key returns the cache key of a collection read with cred. SERPI's
// secret key identifies the client company whose catalog it is; its tokens
// are interchangeable turns on the same data. So the key names the secret
// key (by a hash: Redis never holds SERPI secrets) and not the token, and
// a write through any token invalidates what every token reads.
func Key(cred serpi.Credential, collection string) string {
	return "serpi:" + Company(cred) + ":" + collection
}

// Branches returns the indexed branches readable with cred.
func (c *Cached) Branches(ctx context.Context, cred serpi.Credential) (*Index[serpi.Sucursal], error) {
	return cachedIndex(ctx, c, cred, CollectionBranches, BranchSpec, c.loader.fetchBranches)
}

// Taxes returns the indexed taxes readable with cred.
func (c *Cached) Taxes(ctx context.Context, cred serpi.Credential) (*Index[serpi.Impuesto], error) {
	return cachedIndex(ctx, c, cred, CollectionTaxes, TaxSpec, c.loader.fetchTaxes)
}

// Articles returns the indexed articles readable with cred.
func (c *Cached) Articles(ctx context.Context, cred serpi.Credential) (*Index[serpi.Articulo], error) {
	return cachedIndex(ctx, c, cred, CollectionArticles, ArticleSpec, c.loader.fetchArticles)
}

// Attach connects c to an invalidation bus: Invalidate publishes each
// dropped key on it, and every key received (from any replica, this one
// included) drops the local index and stops in-flight fetches of it from
// storing what they read. Without a bus a replica sees another's
// invalidation only at its next recheck of the shared cache. Attach is
// called once, before c serves; the subscription lasts until ctx is done
// or the bus is closed. An error means the subscription is not confirmed
// (see the bus); Invalidate publishes anyway.
func (c *Cached) Attach(ctx context.Context, bus cache.Bus, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c.mu.Lock()
	c.bus, c.log, c.attached = bus, logger, ctx
	c.mu.Unlock()
	if err := bus.Subscribe(ctx, c.invalidated); err != nil {
		return fmt.Errorf("catalog: invalidation bus: %w", err)
	}
	return nil
}

// invalidated handles a key from the bus; "" drops every index.
func (c *Cached) invalidated(key string) {
	c.mu.Lock()
	c.epoch++
	var keys []string
	if key == "" {
		for k := range c.indexes {
			keys = append(keys, k)
		}
		clear(c.indexes)
	} else {
		keys = []string{key}
		delete(c.indexes, key)
	}
	c.mu.Unlock()
	c.cache.Forget(keys...)
	if key == "" {
		// The subscription was lost or is back: publish what could not be.
		c.republish()
	}
}

// Invalidate drops cached collections (all three when none is named), so
// the next read on any replica walks SERPI again. Writes call it.
//
// It drops this replica's indexes and deletes the shared entries, then
// (with a bus attached) publishes each key, which with a RedisBus returns
// once every replica has dropped its index and stopped its in-flight
// fetches of the key from storing; then it deletes the shared entries once
// more, in case another replica's fetch that read SERPI before the write
// stored its result between the first delete and the notice. A publish
// that failed or was not acknowledged by every replica (Redis down) is
// returned as an *UnconfirmedError after the rest is done: other replicas
// may serve the old value for up to MaxStaleElsewhere, and the key is
// published again when the bus is back (see stale.go).
func (c *Cached) Invalidate(ctx context.Context, cred serpi.Credential, collections ...string) error {
	if len(collections) == 0 {
		collections = []string{CollectionBranches, CollectionTaxes, CollectionArticles}
	}
	keys := make([]string, len(collections))
	for i, name := range collections {
		keys[i] = Key(cred, name)
	}
	c.mu.Lock()
	c.epoch++
	for _, k := range keys {
		delete(c.indexes, k)
	}
	bus, logger := c.bus, c.log
	c.mu.Unlock()
	if err := c.cache.Invalidate(ctx, keys...); err != nil {
		return fmt.Errorf("invalidate %v: %w", collections, err)
	}
	if bus == nil {
		return nil
	}
	var unconfirmed error
	for _, k := range keys {
		if err := bus.Publish(ctx, k); err != nil {
			logger.WarnContext(ctx, "catalog invalidation not confirmed by every replica; they see it at their next recheck",
				"collection", k[strings.LastIndexByte(k, ':')+1:], "error", err, "max_stale", c.MaxStaleElsewhere())
			c.rememberUnconfirmed(k)
			unconfirmed = err
		}
	}
	if err := c.cache.Invalidate(ctx, keys...); err != nil {
		return fmt.Errorf("invalidate %v: %w", collections, err)
	}
	if unconfirmed != nil {
		return &UnconfirmedError{MaxStale: c.MaxStaleElsewhere(), Err: unconfirmed}
	}
	return nil
}

// cachedIndex loads the index, then checks the reader's own credential
// (see CheckCredentials). In this order a read that walks SERPI needs no
// separate check (the walk was one), and a walk that fails costs no
// second failing call.
func cachedIndex[T any](ctx context.Context, c *Cached, cred serpi.Credential, collection string, spec Spec[T],
	fetch func(context.Context, serpi.Credential) ([]T, error)) (*Index[T], error) {
	ix, sum, err := loadIndex(ctx, c, cred, collection, spec, fetch)
	if err != nil {
		return nil, err
	}
	if err := c.verifyCredential(ctx, cred); err != nil {
		return nil, err
	}
	// An answer built from this index stays current while the collection's
	// bytes do, and while the reader's credential stays verified (see
	// Version).
	cache.RecordRead(ctx, Key(cred, collection), versionOf(sum))
	if c.checksCredentials() {
		cache.RecordRead(ctx, credentialKey(cred), verdictAccepted)
	}
	return ix, nil
}

// versionOf names a version of a collection by its bytes' hash: replicas
// reading the same shared entry agree on it without talking.
func versionOf(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:16]) }

// Version returns the version of the collection cached under key (see
// Key) that this replica's index holds, and whether that index is
// current: built and compared with the shared cache within the recheck
// period, and not dropped by an invalidation since. An answer computed
// from an older version, or while no current index exists, must not be
// served: the next read rebuilds the index.
//
// For a credential's key it returns verdictAccepted while this replica's
// verdict on it is current and accepting, so that an answer cached for a
// key stops being served within the same bound as the reads themselves
// once SERPI revokes the key's token.
func (c *Cached) Version(key string) (string, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(key, credentialKeyPrefix) {
		v, ok := c.verdicts[key]
		if !ok || v.refused != nil || !now.Before(v.until) {
			return "", false
		}
		return verdictAccepted, true
	}
	built, ok := c.indexes[key]
	if !ok || now.Sub(built.checked) >= c.recheck {
		return "", false
	}
	return versionOf(built.sum), true
}

func loadIndex[T any](ctx context.Context, c *Cached, cred serpi.Credential, collection string, spec Spec[T],
	fetch func(context.Context, serpi.Credential) ([]T, error)) (*Index[T], [sha256.Size]byte, error) {
	key := Key(cred, collection)
	c.mu.Lock()
	built, ok := c.indexes[key]
	epoch := c.epoch
	c.mu.Unlock()
	if ok && c.now().Sub(built.checked) < c.recheck {
		if ix, ok := built.index.(*Index[T]); ok {
			return ix, built.sum, nil
		}
	}
	raw, err := c.cache.Fetch(ctx, key, c.policyNow(), func(ctx context.Context) ([]byte, error) {
		items, err := fetch(ctx, cred)
		if err != nil {
			return nil, err
		}
		c.credentialWalked(cred)
		return json.Marshal(items)
	})
	if err != nil {
		return nil, [sha256.Size]byte{}, upstream.DeadlineError(upstream.Serpi, "GET "+collection, err,
			"no answer before the request's deadline (the SERPI token may be busy with earlier calls)")
	}
	sum := sha256.Sum256(raw)
	if ok && built.sum == sum {
		if ix, ok := built.index.(*Index[T]); ok {
			c.keep(key, epoch, builtIndex{sum: sum, index: ix, checked: c.now()})
			return ix, sum, nil
		}
	}
	var items []T
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, sum, fmt.Errorf("decode cached %s: %w", collection, err)
	}
	ix := NewIndex(items, spec)
	c.keep(key, epoch, builtIndex{sum: sum, index: ix, checked: c.now()})
	return ix, sum, nil
}

// keep stores an index built from bytes read at epoch, unless an
// invalidation came in since: those bytes may predate it.
func (c *Cached) keep(key string, epoch uint64, b builtIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch {
		c.indexes[key] = b
	}
}
