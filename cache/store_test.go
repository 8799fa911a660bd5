package cache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/cache"
)

// TestStoreContract runs the same checks on every Store implementation.
func TestStoreContract(t *testing.T) {
	stores := []struct {
		name string
		new  func(t *testing.T) cache.Store
	}{
		{"memory", func(*testing.T) cache.Store { return cache.NewMemory(100) }},
		{"redis", func(t *testing.T) cache.Store { return redisStore(t) }},
		{"resilient", func(t *testing.T) cache.Store {
			return cache.NewResilient(redisStore(t), cache.NewMemory(100), nil)
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			t.Run("round trip", func(t *testing.T) {
				s := st.new(t)
				at := time.Now().Add(-3 * time.Second)
				for i, v := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{0, 1, 255}, 1000)} {
					key := fmt.Sprint("k", i)
					if err := s.Set(ctx, key, cache.Entry{Value: v, StoredAt: at}, time.Minute); err != nil {
						t.Fatal(err)
					}
					e, ok, err := s.Get(ctx, key)
					if err != nil || !ok {
						t.Fatalf("Get(%s) = %v, %v", key, ok, err)
					}
					if !bytes.Equal(e.Value, v) || !e.StoredAt.Equal(at) {
						t.Fatalf("Get(%s) = %q at %v, want %q at %v", key, e.Value, e.StoredAt, v, at)
					}
				}
			})
			t.Run("miss", func(t *testing.T) {
				e, ok, err := st.new(t).Get(ctx, "absent")
				if err != nil || ok || e.Value != nil || !e.StoredAt.IsZero() {
					t.Fatalf("Get(absent) = %+v, %v, %v; want zero, false, nil", e, ok, err)
				}
			})
			t.Run("overwrite", func(t *testing.T) {
				s := st.new(t)
				_ = s.Set(ctx, "k", cache.Entry{Value: []byte("a"), StoredAt: time.Now()}, time.Minute)
				_ = s.Set(ctx, "k", cache.Entry{Value: []byte("b"), StoredAt: time.Now()}, time.Minute)
				if e, _, _ := s.Get(ctx, "k"); string(e.Value) != "b" {
					t.Fatalf("got %q, want b", e.Value)
				}
			})
			t.Run("expiry", func(t *testing.T) {
				s := st.new(t)
				_ = s.Set(ctx, "k", cache.Entry{Value: []byte("a"), StoredAt: time.Now()}, 50*time.Millisecond)
				if _, ok, _ := s.Get(ctx, "k"); !ok {
					t.Fatal("miss right after Set")
				}
				time.Sleep(120 * time.Millisecond)
				if _, ok, err := s.Get(ctx, "k"); ok || err != nil {
					t.Fatalf("Get after ttl = %v, %v; want a miss", ok, err)
				}
			})
			t.Run("delete", func(t *testing.T) {
				s := st.new(t)
				for _, k := range []string{"a", "b", "c"} {
					_ = s.Set(ctx, k, cache.Entry{Value: []byte(k), StoredAt: time.Now()}, time.Minute)
				}
				if err := s.Delete(ctx, "a", "c", "never-set"); err != nil {
					t.Fatal(err)
				}
				if err := s.Delete(ctx); err != nil {
					t.Fatal(err)
				}
				for k, want := range map[string]bool{"a": false, "b": true, "c": false} {
					if _, ok, _ := s.Get(ctx, k); ok != want {
						t.Errorf("after Delete, Get(%s) found=%v, want %v", k, ok, want)
					}
				}
			})
			t.Run("lease", func(t *testing.T) {
				s := st.new(t)
				got, err := s.TryLease(ctx, "lease:x", 80*time.Millisecond)
				if err != nil || !got {
					t.Fatalf("first TryLease = %v, %v; want true", got, err)
				}
				for range 3 {
					if got, err := s.TryLease(ctx, "lease:x", time.Minute); err != nil || got {
						t.Fatalf("TryLease while held = %v, %v; want false", got, err)
					}
				}
				if got, _ := s.TryLease(ctx, "lease:y", time.Minute); !got {
					t.Fatal("a different lease name must be free")
				}
				time.Sleep(150 * time.Millisecond)
				if got, err := s.TryLease(ctx, "lease:x", time.Minute); err != nil || !got {
					t.Fatalf("TryLease after expiry = %v, %v; want true", got, err)
				}
				if err := s.Delete(ctx, "lease:x"); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.TryLease(ctx, "lease:x", time.Minute); !got {
					t.Fatal("TryLease after Delete (release) must succeed")
				}
				if _, err := s.TryLease(ctx, "lease:z", 0); err == nil {
					t.Fatal("TryLease with ttl 0 must fail")
				}
			})
		})
	}
}

func TestMemoryLRU(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(3)
	set := func(k string) {
		t.Helper()
		if err := m.Set(ctx, k, cache.Entry{Value: []byte(k), StoredAt: time.Now()}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	set("a")
	set("b")
	set("c")
	if _, ok, _ := m.Get(ctx, "a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	set("d") // evicts b, the least recently used
	set("c") // overwrite: no eviction, c becomes most recent
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if _, ok, _ := m.Get(ctx, k); ok != want {
			t.Errorf("Get(%s) found=%v, want %v", k, ok, want)
		}
	}
	for i := range 1000 {
		set(fmt.Sprint("bulk", i))
	}
	if m.Len() != 3 {
		t.Fatalf("Len after 1000 sets = %d, want 3", m.Len())
	}
	m.Purge()
	if m.Len() != 0 {
		t.Fatalf("Len after Purge = %d", m.Len())
	}
	if cache.NewMemory(0) == nil {
		t.Fatal("NewMemory(0) must use the default bound")
	}
}

func TestMemoryExpiryOnRead(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(10)
	_ = m.Set(ctx, "short", cache.Entry{Value: []byte("x")}, 30*time.Millisecond)
	_ = m.Set(ctx, "forever", cache.Entry{Value: []byte("y")}, 0)
	time.Sleep(60 * time.Millisecond)
	if m.Len() != 2 {
		t.Fatalf("expired entries are dropped on read, not before: Len = %d", m.Len())
	}
	if _, ok, _ := m.Get(ctx, "short"); ok {
		t.Fatal("expired entry returned")
	}
	if _, ok, _ := m.Get(ctx, "forever"); !ok {
		t.Fatal("ttl 0 means no expiry")
	}
	if m.Len() != 1 {
		t.Fatalf("Len after reading the expired entry = %d, want 1", m.Len())
	}
}

func TestMemoryCopies(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(10)
	v := []byte("abc")
	_ = m.Set(ctx, "k", cache.Entry{Value: v}, time.Minute)
	v[0] = 'X'
	e, _, _ := m.Get(ctx, "k")
	e.Value[1] = 'Y'
	if e2, _, _ := m.Get(ctx, "k"); string(e2.Value) != "abc" {
		t.Fatalf("stored value changed through a caller's slice: %q", e2.Value)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	ctx := context.Background()
	m := cache.NewMemory(50)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				k := fmt.Sprint(g, ":", i%100)
				_ = m.Set(ctx, k, cache.Entry{Value: []byte(k)}, time.Minute)
				_, _, _ = m.Get(ctx, k)
				_, _ = m.TryLease(ctx, "lease:"+k, time.Millisecond)
				if i%10 == 0 {
					_ = m.Delete(ctx, k)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if m.Len() > 50 {
		t.Fatalf("Len = %d > bound 50", m.Len())
	}
}

func TestRedisEncodingAndTTL(t *testing.T) {
	ctx := context.Background()
	s := redisStore(t)
	rdb := s.Client()
	at := time.Unix(1_700_000_000, 123456789)
	if err := s.Set(ctx, "k", cache.Entry{Value: []byte("value"), StoredAt: at}, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, s.Key("k")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 9+len("value") || !bytes.HasSuffix(raw, []byte("value")) {
		t.Fatalf("stored %d bytes %q; want a 9-byte header and the raw value", len(raw), raw)
	}
	pttl, err := rdb.PTTL(ctx, s.Key("k")).Result()
	if err != nil || pttl <= 80*time.Second || pttl > 90*time.Second {
		t.Fatalf("PTTL = %v, %v; want about 90s", pttl, err)
	}
	if e, _, _ := s.Get(ctx, "k"); !e.StoredAt.Equal(at) || e.StoredAt.UnixNano() != at.UnixNano() {
		t.Fatalf("StoredAt = %v, want %v (to the nanosecond)", e.StoredAt, at)
	}

	// The zero StoredAt survives a round trip.
	_ = s.Set(ctx, "zero", cache.Entry{Value: []byte("v")}, time.Minute)
	if e, ok, err := s.Get(ctx, "zero"); err != nil || !ok || !e.StoredAt.IsZero() {
		t.Fatalf("zero StoredAt: %+v, %v, %v", e, ok, err)
	}

	// Leases expire on the server.
	if got, _ := s.TryLease(ctx, "lease:k", 5*time.Second); !got {
		t.Fatal("lease not taken")
	}
	if pttl, _ := rdb.PTTL(ctx, s.Key("lease:k")).Result(); pttl <= 0 || pttl > 5*time.Second {
		t.Fatalf("lease PTTL = %v, want (0, 5s]", pttl)
	}

	// Bytes written by someone else are an ErrCorruptEntry, not a panic.
	for _, junk := range []string{"", "x", "\x02123456789abc"} {
		rdb.Set(ctx, s.Key("junk"), junk, time.Minute)
		if _, ok, err := s.Get(ctx, "junk"); ok || !errors.Is(err, cache.ErrCorruptEntry) {
			t.Fatalf("Get(junk %q) = %v, %v; want ErrCorruptEntry", junk, ok, err)
		}
	}

	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
