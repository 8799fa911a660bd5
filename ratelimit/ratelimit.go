// Package ratelimit limits requests per client (API key, customer, or IP)
// with counters shared by every replica (go-redis/redis_rate's GCRA on
// Redis; the same algorithm in memory without Redis or while it is away).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/apperr"
	"github.com/serfigas/brilla-gateway/auth"
	"github.com/serfigas/brilla-gateway/internal/degrade"
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
	prefix  string
}

// NewRedis returns a shared Limiter on client with keys under prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit) (bool, time.Duration, error) {
	res, err := r.limiter.Allow(ctx, r.prefix+key, limit)
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
	IP       Limit // per client address, for anonymous callers
}

// Middleware refuses requests over their client's limit with HTTP 429, a
// Retry-After header and a GraphQL error RATE_LIMITED carrying
// retryAfterSeconds. It must run after auth.KeyStore.Middleware so the
// caller is known. A zero Limit disables that kind of limit.
func Middleware(l Limiter, limits Limits, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, limit := clientKey(r, limits)
		if limit.IsZero() {
			next.ServeHTTP(w, r)
			return
		}
		ok, wait, err := l.Allow(r.Context(), key, limit)
		if err != nil {
			// Failing open: an unavailable limiter must not take the API down.
			logger.Warn("rate limiter failed; request let through", "error", err.Error())
			next.ServeHTTP(w, r)
			return
		}
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
			"message":    "too many requests from this client; retry later",
			"extensions": map[string]any{"code": string(apperr.RateLimited), "retryAfterSeconds": max(secs, 1)},
		}}})
	})
}

// clientKey names the caller for limiting: its API key, else its customer
// token (hashed), else its address.
func clientKey(r *http.Request, limits Limits) (string, Limit) {
	p := auth.FromContext(r.Context())
	switch {
	case p.Key != nil:
		return "key:" + p.Key.Name, limits.APIKey
	case p.CustomerToken != "":
		sum := sha256.Sum256([]byte(p.CustomerToken))
		return "cust:" + hex.EncodeToString(sum[:12]), limits.Customer
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + strings.TrimSpace(host), limits.IP
}
