package auth

import "context"

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the caller's network address (the
// connection's, or the one a trusted proxy forwarded), for limits that
// count per address below the HTTP edge (the sign-in guard).
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr returns the caller's address, "" when unknown.
func ClientAddr(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddrKey{}).(string)
	return addr
}
