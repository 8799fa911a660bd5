// Package cache is the gateway's read cache: a Store interface with a
// Redis implementation (go-redis UniversalClient: single node, Sentinel or
// Cluster) and a bounded in-memory one, a resilient Store that falls back
// to memory while Redis is away, and Cache, which adds per-resource
// freshness, stale-while-revalidate with one refresh per key across all
// replicas, and invalidation.
//
// Typical wiring:
//
//	client, err := cache.NewClientFromURL(os.Getenv("REDIS_URL"))
//	store := cache.NewResilient(cache.NewRedis(client, "gw:"), cache.NewMemory(10_000), logger)
//	c := cache.New(store, logger)
//	defer c.Close()
//	keys := cache.NewKeyer(secret)
//	b, err := c.Fetch(ctx, keys.Customer(token, "credits"), cache.Policy{Fresh: time.Minute, Stale: 5 * time.Minute}, fetchCredits)
//
// Keys for per-customer data must come from Keyer, which never puts a raw
// token into a key.
package cache
