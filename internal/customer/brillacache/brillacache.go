// Package brillacache serves a customer's Brilla reads (summary, credits,
// credit detail, payments) from the shared cache, keyed by a keyed hash of
// the customer's token so that no token is stored and no token can reach
// another customer's entries. Optionally every call carrying one token is
// serialized across replicas, as SERPI calls are.
package brillacache

import (
	"context"
	"strconv"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
)

// Cached serves a brilla.Reader through the shared cache.
type Cached struct {
	next   brilla.Reader
	cache  *cache.Cache
	keys   cache.Keyer
	policy cache.Policy
	// serial, when set, runs every upstream call of one token one at a time.
	serial serializer.Serializer
	now    func() time.Time
}

// Option configures Cached.
type Option func(*Cached)

// WithSerializer serializes upstream calls per customer token.
func WithSerializer(s serializer.Serializer) Option { return func(c *Cached) { c.serial = s } }

// WithClock sets the clock used to check token expiry (tests).
func WithClock(now func() time.Time) Option { return func(c *Cached) { c.now = now } }

// New returns next served through c with policy, keyed by keys.
func New(next brilla.Reader, c *cache.Cache, keys cache.Keyer, policy cache.Policy, opts ...Option) *Cached {
	out := &Cached{next: next, cache: c, keys: keys, policy: policy, now: time.Now}
	for _, o := range opts {
		o(out)
	}
	return out
}

var _ brilla.Reader = (*Cached)(nil)

// CreditsSummary implements brilla.Reader.
func (c *Cached) CreditsSummary(ctx context.Context, token string) (*brilla.Summary, error) {
	return read(ctx, c, token, "summary", func(ctx context.Context) (*brilla.Summary, error) {
		return c.next.CreditsSummary(ctx, token)
	})
}

// Credits implements brilla.Reader.
func (c *Cached) Credits(ctx context.Context, token string) (*brilla.CreditList, error) {
	return read(ctx, c, token, "credits", func(ctx context.Context) (*brilla.CreditList, error) {
		return c.next.Credits(ctx, token)
	})
}

// Credit implements brilla.Reader.
func (c *Cached) Credit(ctx context.Context, token string, loanID int64) (*brilla.CreditDetail, error) {
	return read(ctx, c, token, "credit:"+strconv.FormatInt(loanID, 10), func(ctx context.Context) (*brilla.CreditDetail, error) {
		return c.next.Credit(ctx, token, loanID)
	})
}

// CreditPayments implements brilla.Reader.
func (c *Cached) CreditPayments(ctx context.Context, token string, loanID int64) (*brilla.PaymentList, error) {
	return read(ctx, c, token, "payments:"+strconv.FormatInt(loanID, 10), func(ctx context.Context) (*brilla.PaymentList, error) {
		return c.next.CreditPayments(ctx, token, loanID)
	})
}

func read[T any](ctx context.Context, c *Cached, token, resource string, call func(context.Context) (T, error)) (T, error) {
	if c.serial != nil {
		inner := call
		call = func(ctx context.Context) (T, error) {
			var out T
			err := c.serial.Do(ctx, c.keys.Customer(token, "serial"), func(ctx context.Context) error {
				var err error
				out, err = inner(ctx)
				return err
			})
			return out, err
		}
	}
	// SECURITY: an expired token must not keep reading cached data until
	// the entry ages out; it goes to Brilla, which refuses it. A token
	// whose claims cannot be read is never cached either.
	claims, err := brilla.ParseClaims(token)
	if err != nil || !claims.ExpiresAt.After(c.now()) {
		cache.RecordUncacheable(ctx)
		return call(ctx)
	}
	// An answer built from this read lives no longer than the token, nor
	// than the read would stay fresh here.
	cache.RecordExpiry(ctx, claims.ExpiresAt)
	cache.RecordExpiry(ctx, c.now().Add(c.policy.Fresh))
	// SECURITY: the key is an HMAC of the exact token, so only the holder
	// of this token reads this entry.
	out, err := cache.FetchJSON(ctx, c.cache, c.keys.Customer(token, resource), c.policy, call)
	if err != nil {
		return out, upstream.DeadlineError(upstream.Brilla, "GET "+resource, err, "no answer before the request's deadline")
	}
	return out, nil
}
