package registration

import (
	"context"
	"net/http"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// HeaderIdempotencyKey is the HTTP header a client sets to make retries of
// one registration safe.
const HeaderIdempotencyKey = "Idempotency-Key"

// MaxKeyLength bounds an Idempotency-Key (in bytes); a UUID is 36.
const MaxKeyLength = 255

type keyCtx struct{}

// keyState is what the middleware saw of the header.
type keyState struct {
	value string
	bad   bool
}

// Middleware reads the Idempotency-Key header into the request's context
// (see KeyFromContext). A key that is longer than MaxKeyLength, holds
// anything but visible ASCII, or is sent more than once is remembered as
// invalid, and register refuses it as BAD_USER_INPUT: a request that
// asked for idempotency must not silently lose it.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values(HeaderIdempotencyKey)
		if len(values) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		st := keyState{bad: len(values) > 1 || !validKey(values[0])}
		if !st.bad {
			st.value = values[0]
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, st)))
	})
}

// WithKey returns ctx carrying an Idempotency-Key, as Middleware does.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, keyState{value: key, bad: !validKey(key)})
}

// KeyFromContext returns the request's Idempotency-Key ("" when none was
// sent), or a BAD_USER_INPUT error for a malformed one.
func KeyFromContext(ctx context.Context) (string, *apperr.Error) {
	st, _ := ctx.Value(keyCtx{}).(keyState)
	if st.bad {
		return "", apperr.BadInput(HeaderIdempotencyKey,
			"the %s header must be sent once, 1 to %d visible ASCII characters (a UUID is a good key)", HeaderIdempotencyKey, MaxKeyLength)
	}
	return st.value, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7E {
			return false
		}
	}
	return true
}
