package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMemoryEntries is the bound NewMemory uses when given maxEntries < 1.
const DefaultMemoryEntries = 10_000

// Memory is a bounded in-process Store: least recently used entries are
// evicted once it holds maxEntries, and expired entries are dropped when
// read (or evicted like any other). Leases live in the same LRU as
// ordinary entries. Values are copied in and out, so callers may modify
// what they pass or get. Safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used; elements hold *memItem
	items map[string]*list.Element
	now   func() time.Time
}

type memItem struct {
	key     string
	entry   Entry
	expires time.Time // zero: never
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory holding at most maxEntries entries
// (DefaultMemoryEntries when maxEntries < 1).
func NewMemory(maxEntries int) *Memory {
	if maxEntries < 1 {
		maxEntries = DefaultMemoryEntries
	}
	return &Memory{max: maxEntries, ll: list.New(), items: make(map[string]*list.Element), now: time.Now}
}

func (it *memItem) expired(now time.Time) bool {
	return !it.expires.IsZero() && !now.Before(it.expires)
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return Entry{}, false, nil
	}
	it := el.Value.(*memItem)
	if it.expired(m.now()) {
		m.removeElement(el)
		return Entry{}, false, nil
	}
	m.ll.MoveToFront(el)
	return Entry{Value: clone(it.entry.Value), StoredAt: it.entry.StoredAt}, true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, e Entry, ttl time.Duration) error {
	e.Value = clone(e.Value)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.set(key, e, ttl)
	return nil
}

func (m *Memory) set(key string, e Entry, ttl time.Duration) {
	var expires time.Time
	if ttl > 0 {
		expires = m.now().Add(ttl)
	}
	if el, ok := m.items[key]; ok {
		it := el.Value.(*memItem)
		it.entry, it.expires = e, expires
		m.ll.MoveToFront(el)
		return
	}
	m.items[key] = m.ll.PushFront(&memItem{key: key, entry: e, expires: expires})
	for m.ll.Len() > m.max {
		m.removeElement(m.ll.Back())
	}
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if el, ok := m.items[k]; ok {
			m.removeElement(el)
		}
	}
	return nil
}

// TryLease implements Store: the lease is an entry under key that expires
// after ttl.
func (m *Memory) TryLease(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errBadLeaseTTL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok && !el.Value.(*memItem).expired(m.now()) {
		return false, nil
	}
	m.set(key, Entry{StoredAt: m.now()}, ttl)
	return true, nil
}

// Len reports how many entries (including leases and not yet dropped
// expired entries) m holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ll.Len()
}

// Purge drops every entry. Resilient calls it on its fallback when the
// primary comes back, so an outage's copies are never served later.
func (m *Memory) Purge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ll.Init()
	clear(m.items)
}

func (m *Memory) removeElement(el *list.Element) {
	m.ll.Remove(el)
	delete(m.items, el.Value.(*memItem).key)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
