// Package cache is the gateway's read cache: a Store interface with a
// Redis implementation (go-redis UniversalClient: single node, Sentinel or
// Cluster) and a bounded in-memory one, a resilient Store that falls back
// to memory while Redis is away, and Cache, which adds per-resource
// freshness, stale-while-revalidate with one refresh per key across all
// replicas, and invalidation.
package cache

import _ "github.com/redis/go-redis/v9" // the Redis store's client
