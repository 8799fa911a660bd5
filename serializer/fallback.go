package serializer

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultProbeInterval is how often a degraded Fallback tries Primary again.
const DefaultProbeInterval = 2 * time.Second

// Fallback runs calls through Primary (the Redis serializer) and, when
// Primary fails before fn ran for a reason other than the caller's own
// deadline (Redis unreachable), through Secondary (the local serializer),
// so an outage of Redis costs cross-replica exclusivity for its duration,
// never availability. While degraded it goes straight to Secondary,
// letting one call probe Primary per ProbeInterval. It logs once when it
// starts falling back and once when Primary works again.
type Fallback struct {
	Primary       Serializer
	Secondary     Serializer
	Logger        *slog.Logger
	ProbeInterval time.Duration // DefaultProbeInterval when 0

	degraded  atomic.Bool
	nextProbe atomic.Int64 // unix nanos
}

// Do implements Serializer.
func (f *Fallback) Do(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	if f.degraded.Load() && !f.probeDue() {
		return f.Secondary.Do(ctx, key, fn)
	}
	ran := false
	err := f.Primary.Do(ctx, key, func(ctx context.Context) error {
		ran = true
		return fn(ctx)
	})
	if ran || err == nil || errors.Is(err, ErrWaitTimeout) || ctx.Err() != nil {
		if ran && f.degraded.CompareAndSwap(true, false) && f.Logger != nil {
			f.Logger.Info("serializer: redis is back; calls are serialized across replicas again")
		}
		return err
	}
	if f.degraded.CompareAndSwap(false, true) && f.Logger != nil {
		f.Logger.Warn("serializer: redis unavailable; serializing per process only", "error", err.Error())
	}
	f.scheduleProbe()
	return f.Secondary.Do(ctx, key, fn)
}

func (f *Fallback) interval() time.Duration {
	if f.ProbeInterval > 0 {
		return f.ProbeInterval
	}
	return DefaultProbeInterval
}

func (f *Fallback) scheduleProbe() {
	f.nextProbe.Store(time.Now().Add(f.interval()).UnixNano())
}

// probeDue lets exactly one caller through per interval.
func (f *Fallback) probeDue() bool {
	next := f.nextProbe.Load()
	now := time.Now()
	if now.UnixNano() < next {
		return false
	}
	return f.nextProbe.CompareAndSwap(next, now.Add(f.interval()).UnixNano())
}
