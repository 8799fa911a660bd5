// Package loginguard limits sign-in attempts (generateToken) per document +
// contract: each attempt reserves one of a window's allowance atomically
// BEFORE Brilla is asked, so guesses sent in parallel cannot all slip past
// the check. A success resets the count; an attempt that failed for a
// reason other than wrong credentials (Brilla down) is refunded. Counted
// across every replica (Redis) or per process (memory).
package loginguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache/degrade"
)

// Defaults of the policy: 5 failures within 15 minutes lock the pair for
// the rest of those 15 minutes.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = 15 * time.Minute
)

// Guard counts attempts. Keys are opaque subjects; callers pass Subject.
type Guard interface {
	// Begin reserves an attempt. When the window's allowance is spent it
	// reports false and how long until the window ends.
	Begin(ctx context.Context, subject string) (bool, time.Duration, error)
	// Refund gives back an attempt that says nothing about the
	// credentials (the upstream failed).
	Refund(ctx context.Context, subject string) error
	// Reset forgets the attempts after a success.
	Reset(ctx context.Context, subject string) error
}

// Subject hashes a document and contract number into a key, so Redis
// never holds them in clear.
func Subject(vat, contract string) string {
	sum := sha256.Sum256([]byte("login\x00" + vat + "\x00" + contract))
	return hex.EncodeToString(sum[:16])
}

// Policy is the lockout rule.
type Policy struct {
	MaxFailures int
	Window      time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = DefaultMaxFailures
	}
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	return p
}

// maxMemorySubjects bounds the memory guard; past it, expired windows are
// pruned and, if still full, the new subject is refused rather than letting
// a flood of made-up documents grow the map.
const maxMemorySubjects = 100_000

// Memory is a per-process Guard.
type Memory struct {
	policy Policy
	now    func() time.Time
	mu     sync.Mutex
	counts map[string]window
}

type window struct {
	attempts int
	until    time.Time
}

// NewMemory returns a per-process Guard.
func NewMemory(p Policy) *Memory {
	return &Memory{policy: p.withDefaults(), now: time.Now, counts: map[string]window{}}
}

// Begin implements Guard. The window starts at the first attempt.
func (m *Memory) Begin(_ context.Context, subject string) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	w, ok := m.counts[subject]
	if ok && !now.Before(w.until) {
		ok = false
	}
	if !ok {
		if len(m.counts) >= maxMemorySubjects {
			m.prune(now)
			if len(m.counts) >= maxMemorySubjects {
				return false, time.Second, nil
			}
		}
		w = window{until: now.Add(m.policy.Window)}
	}
	if w.attempts >= m.policy.MaxFailures {
		return false, w.until.Sub(now), nil
	}
	w.attempts++
	m.counts[subject] = w
	return true, 0, nil
}

func (m *Memory) prune(now time.Time) {
	for k, w := range m.counts {
		if !now.Before(w.until) {
			delete(m.counts, k)
		}
	}
}

// Refund implements Guard.
func (m *Memory) Refund(_ context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.counts[subject]; ok && w.attempts > 0 {
		w.attempts--
		m.counts[subject] = w
	}
	return nil
}

// Reset implements Guard.
func (m *Memory) Reset(_ context.Context, subject string) error {
	m.mu.Lock()
	delete(m.counts, subject)
	m.mu.Unlock()
	return nil
}

// Redis is a Guard shared by every replica: one counter per subject whose
// expiry is set by the first attempt of the window.
type Redis struct {
	client redis.UniversalClient
	prefix string
	policy Policy
}

// NewRedis returns a Guard on client with keys under prefix.
func NewRedis(client redis.UniversalClient, prefix string, p Policy) *Redis {
	return &Redis{client: client, prefix: prefix, policy: p.withDefaults()}
}

func (r *Redis) key(subject string) string { return r.prefix + "login:" + subject }

// beginScript reserves an attempt unless the allowance is spent, starting
// the window on the first one, atomically: no two replicas can both take
// the last attempt. It returns {1, 0} or {0, remaining ms}.
var beginScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if n >= tonumber(ARGV[2]) and ttl > 0 then
  return {0, ttl}
end
n = redis.call('INCR', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {1, 0}`)

// refundScript gives an attempt back without touching the window.
var refundScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0`)

// Begin implements Guard.
func (r *Redis) Begin(ctx context.Context, subject string) (bool, time.Duration, error) {
	res, err := beginScript.Run(ctx, r.client, []string{r.key(subject)}, r.policy.Window.Milliseconds(), r.policy.MaxFailures).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, 0, fmt.Errorf("loginguard: reserve attempt: %w", err)
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, max(time.Duration(res[1])*time.Millisecond, time.Second), nil
}

// Refund implements Guard.
func (r *Redis) Refund(ctx context.Context, subject string) error {
	if err := refundScript.Run(ctx, r.client, []string{r.key(subject)}).Err(); err != nil {
		return fmt.Errorf("loginguard: refund: %w", err)
	}
	return nil
}

// Reset implements Guard.
func (r *Redis) Reset(ctx context.Context, subject string) error {
	if err := r.client.Del(ctx, r.key(subject)).Err(); err != nil {
		return fmt.Errorf("loginguard: reset: %w", err)
	}
	return nil
}

// Fallback uses Primary (Redis) and, while it fails, Secondary (memory):
// sign-ins keep working through a Redis outage with per-process counting.
// Gate decides which (and logs the transitions); each Primary call is
// bounded by OpTimeout.
type Fallback struct {
	Primary, Secondary Guard
	Gate               *degrade.Gate
	// OpTimeout bounds each Primary call (DefaultOpTimeout when 0).
	OpTimeout time.Duration
}

// DefaultOpTimeout bounds a Redis round trip of the Fallback.
const DefaultOpTimeout = 250 * time.Millisecond

func (f *Fallback) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	d := f.OpTimeout
	if d <= 0 {
		d = DefaultOpTimeout
	}
	return context.WithTimeout(ctx, d)
}

// primaryFailed records err; it reports whether to use Secondary.
func (f *Fallback) primaryFailed(err error) bool {
	if err != nil {
		f.Gate.Failed(err)
		return true
	}
	f.Gate.Succeeded()
	return false
}

// Begin implements Guard.
func (f *Fallback) Begin(ctx context.Context, subject string) (bool, time.Duration, error) {
	if !f.Gate.TryPrimary() {
		return f.Secondary.Begin(ctx, subject)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	ok, wait, err := f.Primary.Begin(pctx, subject)
	if f.primaryFailed(err) {
		return f.Secondary.Begin(ctx, subject)
	}
	return ok, wait, nil
}

// Refund implements Guard.
func (f *Fallback) Refund(ctx context.Context, subject string) error {
	if f.Gate.Degraded() {
		return f.Secondary.Refund(ctx, subject)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	if f.primaryFailed(f.Primary.Refund(pctx, subject)) {
		return f.Secondary.Refund(ctx, subject)
	}
	return nil
}

// Reset implements Guard.
func (f *Fallback) Reset(ctx context.Context, subject string) error {
	if f.Gate.TryPrimary() {
		pctx, cancel := f.bounded(ctx)
		defer cancel()
		f.primaryFailed(f.Primary.Reset(pctx, subject))
	}
	return f.Secondary.Reset(ctx, subject)
}
