package metrics

import (
	"sync"
	"sync/atomic"
)

// children remembers the children of metric vectors by their label
// values. A vector's WithLabelValues hashes and validates its labels on
// every call, which is a fifth of what counting a cached answer costs;
// this is one read of an immutable map, without a lock or an allocation
// (a sync.Map would box each key). Every label value is bounded where it
// is chosen (operationLabel, clientLabel, methodLabel, the routes, status
// codes), so the table is bounded too, and a new combination, rare after
// the first minutes, copies it. Children must never be deleted from the
// vectors behind it.
type children[K comparable, M any] struct {
	table   atomic.Pointer[map[K]M]
	mu      sync.Mutex // serializes copies
	resolve func(K) M
}

func newChildren[K comparable, M any](resolve func(K) M) *children[K, M] {
	c := &children[K, M]{resolve: resolve}
	c.table.Store(&map[K]M{})
	return c
}

func (c *children[K, M]) get(k K) M {
	if m, ok := (*c.table.Load())[k]; ok {
		return m
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.table.Load()
	if m, ok := old[k]; ok {
		return m
	}
	m := c.resolve(k)
	next := make(map[K]M, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = m
	c.table.Store(&next)
	return m
}
