package cache

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Reads records what one GraphQL operation read from the gateway's
// caches, so that the operation's answer can itself be cached exactly as
// long as everything it was built from stays current (see
// internal/edge/respcache). The readers of cached data (the catalog index,
// the customer cache) report into it through RecordRead, RecordExpiry and
// RecordUncacheable; without a Reads in the context those calls do
// nothing.
//
// A Reads is safe for concurrent use: the resolvers of one operation run
// in parallel.
type Reads struct {
	mu          sync.Mutex
	deps        map[string]string
	until       time.Time
	uncacheable bool
}

// Dependency is one source an answer was built from: the cache key of
// the source and the version of it that was read.
type Dependency struct {
	Key     string
	Version string
}

type readsKey struct{}

// WithReads returns ctx carrying a new, empty Reads.
func WithReads(ctx context.Context) (context.Context, *Reads) {
	r := &Reads{}
	return context.WithValue(ctx, readsKey{}, r), r
}

func readsFrom(ctx context.Context) *Reads {
	r, _ := ctx.Value(readsKey{}).(*Reads)
	return r
}

// RecordRead notes that the operation in ctx read version of the source
// cached under key. An answer built from it stays valid while version is
// the source's current version.
func RecordRead(ctx context.Context, key, version string) {
	r := readsFrom(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deps == nil {
		r.deps = make(map[string]string, 2)
	}
	if prev, ok := r.deps[key]; ok && prev != version {
		// Two versions of one source in one answer: it is a mix of old and
		// new data and no version check can tell when it is current.
		r.uncacheable = true
	}
	r.deps[key] = version
}

// RecordExpiry notes that what the operation in ctx read must not be
// served after t (a customer token's expiry, the customer cache's
// freshness).
func RecordExpiry(ctx context.Context, t time.Time) {
	r := readsFrom(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.until.IsZero() || t.Before(r.until) {
		r.until = t
	}
}

// RecordUncacheable notes that the operation in ctx read something whose
// answer must never be cached (data read around the cache).
func RecordUncacheable(ctx context.Context) {
	r := readsFrom(ctx)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.uncacheable = true
	r.mu.Unlock()
}

// Snapshot returns what was recorded: the dependencies sorted by key, the
// latest instant an answer may be served (zero: no bound) and whether the
// answer must not be cached at all.
func (r *Reads) Snapshot() (deps []Dependency, until time.Time, uncacheable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	deps = make([]Dependency, 0, len(r.deps))
	for k, v := range r.deps {
		deps = append(deps, Dependency{Key: k, Version: v})
	}
	slices.SortFunc(deps, func(a, b Dependency) int { return strings.Compare(a.Key, b.Key) })
	return deps, r.until, r.uncacheable
}
