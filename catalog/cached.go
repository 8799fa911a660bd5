package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// Key returns the cache key of a collection read with cred. It names the
// credential by a hash so Redis never holds SERPI secrets, and separates
// credentials so one client's view never serves another's.
func Key(cred serpi.Credential, collection string) string {
	sum := sha256.Sum256([]byte(cred.SecretKey + "\x00" + cred.Token))
	return "serpi:" + hex.EncodeToString(sum[:12]) + ":" + collection
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

// Invalidate drops cached collections (all three when none is named), so
// the next read on any replica walks SERPI again. Writes call it.
func (c *Cached) Invalidate(ctx context.Context, cred serpi.Credential, collections ...string) error {
	if len(collections) == 0 {
		collections = []string{CollectionBranches, CollectionTaxes, CollectionArticles}
	}
	keys := make([]string, len(collections))
	for i, name := range collections {
		keys[i] = Key(cred, name)
	}
	c.mu.Lock()
	for _, k := range keys {
		delete(c.indexes, k)
	}
	c.mu.Unlock()
	if err := c.cache.Invalidate(ctx, keys...); err != nil {
		return fmt.Errorf("invalidate %v: %w", collections, err)
	}
	return nil
}

func cachedIndex[T any](ctx context.Context, c *Cached, cred serpi.Credential, collection string, spec Spec[T],
	fetch func(context.Context, serpi.Credential) ([]T, error)) (*Index[T], error) {
	key := Key(cred, collection)
	c.mu.Lock()
	built, ok := c.indexes[key]
	c.mu.Unlock()
	if ok && c.now().Sub(built.checked) < c.recheck {
		if ix, ok := built.index.(*Index[T]); ok {
			return ix, nil
		}
	}
	raw, err := c.cache.Fetch(ctx, key, c.policy, func(ctx context.Context) ([]byte, error) {
		items, err := fetch(ctx, cred)
		if err != nil {
			return nil, err
		}
		return json.Marshal(items)
	})
	if err != nil {
		return nil, upstream.DeadlineError(upstream.Serpi, "GET "+collection, err,
			"no answer before the request's deadline (the SERPI token may be busy with earlier calls)")
	}
	sum := sha256.Sum256(raw)
	if ok && built.sum == sum {
		if ix, ok := built.index.(*Index[T]); ok {
			c.mu.Lock()
			c.indexes[key] = builtIndex{sum: sum, index: ix, checked: c.now()}
			c.mu.Unlock()
			return ix, nil
		}
	}
	var items []T
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("decode cached %s: %w", collection, err)
	}
	ix := NewIndex(items, spec)
	c.mu.Lock()
	c.indexes[key] = builtIndex{sum: sum, index: ix, checked: c.now()}
	c.mu.Unlock()
	return ix, nil
}
