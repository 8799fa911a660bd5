// Package loginguard counts failed sign-ins (generateToken) per document +
// contract and refuses further attempts for the rest of a window once too
// many failed, across every replica (Redis) or per process (memory).
package loginguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/internal/degrade"
)

// Defaults of the policy: 5 failures within 15 minutes lock the pair for
// the rest of those 15 minutes.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = 15 * time.Minute
)

// Guard counts failures. Keys are opaque subjects; callers pass Subject.
type Guard interface {
	// Blocked reports whether subject is locked and for how long still.
	Blocked(ctx context.Context, subject string) (bool, time.Duration, error)
	// Fail records a failed attempt.
	Fail(ctx context.Context, subject string) error
	// Reset forgets the failures after a success.
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

// Memory is a per-process Guard. Its map is pruned of expired windows on
// every write, so it does not grow without bound.
type Memory struct {
	policy Policy
	now    func() time.Time
	mu     sync.Mutex
	counts map[string]window
}

type window struct {
	failures int
	until    time.Time
}

// NewMemory returns a per-process Guard.
func NewMemory(p Policy) *Memory {
	return &Memory{policy: p.withDefaults(), now: time.Now, counts: map[string]window{}}
}

// Blocked implements Guard.
func (m *Memory) Blocked(_ context.Context, subject string) (bool, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.counts[subject]
	now := m.now()
	if !ok || !now.Before(w.until) || w.failures < m.policy.MaxFailures {
		return false, 0, nil
	}
	return true, w.until.Sub(now), nil
}

// Fail implements Guard. The window starts at the first failure.
func (m *Memory) Fail(_ context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for k, w := range m.counts {
		if !now.Before(w.until) {
			delete(m.counts, k)
		}
	}
	w, ok := m.counts[subject]
	if !ok {
		w = window{until: now.Add(m.policy.Window)}
	}
	w.failures++
	m.counts[subject] = w
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
// expiry is set by the first failure of the window.
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

// failScript increments the counter and starts the window on the first
// failure, atomically, so a crash between INCR and PEXPIRE cannot leave a
// counter that never expires.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`)

// Blocked implements Guard.
func (r *Redis) Blocked(ctx context.Context, subject string) (bool, time.Duration, error) {
	pipe := r.client.Pipeline()
	get := pipe.Get(ctx, r.key(subject))
	ttl := pipe.PTTL(ctx, r.key(subject))
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return false, 0, fmt.Errorf("loginguard: read counter: %w", err)
	}
	n, err := get.Int()
	if err == redis.Nil || (err == nil && n < r.policy.MaxFailures) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("loginguard: counter: %w", err)
	}
	return true, max(ttl.Val(), time.Second), nil
}

// Fail implements Guard.
func (r *Redis) Fail(ctx context.Context, subject string) error {
	if err := failScript.Run(ctx, r.client, []string{r.key(subject)}, r.policy.Window.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("loginguard: count failure: %w", err)
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

// Blocked implements Guard.
func (f *Fallback) Blocked(ctx context.Context, subject string) (bool, time.Duration, error) {
	if !f.Gate.TryPrimary() {
		return f.Secondary.Blocked(ctx, subject)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	blocked, wait, err := f.Primary.Blocked(pctx, subject)
	if f.primaryFailed(err) {
		return f.Secondary.Blocked(ctx, subject)
	}
	return blocked, wait, nil
}

// Fail implements Guard.
func (f *Fallback) Fail(ctx context.Context, subject string) error {
	if !f.Gate.TryPrimary() {
		return f.Secondary.Fail(ctx, subject)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	if f.primaryFailed(f.Primary.Fail(pctx, subject)) {
		return f.Secondary.Fail(ctx, subject)
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
