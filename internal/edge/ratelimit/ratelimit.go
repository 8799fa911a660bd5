// Package ratelimit limits requests per client (API key, customer, or IP)
// with counters shared by every replica (go-redis/redis_rate's GCRA on
// Redis; the same algorithm in memory without Redis or while it is away).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/auth"
)

// Limit is a rate: Rate requests per Period with bursts of Burst.
type Limit = redis_rate.Limit

// PerMinute is n requests a minute with a burst of n.
func PerMinute(n int) Limit { return redis_rate.PerMinute(n) }

// Limiter decides whether one more request of key fits its limit, and if
// not how long to wait.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit) (bool, time.Duration, error)
}

// Redis is a Limiter shared by every replica.
type Redis struct {
	limiter *redis_rate.Limiter
}

// NewRedis returns a shared Limiter on client whose keys all live under
// prefix (REDIS_PREFIX): prefix + "rate:" + the client's key.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(prefixedScripts{client, prefix})}
}

// prefixedScripts puts every key redis_rate touches under a prefix:
// redis_rate itself always writes "rate:" + key, so without it the keys
// would escape REDIS_PREFIX, and deployments sharing a Redis would share
// their counters.
type prefixedScripts struct {
	redis.UniversalClient
	prefix string
}

func (p prefixedScripts) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + k
	}
	return out
}

// Eval implements redis_rate's client interface.
func (p prefixedScripts) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.Eval(ctx, script, p.keys(keys), args...)
}

// EvalSha implements redis_rate's client interface.
func (p prefixedScripts) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalSha(ctx, sha1, p.keys(keys), args...)
}

// EvalRO implements redis_rate's client interface.
func (p prefixedScripts) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalRO(ctx, script, p.keys(keys), args...)
}

// EvalShaRO implements redis_rate's client interface.
func (p prefixedScripts) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.UniversalClient.EvalShaRO(ctx, sha1, p.keys(keys), args...)
}

// Del implements redis_rate's client interface.
func (p prefixedScripts) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.UniversalClient.Del(ctx, p.keys(keys)...)
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit) (bool, time.Duration, error) {
	res, err := r.limiter.Allow(ctx, key, limit)
	if err != nil {
		return false, 0, err
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// Memory is a per-process Limiter using the same GCRA: each key keeps the
// theoretical arrival time of its next request.
type Memory struct {
	mu  sync.Mutex
	tat map[string]time.Time
	now func() time.Time
}

// NewMemory returns a per-process Limiter.
func NewMemory() *Memory { return &Memory{tat: map[string]time.Time{}, now: time.Now} }

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, limit Limit) (bool, time.Duration, error) {
	interval := limit.Period / time.Duration(max(limit.Rate, 1))
	tolerance := interval * time.Duration(max(limit.Burst, 1))
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.tat) > 100_000 { // bound memory: forget keys already at rest
		for k, t := range m.tat {
			if t.Before(now) {
				delete(m.tat, k)
			}
		}
	}
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	if allowAt := next.Add(-tolerance); allowAt.After(now) {
		return false, allowAt.Sub(now), nil
	}
	m.tat[key] = next
	return true, 0, nil
}

// Fallback uses Primary (Redis) and, while it fails, Secondary (memory);
// Gate decides which (and logs the transitions). Each Primary call is
// bounded to 250ms.
type Fallback struct {
	Primary, Secondary Limiter
	Gate               *degrade.Gate
}

// Allow implements Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, limit Limit) (bool, time.Duration, error) {
	if !f.Gate.TryPrimary() {
		return f.Secondary.Allow(ctx, key, limit)
	}
	pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	ok, wait, err := f.Primary.Allow(pctx, key, limit)
	if err != nil {
		f.Gate.Failed(err)
		return f.Secondary.Allow(ctx, key, limit)
	}
	f.Gate.Succeeded()
	return ok, wait, nil
}

// Limits are the rates per kind of client.
type Limits struct {
	APIKey   Limit // per API key
	Customer Limit // per customer token
	IP       Limit // per client address, for every caller without an API key
}

// Config is the rate limiter of a gateway.
type Config struct {
	Limiter Limiter
	Limits  Limits
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client; without them the connection's address is the client.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

type addrKey struct{}

// Middleware refuses requests over their client's limit with HTTP 429, a
// Retry-After header and a GraphQL error RATE_LIMITED carrying
// retryAfterSeconds. It must run after auth.KeyStore.Middleware so the
// caller is known. It also records the client's address for Operations,
// which limits what a websocket sends after its upgrade.
func (c Config) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r, c.TrustedProxies)
		ctx := context.WithValue(r.Context(), addrKey{}, addr)
		r = r.WithContext(ctx)
		ok, wait := c.allow(ctx, auth.FromContext(ctx), addr)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		apperr.WriteRefusal(w, "", http.StatusTooManyRequests,
			&apperr.Error{Code: apperr.RateLimited, Message: refusal, RetryAfter: time.Duration(retrySeconds(wait)) * time.Second})
	})
}

const refusal = "too many requests from this client; retry later"

func retrySeconds(wait time.Duration) int { return max(int(math.Ceil(wait.Seconds())), 1) }

// allow charges every bucket the caller draws on: an API key its own; any
// other caller its address (so a made-up bearer token buys no extra
// budget) and, with a customer token, that token's too. A failing limiter
// lets the request through: it must not take the API down.
func (c Config) allow(ctx context.Context, p auth.Principal, addr string) (bool, time.Duration) {
	type charge struct {
		key   string
		limit Limit
	}
	var charges []charge
	if p.Key != nil {
		charges = append(charges, charge{"key:" + p.Key.Name, c.Limits.APIKey})
	} else {
		charges = append(charges, charge{"ip:" + addr, c.Limits.IP})
		if p.CustomerToken != "" {
			sum := sha256.Sum256([]byte(p.CustomerToken))
			charges = append(charges, charge{"cust:" + hex.EncodeToString(sum[:12]), c.Limits.Customer})
		}
	}
	for _, ch := range charges {
		if ch.limit.IsZero() {
			continue
		}
		ok, wait, err := c.Limiter.Allow(ctx, ch.key, ch.limit)
		if err != nil {
			if c.Logger != nil {
				c.Logger.Warn("rate limiter failed; request let through", "error", err.Error())
			}
			continue
		}
		if !ok {
			return false, wait
		}
	}
	return true, 0
}

// Operations is a gqlgen operation interceptor that charges every
// operation arriving over a stream marked with MarkStream (a websocket:
// its upgrade was one HTTP request, its operations are many) against the
// same buckets as an HTTP request of that caller.
type Operations struct{ Config Config }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = Operations{}

// ExtensionName implements graphql.HandlerExtension.
func (Operations) ExtensionName() string { return "RateLimitOperations" }

// Validate implements graphql.HandlerExtension.
func (Operations) Validate(graphql.ExecutableSchema) error { return nil }

type streamKey struct{}

// MarkStream marks ctx as a websocket connection's, whose operations
// Operations limits one by one.
func MarkStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

// InterceptOperation implements graphql.OperationInterceptor.
func (o Operations) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if marked, _ := ctx.Value(streamKey{}).(bool); !marked {
		return next(ctx)
	}
	addr, _ := ctx.Value(addrKey{}).(string)
	if ok, wait := o.Config.allow(ctx, auth.FromContext(ctx), addr); !ok {
		err := gqlerror.Errorf("%s", refusal)
		err.Extensions = map[string]any{"code": string(apperr.RateLimited), "retryAfterSeconds": retrySeconds(wait)}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
	}
	return next(ctx)
}

// ClientAddr is the caller's address as the per-address limits see it
// (see clientAddr).
func ClientAddr(r *http.Request, trusted []netip.Prefix) string { return clientAddr(r, trusted) }

// IPv6PrefixBits is how much of an IPv6 address identifies one client:
// a subscriber is routinely given a whole /64, so counting each /128 on
// its own would hand one client 2^64 budgets.
const IPv6PrefixBits = 64

// clientAddr is the caller's address for per-address limits: the
// connection's, or, when the connection comes from a trusted proxy, the
// right-most address of X-Forwarded-For that is not itself a trusted
// proxy; an IPv6 address stands for its /64 (IPv6PrefixBits).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	return limitIdentity(forwardedAddr(r, trusted))
}

// limitIdentity maps an address to what the limits count: IPv4 (and
// IPv4-mapped IPv6) addresses as they are, IPv6 by their /64.
func limitIdentity(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a.Is4() {
		// ParseAddr takes only the canonical dotted quad (no leading
		// zeros, no zone), so the text is already what String gives.
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, IPv6PrefixBits).Masked().String()
}

func forwardedAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if _, err := netip.ParseAddr(hop); err != nil {
			break // garbage: trust nothing further left
		}
		if !isTrusted(hop) {
			return hop
		}
	}
	return host
}

// ParsePrefixes reads a comma-separated list of CIDRs or addresses.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
