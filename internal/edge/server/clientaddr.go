package server

import (
	"net/http"
	"net/netip"

	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
)

// withClientAddr records the caller's address (trusted proxies honoured,
// as for the rate limits) in the request's context, where the sign-in
// guard counts failures per address, and in its access-log line. It runs
// whether or not rate limits are on.
func withClientAddr(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := ratelimit.ClientAddr(r, trusted)
		observability.SetClientAddress(r.Context(), addr)
		ctx := auth.WithClientAddr(r.Context(), addr)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
