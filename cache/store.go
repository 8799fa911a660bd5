package cache

import (
	"context"
	"errors"
	"time"
)

// Entry is a cached value and when it was stored.
type Entry struct {
	Value    []byte
	StoredAt time.Time
}

// Store is a byte store with TTLs.
//
// A ttl <= 0 passed to Set stores the entry without expiry (as Redis does);
// Cache never does that. TryLease requires ttl > 0.
type Store interface {
	// Get returns the entry under key; a miss is (Entry{}, false, nil).
	Get(ctx context.Context, key string) (Entry, bool, error)
	// Set stores e under key for ttl.
	Set(ctx context.Context, key string, e Entry, ttl time.Duration) error
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// TryLease takes a short exclusive lease named key for ttl (SET NX PX on
	// Redis, a map with expiry in memory); it reports whether this caller
	// got it. Used so only one replica refreshes a key. A lease is released
	// by Delete or by expiring.
	TryLease(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Pinger is implemented by stores that can check their backend cheaply
// (Redis). Resilient uses it to probe a primary that is down.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ErrCorruptEntry is returned (wrapped) by Redis.Get when the stored bytes
// are not an entry written by this package. It is a data problem, not an
// availability problem: Resilient passes it through without failing over
// and Cache treats it as a miss.
var ErrCorruptEntry = errors.New("cache: corrupt entry")

var errBadLeaseTTL = errors.New("cache: lease ttl must be positive")
