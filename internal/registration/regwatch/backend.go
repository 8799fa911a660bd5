package regwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache"

	"github.com/serfigas/brilla-gateway/graph/model"
)

// backend is where the latest states, the poller leases and the change
// events live: Redis, shared by every replica, or the process's memory.
type backend interface {
	// load returns the stored state of code, nil when none.
	load(ctx context.Context, code string) (*model.Registration, error)
	// save stores reg unless the stored state is final or the same, and
	// then publishes it to every hub.
	save(ctx context.Context, code string, reg *model.Registration) error
	// acquire takes code's poller lease for owner if nobody holds it.
	acquire(ctx context.Context, code, owner string, ttl time.Duration) (bool, error)
	// renew extends owner's lease; false when owner no longer holds it.
	renew(ctx context.Context, code, owner string, ttl time.Duration) (bool, error)
	// release gives owner's lease up and tells the other hubs.
	release(ctx context.Context, code, owner string) error
	// countPoll counts one poll of code and returns how many were counted
	// within the state TTL (this one included), by every hub.
	countPoll(ctx context.Context, code string) (int64, error)
	// close ends the backend's own connections (not a shared client).
	close()
}

// memoryBackend keeps states in the process. Every topic loop is its
// code's only poller (the hub runs one loop per code), so leases always
// succeed; the hub hands saved states to its watchers itself.
type memoryBackend struct {
	ttl time.Duration

	mu     sync.Mutex
	states map[string]memoryState
	polls  map[string]memoryCount
}

type memoryCount struct {
	n       int64
	expires time.Time
}

type memoryState struct {
	reg     *model.Registration
	expires time.Time
}

// maxMemoryStates bounds the in-process state map.
const maxMemoryStates = 10_000

func newMemoryBackend(ttl time.Duration) *memoryBackend {
	return &memoryBackend{ttl: ttl, states: map[string]memoryState{}, polls: map[string]memoryCount{}}
}

func (m *memoryBackend) load(_ context.Context, code string) (*model.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[code]
	if !ok || time.Now().After(s.expires) {
		return nil, nil
	}
	return clone(s.reg), nil
}

func (m *memoryBackend) save(_ context.Context, code string, reg *model.Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if s, ok := m.states[code]; ok && now.Before(s.expires) && Final(s.reg) {
		return nil
	}
	if len(m.states) >= maxMemoryStates {
		for k, s := range m.states {
			if now.After(s.expires) {
				delete(m.states, k)
			}
		}
		for k := range m.states {
			if len(m.states) < maxMemoryStates {
				break
			}
			delete(m.states, k)
		}
	}
	m.states[code] = memoryState{reg: clone(reg), expires: now.Add(m.ttl)}
	return nil
}

func (m *memoryBackend) acquire(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (m *memoryBackend) renew(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (m *memoryBackend) release(context.Context, string, string) error { return nil }

func (m *memoryBackend) countPoll(_ context.Context, code string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	c, ok := m.polls[code]
	if !ok || now.After(c.expires) {
		if len(m.polls) >= maxMemoryStates {
			for k, old := range m.polls {
				if now.After(old.expires) {
					delete(m.polls, k)
				}
			}
		}
		// Past the bound every code is live: its count is lost rather than
		// the map grown, and the code starts a new budget.
		if len(m.polls) >= maxMemoryStates {
			for k := range m.polls {
				delete(m.polls, k)
				break
			}
		}
		c = memoryCount{expires: now.Add(m.ttl)}
	}
	c.n++
	m.polls[code] = c
	return c.n, nil
}

func (m *memoryBackend) close() {}

// redisBackend shares states, leases and events through Redis. Keys, with
// P the prefix:
//
//	P state:<code>  the latest Registration as JSON, PX StateTTL
//	P lease:<code>  the poller's owner token, PX Lease
//	P polls:<code>  how many times Brilla was polled for code, PX StateTTL
//	                from the first poll
//	P events        the channel every change (and lease release) goes to
//
// Each script touches one key, so this works on Redis Cluster too.
type redisBackend struct {
	rdb     redis.UniversalClient
	prefix  string
	ttl     time.Duration
	channel string
	ps      *redis.PubSub
}

func newRedisBackend(rdb redis.UniversalClient, prefix string, ttl time.Duration) *redisBackend {
	b := &redisBackend{rdb: rdb, prefix: prefix, ttl: ttl, channel: prefix + "events"}
	// One connection per replica, whatever the number of watchers; the
	// hub's listen subscribes it (without a channel nothing is dialed yet).
	b.ps = rdb.Subscribe(context.Background())
	return b
}

func (b *redisBackend) stateKey(code string) string { return b.prefix + "state:" + code }
func (b *redisBackend) leaseKey(code string) string { return b.prefix + "lease:" + code }

func (b *redisBackend) load(ctx context.Context, code string) (*model.Registration, error) {
	raw, err := b.rdb.Get(ctx, b.stateKey(code)).Bytes()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("regwatch: read state: %w", err)
	}
	var reg model.Registration
	if err := json.Unmarshal(raw, &reg); err != nil {
		return nil, nil // unreadable (older format): as if absent
	}
	return &reg, nil
}

// saveScript stores ARGV[1] in KEYS[1] for ARGV[2] ms unless the key holds
// the same value (then only its TTL is extended) or a final state. It
// returns 1 when it stored.
var saveScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 0
  end
  local ok, d = pcall(cjson.decode, cur)
  if ok and type(d) == 'table' and (d.state == 'APPROVED' or d.state == 'REJECTED') then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

func (b *redisBackend) save(ctx context.Context, code string, reg *model.Registration) error {
	raw, err := json.Marshal(reg)
	if err != nil {
		return fmt.Errorf("regwatch: encode state: %w", err)
	}
	stored, err := saveScript.Run(ctx, b.rdb, []string{b.stateKey(code)}, raw, b.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("regwatch: store state: %w", err)
	}
	if stored == 0 {
		return nil
	}
	return b.publish(ctx, event{Code: code, Registration: reg})
}

func (b *redisBackend) publish(ctx context.Context, ev event) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("regwatch: encode event: %w", err)
	}
	if err := b.rdb.Publish(ctx, b.channel, raw).Err(); err != nil {
		return fmt.Errorf("regwatch: publish: %w", err)
	}
	return nil
}

// lease is the Redis lease of one poller.
func (b *redisBackend) lease(code string) cache.OwnedLease {
	return cache.OwnedLease{Client: b.rdb, Key: b.leaseKey(code)}
}

func (b *redisBackend) acquire(ctx context.Context, code, owner string, ttl time.Duration) (bool, error) {
	ok, err := b.lease(code).Acquire(ctx, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("regwatch: take lease: %w", err)
	}
	return ok, nil
}

func (b *redisBackend) renew(ctx context.Context, code, owner string, ttl time.Duration) (bool, error) {
	ok, err := b.lease(code).Renew(ctx, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("regwatch: renew lease: %w", err)
	}
	return ok, nil
}

func (b *redisBackend) release(ctx context.Context, code, owner string) error {
	released, err := b.lease(code).Release(ctx, owner)
	if err != nil {
		return fmt.Errorf("regwatch: release lease: %w", err)
	}
	if released {
		return b.publish(ctx, event{Code: code, Released: true})
	}
	return nil
}

// countScript increments KEYS[1], giving it a lifetime of ARGV[1] ms when
// it is new, and returns the count.
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

func (b *redisBackend) countPoll(ctx context.Context, code string) (int64, error) {
	n, err := countScript.Run(ctx, b.rdb, []string{b.prefix + "polls:" + code}, b.ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("regwatch: count poll: %w", err)
	}
	return n, nil
}

func (b *redisBackend) close() { _ = b.ps.Close() }
