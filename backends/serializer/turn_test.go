package serializer

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/cache/degrade"
)

// TestSeveralCallsInOneTurn: a Do made with the context an outer fn got
// runs at once inside the outer turn, and no other caller of the key gets
// a turn between the outer fn's calls; a caller with its own context
// still waits. Checked for Local, Redis and Fallback.
func TestSeveralCallsInOneTurn(t *testing.T) {
	serializers := map[string]func(t *testing.T) Serializer{
		"local": func(*testing.T) Serializer { return NewLocal() },
		"redis": func(t *testing.T) Serializer {
			return NewRedis(rawRedis(t), RedisOptions{Poll: 5 * time.Millisecond})
		},
		"fallback": func(t *testing.T) Serializer {
			local := NewLocal()
			return &Fallback{
				Primary:   NewRedis(rawRedis(t), RedisOptions{Poll: 5 * time.Millisecond, Local: local}),
				Secondary: local,
				Gate:      &degrade.Gate{Name: "serializer"},
			}
		},
	}
	for name, build := range serializers {
		t.Run(name, func(t *testing.T) {
			s := build(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var (
				mu    sync.Mutex
				trace []string
			)
			log := func(ev string) { mu.Lock(); trace = append(trace, ev); mu.Unlock() }

			outerHolds := make(chan struct{})
			otherDone := make(chan error, 1)
			err := s.Do(ctx, "k", func(ctx context.Context) error {
				log("outer:read")
				go func() {
					// Another caller, with a context of its own, must wait
					// for the whole outer turn.
					close(outerHolds)
					otherDone <- s.Do(t.Context(), "k", func(context.Context) error { log("other"); return nil })
				}()
				<-outerHolds
				time.Sleep(30 * time.Millisecond) // let the other caller queue
				for _, step := range []string{"outer:write", "outer:readback"} {
					if err := s.Do(ctx, "k", func(context.Context) error { log(step); return nil }); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("outer turn: %v", err)
			}
			if err := <-otherDone; err != nil {
				t.Fatalf("other caller: %v", err)
			}
			want := []string{"outer:read", "outer:write", "outer:readback", "other"}
			if !slices.Equal(trace, want) {
				t.Fatalf("order %v, want %v", trace, want)
			}
		})
	}
}
