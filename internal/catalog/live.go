package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/serfigas/brilla-gateway/backends/serpi"
)

// What the live catalog (package livecat) needs of the cached catalog: the
// collection as cached, and a walk of SERPI that replaces the cached copy,
// so that the live catalog's periodic read is also the cache's periodic
// refresh and SERPI sees no more reads than the cache alone would make.

// Records is a collection's records, each as the JSON the cache holds it
// in, by SERPI id.
type Records map[int64]json.RawMessage

// Company names the SERPI client company whose catalog cred reads: a hash
// of its secret key (tokens of one secret key are turns on the same data),
// the same that starts the collection's cache keys (see Key). It never
// reveals the secret key.
func Company(cred serpi.Credential) string {
	sum := sha256.Sum256([]byte("serpi-secret\x00" + cred.SecretKey))
	return hex.EncodeToString(sum[:12])
}

// Collections lists the collection names.
var Collections = []string{CollectionBranches, CollectionTaxes, CollectionArticles}

// Check reads collection as any catalog read does (from the cache, walking
// SERPI only when no copy is cached), which also verifies cred (see
// CheckCredentials): a live subscription starts only where a read would
// succeed.
func (c *Cached) Check(ctx context.Context, cred serpi.Credential, collection string) error {
	_, err := c.Snapshot(ctx, cred, collection)
	return err
}

// Snapshot returns collection as the cache holds it (walking SERPI only
// when no copy is cached), for cred.
func (c *Cached) Snapshot(ctx context.Context, cred serpi.Credential, collection string) (Records, error) {
	switch collection {
	case CollectionBranches:
		return snapshot(ctx, c, cred, collection, BranchSpec, c.loader.fetchBranches)
	case CollectionTaxes:
		return snapshot(ctx, c, cred, collection, TaxSpec, c.loader.fetchTaxes)
	case CollectionArticles:
		return snapshot(ctx, c, cred, collection, ArticleSpec, c.loader.fetchArticles)
	}
	return nil, fmt.Errorf("catalog: unknown collection %q", collection)
}

// Refresh walks collection from SERPI and stores the result in the shared
// cache in place of the cached copy, fresh for the freshness period. When
// it differs from the copy this replica's index was built from, every
// replica's index of it is dropped as after a write (through the
// invalidation bus), so the next read everywhere answers from it.
func (c *Cached) Refresh(ctx context.Context, cred serpi.Credential, collection string) (Records, error) {
	switch collection {
	case CollectionBranches:
		return refresh(ctx, c, cred, collection, BranchSpec, c.loader.fetchBranches)
	case CollectionTaxes:
		return refresh(ctx, c, cred, collection, TaxSpec, c.loader.fetchTaxes)
	case CollectionArticles:
		return refresh(ctx, c, cred, collection, ArticleSpec, c.loader.fetchArticles)
	}
	return nil, fmt.Errorf("catalog: unknown collection %q", collection)
}

func snapshot[T any](ctx context.Context, c *Cached, cred serpi.Credential, collection string, spec Spec[T],
	fetch func(context.Context, serpi.Credential) ([]T, error)) (Records, error) {
	ix, err := cachedIndex(ctx, c, cred, collection, spec, fetch)
	if err != nil {
		return nil, err
	}
	return records(ix.Find(Query[T]{}).Items, spec)
}

func refresh[T any](ctx context.Context, c *Cached, cred serpi.Credential, collection string, spec Spec[T],
	fetch func(context.Context, serpi.Credential) ([]T, error)) (Records, error) {
	items, err := fetch(ctx, cred)
	if err != nil {
		return nil, err
	}
	c.credentialWalked(cred)
	// The same encoding as a read's fetch, so that equal collections have
	// equal bytes (and versions) whichever stored them.
	raw, err := json.Marshal(items)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", collection, err)
	}
	key := Key(cred, collection)
	sum := sha256.Sum256(raw)
	c.mu.Lock()
	built, indexed := c.indexes[key]
	changed := !indexed || built.sum != sum
	if changed {
		c.epoch++
		delete(c.indexes, key)
	}
	bus := c.bus
	c.mu.Unlock()
	policy := c.policyNow()
	if err := c.cache.Replace(ctx, key, raw, policy); err != nil {
		return nil, fmt.Errorf("store %s: %w", collection, err)
	}
	if changed && bus != nil {
		// As Invalidate: every replica drops its index and stops its
		// in-flight fetches of the key from storing; one that stored an
		// older read meanwhile is overwritten by the second Replace.
		if err := bus.Publish(ctx, key); err != nil {
			c.rememberUnconfirmed(key)
		}
		if err := c.cache.Replace(ctx, key, raw, policy); err != nil {
			return nil, fmt.Errorf("store %s: %w", collection, err)
		}
	}
	return records(items, spec)
}

func records[T any](items []T, spec Spec[T]) (Records, error) {
	out := make(Records, len(items))
	for _, it := range items {
		raw, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("encode record: %w", err)
		}
		out[spec.ID(it)] = raw
	}
	return out, nil
}
