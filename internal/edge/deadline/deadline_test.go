package deadline_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/edge/deadline"
)

type key struct{}

func TestDeadlineReportedBeforeAnyUse(t *testing.T) {
	at := time.Now().Add(time.Hour)
	ctx, cancel := deadline.WithDeadline(context.Background(), at)
	defer cancel()
	got, ok := ctx.Deadline()
	if !ok || !got.Equal(at) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, at)
	}
	sooner := time.Now().Add(time.Minute)
	parent, stop := context.WithDeadline(context.Background(), sooner)
	defer stop()
	ctx, cancel = deadline.WithDeadline(parent, at)
	defer cancel()
	if got, _ := ctx.Deadline(); !got.Equal(sooner) {
		t.Fatalf("under a parent with a sooner deadline, Deadline() = %v; want the parent's %v", got, sooner)
	}
}

func TestEnds(t *testing.T) {
	tests := []struct {
		name string
		// run derives the context and ends it in some way; it returns
		// the context and the error it must end with.
		run func(t *testing.T) (context.Context, error)
	}{
		{"deadline passes while waited on", func(t *testing.T) (context.Context, error) {
			ctx, cancel := deadline.WithDeadline(context.Background(), time.Now().Add(20*time.Millisecond))
			t.Cleanup(cancel)
			return ctx, context.DeadlineExceeded
		}},
		{"deadline passed before first use", func(t *testing.T) (context.Context, error) {
			ctx, cancel := deadline.WithDeadline(context.Background(), time.Now().Add(time.Millisecond))
			t.Cleanup(cancel)
			time.Sleep(5 * time.Millisecond)
			if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Err() after the deadline, before any wait = %v; want DeadlineExceeded", err)
			}
			return ctx, context.DeadlineExceeded
		}},
		{"parent canceled", func(t *testing.T) (context.Context, error) {
			parent, stop := context.WithCancel(context.Background())
			ctx, cancel := deadline.WithDeadline(parent, time.Now().Add(time.Hour))
			t.Cleanup(cancel)
			go func() { time.Sleep(10 * time.Millisecond); stop() }()
			return ctx, context.Canceled
		}},
		{"deadline passed, then parent canceled, before first use", func(t *testing.T) (context.Context, error) {
			parent, stop := context.WithCancel(context.Background())
			ctx, cancel := deadline.WithDeadline(parent, time.Now().Add(time.Millisecond))
			t.Cleanup(cancel)
			time.Sleep(5 * time.Millisecond)
			stop()
			return ctx, context.DeadlineExceeded
		}},
		{"canceled, then deadline passed, before first use", func(t *testing.T) (context.Context, error) {
			ctx, cancel := deadline.WithDeadline(context.Background(), time.Now().Add(time.Millisecond))
			cancel()
			time.Sleep(5 * time.Millisecond)
			return ctx, context.Canceled
		}},
		{"canceled before first use", func(t *testing.T) (context.Context, error) {
			ctx, cancel := deadline.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			cancel()
			return ctx, context.Canceled
		}},
		{"canceled after first use", func(t *testing.T) (context.Context, error) {
			ctx, cancel := deadline.WithDeadline(context.Background(), time.Now().Add(time.Hour))
			if ctx.Err() != nil {
				t.Fatalf("Err() before the deadline = %v", ctx.Err())
			}
			cancel()
			return ctx, context.Canceled
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, want := tt.run(t)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done() never closed")
			}
			if err := ctx.Err(); !errors.Is(err, want) {
				t.Fatalf("Err() = %v; want %v", err, want)
			}
		})
	}
}

// Contexts derived from it end with it, and the context package links
// them directly rather than starting a goroutine per derived context to
// watch it.
func TestDerivedContexts(t *testing.T) {
	ctx, cancel := deadline.WithDeadline(context.WithValue(context.Background(), key{}, "v"), time.Now().Add(50*time.Millisecond))
	defer cancel()
	before := runtime.NumGoroutine()
	const n = 200
	children := make([]context.Context, n)
	for i := range children {
		child, stop := context.WithTimeout(context.WithValue(ctx, key{}, i), time.Hour)
		defer stop()
		children[i] = child
	}
	if after := runtime.NumGoroutine(); after-before >= n/2 {
		t.Fatalf("deriving %d contexts started %d goroutines", n, after-before)
	}
	if got := ctx.Value(key{}); got != "v" {
		t.Fatalf("Value = %v; want the parent's value", got)
	}
	for i, child := range children {
		if d, _ := child.Deadline(); d.After(time.Now().Add(time.Minute)) {
			t.Fatalf("child %d's deadline %v is not the request's", i, d)
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("child %d never ended", i)
		}
		if !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("child %d: Err() = %v; want DeadlineExceeded", i, child.Err())
		}
	}
}

// The point of the package: a request that never waits costs two small
// allocations (the context and its cancel func), not a timer, a channel
// and a slot among its parent's children.
func TestUnusedCostsTwoAllocations(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	defer stop()
	allocs := testing.AllocsPerRun(100, func() {
		ctx, cancel := deadline.WithDeadline(parent, time.Now().Add(time.Second))
		_, _ = ctx.Deadline()
		_ = ctx.Value(key{})
		cancel()
	})
	if allocs > 2 {
		t.Fatalf("an unused deadline context cost %v allocations; want 2", allocs)
	}
}

func BenchmarkUnused(b *testing.B) {
	parent, stop := context.WithCancel(context.Background())
	defer stop()
	b.Run("deadline.WithDeadline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := deadline.WithDeadline(parent, time.Now().Add(time.Second))
			cancel()
		}
	})
	b.Run("context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithTimeout(parent, time.Second)
			cancel()
		}
	})
}
