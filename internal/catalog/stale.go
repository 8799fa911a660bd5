package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/serfigas/brilla-gateway/cache"
)

// Writes while Redis is down.
//
// A write's invalidation reaches the other replicas through the bus (Redis
// pub/sub). While Redis is down it cannot, and each replica's shared cache
// has fallen back to its own memory, where a copy read before the write may
// be fresh for the whole freshness period. So:
//
//   - while a replica's cache is degraded, the copies it serves are fresh
//     for at most OutageFresh (then served stale once while one refresh
//     walks SERPI), so its index follows SERPI within OutageFresh + 2 ×
//     recheck (+ the walk);
//   - Invalidate reports an invalidation the bus could not deliver or
//     that not every replica acknowledged as an *UnconfirmedError carrying
//     that bound, for the write's answer to say so;
//   - the keys it could not publish are published again (and deleted
//     from the shared cache again) as soon as the bus is subscribed again
//     after the outage, so a copy stored in Redis before the outage is
//     not served again for a whole freshness period once Redis is back.

// DefaultOutageFresh is how long a collection read while the shared cache
// is down stays fresh.
const DefaultOutageFresh = 5 * time.Second

// maxUnconfirmed bounds the keys remembered for publishing after an
// outage (three collections per SERPI company).
const maxUnconfirmed = 1024

// UnconfirmedError says a write's invalidation may not have reached every
// replica: they may serve the old value for up to MaxStale.
type UnconfirmedError struct {
	MaxStale time.Duration
	Err      error
}

func (e *UnconfirmedError) Error() string {
	return fmt.Sprintf("invalidation not confirmed by every replica (they may serve old values for up to %v): %v", e.MaxStale, e.Err)
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// Fresh returns the loader c walks SERPI with: reads that must not come
// from any cache (a write's own reads) use it directly.
func (c *Cached) Fresh() *Loader { return c.loader }

// MaxStaleElsewhere is how long another replica may serve a collection
// older than a write it was not told of (see the comment above).
func (c *Cached) MaxStaleElsewhere() time.Duration {
	return c.outageFresh() + 2*c.recheck
}

func (c *Cached) outageFresh() time.Duration {
	return min(c.policy.Fresh, DefaultOutageFresh)
}

// policyNow is the cache policy in effect: while the shared cache is
// degraded, copies stay fresh for at most OutageFresh (the total lifetime
// is unchanged, so a stale copy can still be served while SERPI is slow).
func (c *Cached) policyNow() cache.Policy {
	if !c.cache.Degraded() {
		return c.policy
	}
	fresh := c.outageFresh()
	return cache.Policy{Fresh: fresh, Stale: c.policy.Fresh + c.policy.Stale - fresh}
}

// rememberUnconfirmed notes keys whose invalidation could not be published.
func (c *Cached) rememberUnconfirmed(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unconfirmed == nil {
		c.unconfirmed = map[string]struct{}{}
	}
	for _, k := range keys {
		if len(c.unconfirmed) < maxUnconfirmed {
			c.unconfirmed[k] = struct{}{}
		}
	}
}

// republish invalidates and publishes again the keys whose invalidation
// could not be published, once at a time, in the background (it is called
// from the bus's own goroutine, which delivers the acknowledgements a
// publish waits for).
func (c *Cached) republish() {
	c.mu.Lock()
	if len(c.unconfirmed) == 0 || c.republishing || c.attached == nil {
		c.mu.Unlock()
		return
	}
	keys := make([]string, 0, len(c.unconfirmed))
	for k := range c.unconfirmed {
		keys = append(keys, k)
	}
	c.republishing = true
	bus, logger, base := c.bus, c.log, c.attached
	c.mu.Unlock()

	go func() {
		defer func() {
			c.mu.Lock()
			c.republishing = false
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(base, republishTimeout)
		defer cancel()
		if err := c.cache.Invalidate(ctx, keys...); err != nil {
			return // still down; the next reconnection tries again
		}
		for _, k := range keys {
			if err := bus.Publish(ctx, k); err != nil {
				logger.DebugContext(ctx, "catalog invalidation still not published after reconnecting", "error", err)
				return
			}
			c.mu.Lock()
			delete(c.unconfirmed, k)
			c.mu.Unlock()
		}
		logger.InfoContext(ctx, "catalog invalidations missed during a Redis outage published", "keys", len(keys))
	}()
}

// republishTimeout bounds one republish.
const republishTimeout = 5 * time.Second
