package serializer

import (
	"context"
	"errors"

	"github.com/serfigas/brilla-gateway/cache/degrade"
)

// Fallback runs calls through Primary (the Redis serializer) and, when
// Primary fails before fn ran for a reason other than the caller's own
// deadline (Redis unreachable), through Secondary (the local serializer),
// so an outage of Redis costs cross-replica exclusivity for its duration,
// never availability. Gate decides which to use and logs the transitions:
// while degraded calls go straight to Secondary, one per interval probing
// Primary.
type Fallback struct {
	Primary   Serializer
	Secondary Serializer
	Gate      *degrade.Gate
}

// Do implements Serializer.
func (f *Fallback) Do(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	if holdsTurn(ctx, f, key) {
		// A call within a turn this context holds, whichever of Primary
		// and Secondary granted it: a nested call must not switch.
		return fn(ctx)
	}
	inTurn := func(ctx context.Context) error { return fn(withTurn(ctx, f, key)) }
	if !f.Gate.TryPrimary() {
		return f.Secondary.Do(ctx, key, inTurn)
	}
	ran := false
	err := f.Primary.Do(ctx, key, func(ctx context.Context) error {
		ran = true
		return inTurn(ctx)
	})
	if ran || err == nil || errors.Is(err, ErrWaitTimeout) || ctx.Err() != nil {
		if ran {
			f.Gate.Succeeded()
		}
		return err
	}
	f.Gate.Failed(err)
	return f.Secondary.Do(ctx, key, inTurn)
}
