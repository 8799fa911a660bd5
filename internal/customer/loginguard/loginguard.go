// Package loginguard limits sign-in attempts (generateToken) per document +
// contract, and per client address (so one address cannot guess through
// many documents): each attempt reserves one of a window's allowance atomically
// BEFORE Brilla is asked, so guesses sent in parallel cannot all slip past
// the check. A success resets the count; an attempt that failed for a
// reason other than wrong credentials (Brilla down) is refunded. Counted
// across every replica (Redis) or per process (memory).
package loginguard

import (
	"container/list"
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
// the rest of those 15 minutes; 50 failures from one address within 15
// minutes lock that address out of every pair for the rest of them (high
// enough for many customers behind one carrier-grade NAT, low enough that
// one address cannot guess its way through many documents).
const (
	DefaultMaxFailures           = 5
	DefaultMaxFailuresPerAddress = 50
	DefaultWindow                = 15 * time.Minute
)

// Attempt is one sign-in attempt: for which document + contract (Subject)
// and from which client address (Addr; "" when unknown, then only the
// pair is counted).
type Attempt struct {
	Subject string
	Addr    string
}

// Verdict is the answer to Begin.
type Verdict struct {
	// Allowed is true when the attempt was reserved.
	Allowed bool
	// Wait is how long until the spent allowance is back (the rest of its
	// window), when not Allowed.
	Wait time.Duration
	// ByAddress is true when the address's allowance is spent rather than
	// the pair's.
	ByAddress bool
}

// Guard counts attempts.
type Guard interface {
	// Begin reserves an attempt against both the pair's and the address's
	// allowance, or reports which one is spent and for how long.
	Begin(ctx context.Context, a Attempt) (Verdict, error)
	// Refund gives back an attempt that says nothing about the
	// credentials (the upstream failed).
	Refund(ctx context.Context, a Attempt) error
	// Reset forgets the pair's failures after a success and gives the
	// address its attempt back (a success is not a failure; the address's
	// earlier failures stay counted).
	Reset(ctx context.Context, a Attempt) error
}

// Subject hashes a document and contract number into a key, so Redis
// never holds them in clear.
func Subject(vat, contract string) string {
	sum := sha256.Sum256([]byte("login\x00" + vat + "\x00" + contract))
	return hex.EncodeToString(sum[:16])
}

// addressKey hashes a client address the same way.
func addressKey(addr string) string {
	sum := sha256.Sum256([]byte("login-addr\x00" + addr))
	return hex.EncodeToString(sum[:16])
}

// Policy is the lockout rule.
type Policy struct {
	MaxFailures           int
	MaxFailuresPerAddress int
	Window                time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = DefaultMaxFailures
	}
	if p.MaxFailuresPerAddress <= 0 {
		p.MaxFailuresPerAddress = DefaultMaxFailuresPerAddress
	}
	if p.Window <= 0 {
		p.Window = DefaultWindow
	}
	return p
}

// DefaultMemoryEntries bounds the memory guard (pairs and addresses
// together, about 100 bytes each).
const DefaultMemoryEntries = 100_000

// Memory is a per-process Guard with a bounded number of entries. When
// full it evicts instead of refusing: first the unlocked entry attempted
// least recently (a made-up document tried once is such noise), and only
// when every entry is a lock, the oldest lock. A flood of made-up
// documents therefore never refuses anybody else's sign-in, and pushes out
// an active lock only after every unlocked entry is gone; making that many
// locks costs MaxFailures attempts each, which the per-address allowance
// spreads over many addresses.
type Memory struct {
	policy   Policy
	capacity int
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry
	open    *list.List               // unlocked entries, least recently attempted first
	locked  *list.List               // locked entries, oldest lock first
}

type entry struct {
	key      string
	limit    int
	attempts int
	until    time.Time // end of the window, set by its first attempt
	onLocked bool      // filed on Memory.locked, else on Memory.open
}

func (e *entry) spent() bool { return e.attempts >= e.limit }

// NewMemory returns a per-process Guard of DefaultMemoryEntries entries.
func NewMemory(p Policy) *Memory { return NewMemorySized(p, DefaultMemoryEntries) }

// NewMemorySized returns a per-process Guard holding at most capacity
// entries (at least 2).
func NewMemorySized(p Policy, capacity int) *Memory {
	return &Memory{policy: p.withDefaults(), capacity: max(capacity, 2), now: time.Now,
		entries: map[string]*list.Element{}, open: list.New(), locked: list.New()}
}

// Begin implements Guard. A window starts at its first attempt. An
// attempt refused for the pair does not count against the address: it
// never reaches Brilla, so it tells the caller nothing.
func (m *Memory) Begin(_ context.Context, a Attempt) (Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	subjectKey, addrKey := "s:"+a.Subject, ""
	if a.Addr != "" {
		addrKey = "a:" + addressKey(a.Addr)
		if e := m.live(addrKey, now); e != nil && e.spent() {
			return Verdict{Wait: e.until.Sub(now), ByAddress: true}, nil
		}
	}
	if e := m.live(subjectKey, now); e != nil && e.spent() {
		return Verdict{Wait: e.until.Sub(now)}, nil
	}
	// The address first: the pair's take then finds it most recent and
	// does not evict it.
	if addrKey != "" {
		m.take(addrKey, m.policy.MaxFailuresPerAddress, now)
	}
	m.take(subjectKey, m.policy.MaxFailures, now)
	return Verdict{Allowed: true}, nil
}

// live returns key's entry unless absent or its window is over (then it
// is dropped).
func (m *Memory) live(key string, now time.Time) *entry {
	el, ok := m.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !now.Before(e.until) {
		m.remove(el)
		return nil
	}
	return e
}

// take counts one attempt on key, creating its entry (evicting one if
// full) and filing it as locked once its allowance is spent.
func (m *Memory) take(key string, limit int, now time.Time) {
	e := m.live(key, now)
	if e == nil {
		if len(m.entries) >= m.capacity {
			m.evict()
		}
		e = &entry{key: key, limit: limit, until: now.Add(m.policy.Window)}
		m.entries[key] = m.open.PushBack(e)
	}
	e.attempts++
	m.file(e)
}

// file moves e to the back of the list its state belongs on.
func (m *Memory) file(e *entry) {
	el := m.entries[e.key]
	m.listOf(e).Remove(el)
	e.onLocked = e.spent()
	m.entries[e.key] = m.listOf(e).PushBack(e)
}

// listOf is the list e is on.
func (m *Memory) listOf(e *entry) *list.List {
	if e.onLocked {
		return m.locked
	}
	return m.open
}

// evict drops the least recently attempted unlocked entry, or when there
// is none, the oldest lock.
func (m *Memory) evict() {
	if el := m.open.Front(); el != nil {
		m.remove(el)
		return
	}
	if el := m.locked.Front(); el != nil {
		m.remove(el)
	}
}

func (m *Memory) remove(el *list.Element) {
	e := el.Value.(*entry)
	delete(m.entries, e.key)
	m.listOf(e).Remove(el)
}

// giveBack returns one attempt to key's entry, unlocking it if that was
// the last of its allowance. It keeps its place otherwise: a refund is
// not a new attempt.
func (m *Memory) giveBack(key string) {
	el, ok := m.entries[key]
	if !ok {
		return
	}
	if e := el.Value.(*entry); e.attempts > 0 {
		e.attempts--
		if e.onLocked {
			m.file(e)
		}
	}
}

// Refund implements Guard.
func (m *Memory) Refund(_ context.Context, a Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.giveBack("s:" + a.Subject)
	if a.Addr != "" {
		m.giveBack("a:" + addressKey(a.Addr))
	}
	return nil
}

// Reset implements Guard.
func (m *Memory) Reset(_ context.Context, a Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.entries["s:"+a.Subject]; ok {
		m.remove(el)
	}
	if a.Addr != "" {
		m.giveBack("a:" + addressKey(a.Addr))
	}
	return nil
}

// Len is the number of entries held (tests and metrics).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
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

func (r *Redis) addressKey(addr string) string { return r.prefix + "login:addr:" + addressKey(addr) }

// reserve runs beginScript on key: true, or false and the wait.
func (r *Redis) reserve(ctx context.Context, key string, limit int) (bool, time.Duration, error) {
	res, err := beginScript.Run(ctx, r.client, []string{key}, r.policy.Window.Milliseconds(), limit).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		return false, 0, fmt.Errorf("loginguard: reserve attempt: %w", err)
	}
	return res[0] == 1, max(time.Duration(res[1])*time.Millisecond, time.Second), nil
}

func (r *Redis) refund(ctx context.Context, key string) error {
	if err := refundScript.Run(ctx, r.client, []string{key}).Err(); err != nil {
		return fmt.Errorf("loginguard: refund: %w", err)
	}
	return nil
}

// Begin implements Guard. The address is reserved first, then the pair;
// when the pair is spent the address's attempt is given back. Each step
// is atomic; the two keys are not reserved in one script because in a
// Redis Cluster they live on different slots.
func (r *Redis) Begin(ctx context.Context, a Attempt) (Verdict, error) {
	if a.Addr != "" {
		ok, wait, err := r.reserve(ctx, r.addressKey(a.Addr), r.policy.MaxFailuresPerAddress)
		if err != nil {
			return Verdict{}, err
		}
		if !ok {
			return Verdict{Wait: wait, ByAddress: true}, nil
		}
	}
	ok, wait, err := r.reserve(ctx, r.key(a.Subject), r.policy.MaxFailures)
	if err != nil || !ok {
		if a.Addr != "" {
			_ = r.refund(ctx, r.addressKey(a.Addr))
		}
		return Verdict{Wait: wait}, err
	}
	return Verdict{Allowed: true}, nil
}

// Refund implements Guard.
func (r *Redis) Refund(ctx context.Context, a Attempt) error {
	if a.Addr != "" {
		if err := r.refund(ctx, r.addressKey(a.Addr)); err != nil {
			return err
		}
	}
	return r.refund(ctx, r.key(a.Subject))
}

// Reset implements Guard.
func (r *Redis) Reset(ctx context.Context, a Attempt) error {
	if err := r.client.Del(ctx, r.key(a.Subject)).Err(); err != nil {
		return fmt.Errorf("loginguard: reset: %w", err)
	}
	if a.Addr != "" {
		return r.refund(ctx, r.addressKey(a.Addr))
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
func (f *Fallback) Begin(ctx context.Context, a Attempt) (Verdict, error) {
	if !f.Gate.TryPrimary() {
		return f.Secondary.Begin(ctx, a)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	v, err := f.Primary.Begin(pctx, a)
	if f.primaryFailed(err) {
		return f.Secondary.Begin(ctx, a)
	}
	return v, nil
}

// Refund implements Guard.
func (f *Fallback) Refund(ctx context.Context, a Attempt) error {
	if f.Gate.Degraded() {
		return f.Secondary.Refund(ctx, a)
	}
	pctx, cancel := f.bounded(ctx)
	defer cancel()
	if f.primaryFailed(f.Primary.Refund(pctx, a)) {
		return f.Secondary.Refund(ctx, a)
	}
	return nil
}

// Reset implements Guard.
func (f *Fallback) Reset(ctx context.Context, a Attempt) error {
	if f.Gate.TryPrimary() {
		pctx, cancel := f.bounded(ctx)
		defer cancel()
		f.primaryFailed(f.Primary.Reset(pctx, a))
	}
	return f.Secondary.Reset(ctx, a)
}
