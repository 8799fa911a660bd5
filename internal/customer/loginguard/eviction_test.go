package loginguard

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// guards returns a memory guard and, when Redis runs, a Redis guard with
// the policy.
func guards(t *testing.T, p Policy) map[string]Guard {
	t.Helper()
	return map[string]Guard{
		"memory": NewMemory(p),
		"redis":  NewRedis(redistest.Client(t, redisDB), redistest.Prefix(t), p),
	}
}

func TestPerAddressAllowance(t *testing.T) {
	p := Policy{MaxFailures: 3, MaxFailuresPerAddress: 10, Window: time.Minute}
	for name, g := range guards(t, p) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			const guesser = "203.0.113.9"
			// One address guessing ten different documents once each is
			// allowed ten attempts, then refused for every further pair.
			for i := range 10 {
				if v, err := g.Begin(ctx, Attempt{Subject: Subject("doc"+strconv.Itoa(i), "1"), Addr: guesser}); err != nil || !v.Allowed {
					t.Fatalf("attempt %d: %+v %v", i, v, err)
				}
			}
			v, err := g.Begin(ctx, Attempt{Subject: Subject("doc-new", "1"), Addr: guesser})
			if err != nil || v.Allowed || !v.ByAddress || v.Wait <= 50*time.Second || v.Wait > time.Minute {
				t.Fatalf("11th attempt from the address: %+v %v", v, err)
			}
			// Another address is not affected.
			if v, _ := g.Begin(ctx, Attempt{Subject: Subject("doc-new", "1"), Addr: "198.51.100.1"}); !v.Allowed {
				t.Fatalf("another address refused: %+v", v)
			}
			// A success gives the address its attempt back; a refund too.
			if err := g.Reset(ctx, Attempt{Subject: Subject("doc0", "1"), Addr: guesser}); err != nil {
				t.Fatal(err)
			}
			if v, _ := g.Begin(ctx, Attempt{Subject: Subject("doc-x", "1"), Addr: guesser}); !v.Allowed {
				t.Fatalf("after a success: %+v", v)
			}
			if err := g.Refund(ctx, Attempt{Subject: Subject("doc-x", "1"), Addr: guesser}); err != nil {
				t.Fatal(err)
			}
			if v, _ := g.Begin(ctx, Attempt{Subject: Subject("doc-y", "1"), Addr: guesser}); !v.Allowed {
				t.Fatalf("after a refund: %+v", v)
			}
		})
	}
}

// An attempt refused for its pair does not count against the address: it
// never reaches Brilla.
func TestRefusedPairDoesNotChargeTheAddress(t *testing.T) {
	p := Policy{MaxFailures: 2, MaxFailuresPerAddress: 5, Window: time.Minute}
	for name, g := range guards(t, p) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a := Attempt{Subject: Subject("locked", "1"), Addr: "203.0.113.10"}
			for range 2 {
				_, _ = g.Begin(ctx, a)
			}
			for range 20 {
				if v, _ := g.Begin(ctx, a); v.Allowed || v.ByAddress {
					t.Fatalf("locked pair: %+v", v)
				}
			}
			for i := range 3 {
				if v, _ := g.Begin(ctx, Attempt{Subject: Subject("other"+strconv.Itoa(i), "1"), Addr: a.Addr}); !v.Allowed {
					t.Fatalf("the address was charged for refused attempts: %+v", v)
				}
			}
		})
	}
}

// The memory guard stays bounded under a flood of made-up documents and
// evicts noise instead of refusing real customers, keeping active locks
// while there is unlocked noise to evict.
func TestMemoryEviction(t *testing.T) {
	const capacity = 1000
	tests := []struct {
		name string
		run  func(t *testing.T, m *Memory)
	}{
		{"a flood does not refuse a real customer", func(t *testing.T, m *Memory) {
			flood(m, 50*capacity, "")
			if v, _ := m.Begin(context.Background(), Attempt{Subject: Subject("real", "1"), Addr: "198.51.100.2"}); !v.Allowed {
				t.Fatalf("real customer refused: %+v", v)
			}
		}},
		{"an active lock survives the flood with its real wait", func(t *testing.T, m *Memory) {
			locked := Attempt{Subject: Subject("victim-guessed", "1")}
			for range DefaultMaxFailures {
				_, _ = m.Begin(context.Background(), locked)
			}
			m.now = func() time.Time { return time.Unix(1_000_060, 0) } // a minute later
			flood(m, 50*capacity, "")
			v, _ := m.Begin(context.Background(), locked)
			if v.Allowed || v.Wait != DefaultWindow-time.Minute {
				t.Fatalf("lock lost or wrong wait: %+v", v)
			}
		}},
		{"noise is evicted before a lock", func(t *testing.T, m *Memory) {
			locked := Attempt{Subject: Subject("locked", "1")}
			for range DefaultMaxFailures {
				_, _ = m.Begin(context.Background(), locked)
			}
			flood(m, capacity-1, "") // fills it exactly
			flood(m, 1, "more")      // evicts the oldest unlocked, not the lock
			if v, _ := m.Begin(context.Background(), locked); v.Allowed {
				t.Fatal("the lock was evicted before noise")
			}
		}},
		{"with nothing but locks, the oldest lock goes", func(t *testing.T, m *Memory) {
			for i := range capacity + 1 {
				a := Attempt{Subject: Subject("lock"+strconv.Itoa(i), "1")}
				for range DefaultMaxFailures {
					_, _ = m.Begin(context.Background(), a)
				}
			}
			if v, _ := m.Begin(context.Background(), Attempt{Subject: Subject("lock0", "1")}); !v.Allowed {
				t.Fatal("the oldest lock was kept past the bound")
			}
			if v, _ := m.Begin(context.Background(), Attempt{Subject: Subject("lock"+strconv.Itoa(capacity), "1")}); v.Allowed {
				t.Fatal("the newest lock was evicted")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemorySized(Policy{}, capacity)
			m.now = func() time.Time { return time.Unix(1_000_000, 0) }
			tt.run(t, m)
			if n := m.Len(); n > capacity {
				t.Fatalf("%d entries, bound %d", n, capacity)
			}
		})
	}
}

// flood sends n made-up sign-ins, one per document, each from its own
// address (as a botnet would; one address is stopped by its allowance).
func flood(m *Memory, n int, tag string) {
	for i := range n {
		_, _ = m.Begin(context.Background(), Attempt{Subject: Subject("made-up"+tag+strconv.Itoa(i), "0"), Addr: ""})
	}
}
