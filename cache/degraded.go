package cache

// Degraded reports whether c's store is serving from its fallback (a
// Resilient store whose Redis is down): values stored now are this
// replica's alone, and other replicas cannot tell it of their writes.
// Asking also lets a degraded store probe its primary when a probe is due.
func (c *Cache) Degraded() bool {
	h, ok := c.store.(interface{ Healthy() bool })
	return ok && !h.Healthy()
}
