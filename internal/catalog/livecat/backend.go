package livecat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache"

	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// backend keeps what the replicas share about each company: who polls
// (the lease), when the last poll was, which collections are wanted, and
// the baseline of each. Redis, or the process's memory.
type backend interface {
	acquire(ctx context.Context, company, owner string, ttl time.Duration) (bool, error)
	renew(ctx context.Context, company, owner string, ttl time.Duration) (bool, error)
	release(ctx context.Context, company, owner string) error

	lastPoll(ctx context.Context, company string) (time.Time, bool, error)
	setLastPoll(ctx context.Context, company string, at time.Time) error

	// want says collections are wanted by subscribers here, for ttl.
	want(ctx context.Context, company string, collections []string, ttl time.Duration) error
	// wanted returns the collections wanted anywhere.
	wanted(ctx context.Context, company string) (map[string]bool, error)

	hasBaseline(ctx context.Context, company, collection string) (bool, error)
	baseline(ctx context.Context, company, collection string) (map[int64]string, bool, error)
	saveBaseline(ctx context.Context, company, collection string, prints map[int64]string) error
	// noteWritten updates the fingerprints of written records in an
	// existing baseline (none: the next poller takes one).
	noteWritten(ctx context.Context, company, collection string, prints map[int64]string) error
}

// memoryBackend keeps it all in the process: its loop is each company's
// only poller, so leases always succeed.
type memoryBackend struct {
	keep time.Duration

	mu    sync.Mutex
	last  map[string]time.Time
	wants map[string]time.Time // company + "\x00" + collection -> until
	bases map[string]memoryBaseline
}

type memoryBaseline struct {
	prints  map[int64]string
	expires time.Time
}

func newMemoryBackend(keep time.Duration) *memoryBackend {
	return &memoryBackend{keep: keep, last: map[string]time.Time{}, wants: map[string]time.Time{}, bases: map[string]memoryBaseline{}}
}

func memKey(company, collection string) string { return company + "\x00" + collection }

func (m *memoryBackend) acquire(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (m *memoryBackend) renew(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (m *memoryBackend) release(_ context.Context, company, _ string) error {
	// Nobody polls this company any more: forget it, so the process does
	// not keep companies nobody follows.
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.last, company)
	for _, c := range catalog.Collections {
		delete(m.bases, memKey(company, c))
		delete(m.wants, memKey(company, c))
	}
	return nil
}

func (m *memoryBackend) lastPoll(_ context.Context, company string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.last[company]
	return t, ok, nil
}

func (m *memoryBackend) setLastPoll(_ context.Context, company string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[company] = at
	return nil
}

func (m *memoryBackend) want(_ context.Context, company string, collections []string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range collections {
		m.wants[memKey(company, c)] = time.Now().Add(ttl)
	}
	return nil
}

func (m *memoryBackend) wanted(_ context.Context, company string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	now := time.Now()
	for _, c := range catalog.Collections {
		if until, ok := m.wants[memKey(company, c)]; ok && now.Before(until) {
			out[c] = true
		}
	}
	return out, nil
}

func (m *memoryBackend) hasBaseline(ctx context.Context, company, collection string) (bool, error) {
	_, ok, err := m.baseline(ctx, company, collection)
	return ok, err
}

func (m *memoryBackend) baseline(_ context.Context, company, collection string) (map[int64]string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bases[memKey(company, collection)]
	if !ok || time.Now().After(b.expires) {
		return nil, false, nil
	}
	out := make(map[int64]string, len(b.prints))
	for id, p := range b.prints {
		out[id] = p
	}
	return out, true, nil
}

func (m *memoryBackend) saveBaseline(_ context.Context, company, collection string, prints map[int64]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := make(map[int64]string, len(prints))
	for id, p := range prints {
		cp[id] = p
	}
	m.bases[memKey(company, collection)] = memoryBaseline{prints: cp, expires: time.Now().Add(m.keep)}
	return nil
}

func (m *memoryBackend) noteWritten(_ context.Context, company, collection string, prints map[int64]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bases[memKey(company, collection)]
	if !ok {
		return nil
	}
	for id, p := range prints {
		b.prints[id] = p
	}
	return nil
}

// redisBackend shares it through Redis. Keys, with P the prefix and C the
// company (a hash of the SERPI secret key, catalog.Company):
//
//	P lease:C           the poller's owner token, PX Lease
//	P last:C            the last poll, Unix milliseconds, PX keep
//	P want:C:<coll>     "1" while a replica has subscribers of it, PX Lease
//	P base:C:<coll>     hash: SERPI id -> fingerprint, PX keep
//
// Each command and script touches one key, so this works on Redis Cluster
// too.
type redisBackend struct {
	rdb    redis.UniversalClient
	prefix string
	keep   time.Duration
}

func (b *redisBackend) leaseKey(company string) string { return b.prefix + "lease:" + company }
func (b *redisBackend) lastKey(company string) string  { return b.prefix + "last:" + company }
func (b *redisBackend) wantKey(company, collection string) string {
	return b.prefix + "want:" + company + ":" + collection
}
func (b *redisBackend) baseKey(company, collection string) string {
	return b.prefix + "base:" + company + ":" + collection
}

// lease is the Redis lease of one poller.
func (b *redisBackend) lease(company string) cache.OwnedLease {
	return cache.OwnedLease{Client: b.rdb, Key: b.leaseKey(company)}
}

func (b *redisBackend) acquire(ctx context.Context, company, owner string, ttl time.Duration) (bool, error) {
	ok, err := b.lease(company).Acquire(ctx, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("livecat: take lease: %w", err)
	}
	return ok, nil
}

func (b *redisBackend) renew(ctx context.Context, company, owner string, ttl time.Duration) (bool, error) {
	ok, err := b.lease(company).Renew(ctx, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("livecat: renew lease: %w", err)
	}
	return ok, nil
}

func (b *redisBackend) release(ctx context.Context, company, owner string) error {
	if _, err := b.lease(company).Release(ctx, owner); err != nil {
		return fmt.Errorf("livecat: release lease: %w", err)
	}
	return nil
}

func (b *redisBackend) lastPoll(ctx context.Context, company string) (time.Time, bool, error) {
	ms, err := b.rdb.Get(ctx, b.lastKey(company)).Int64()
	if err == redis.Nil {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("livecat: read last poll: %w", err)
	}
	return time.UnixMilli(ms), true, nil
}

func (b *redisBackend) setLastPoll(ctx context.Context, company string, at time.Time) error {
	if err := b.rdb.Set(ctx, b.lastKey(company), at.UnixMilli(), b.keep).Err(); err != nil {
		return fmt.Errorf("livecat: store last poll: %w", err)
	}
	return nil
}

func (b *redisBackend) want(ctx context.Context, company string, collections []string, ttl time.Duration) error {
	if len(collections) == 0 {
		return nil
	}
	pipe := b.rdb.Pipeline()
	for _, c := range collections {
		pipe.Set(ctx, b.wantKey(company, c), "1", ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("livecat: say wanted: %w", err)
	}
	return nil
}

func (b *redisBackend) wanted(ctx context.Context, company string) (map[string]bool, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(catalog.Collections))
	for i, c := range catalog.Collections {
		cmds[i] = pipe.Exists(ctx, b.wantKey(company, c))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return map[string]bool{}, fmt.Errorf("livecat: read wanted: %w", err)
	}
	out := map[string]bool{}
	for i, c := range catalog.Collections {
		if cmds[i].Val() == 1 {
			out[c] = true
		}
	}
	return out, nil
}

func (b *redisBackend) hasBaseline(ctx context.Context, company, collection string) (bool, error) {
	n, err := b.rdb.Exists(ctx, b.baseKey(company, collection)).Result()
	if err != nil {
		return false, fmt.Errorf("livecat: read baseline: %w", err)
	}
	return n == 1, nil
}

func (b *redisBackend) baseline(ctx context.Context, company, collection string) (map[int64]string, bool, error) {
	raw, err := b.rdb.HGetAll(ctx, b.baseKey(company, collection)).Result()
	if err != nil {
		return nil, false, fmt.Errorf("livecat: read baseline: %w", err)
	}
	if len(raw) == 0 {
		return nil, false, nil
	}
	out := make(map[int64]string, len(raw))
	for k, v := range raw {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			continue // the empty-collection marker, or not ours
		}
		out[id] = v
	}
	return out, true, nil
}

// emptyMark is the field that keeps an empty collection's baseline (a
// Redis hash without fields does not exist).
const emptyMark = "-"

func (b *redisBackend) saveBaseline(ctx context.Context, company, collection string, prints map[int64]string) error {
	key := b.baseKey(company, collection)
	fields := make([]any, 0, 2*len(prints)+2)
	fields = append(fields, emptyMark, "")
	for id, p := range prints {
		fields = append(fields, strconv.FormatInt(id, 10), p)
	}
	_, err := b.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, key)
		pipe.HSet(ctx, key, fields...)
		pipe.PExpire(ctx, key, b.keep)
		return nil
	})
	if err != nil {
		return fmt.Errorf("livecat: store baseline: %w", err)
	}
	return nil
}

// noteScript sets the field/value pairs of ARGV in KEYS[1] if it exists.
var noteScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return 1
end
return 0
`)

func (b *redisBackend) noteWritten(ctx context.Context, company, collection string, prints map[int64]string) error {
	if len(prints) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(prints))
	for id, p := range prints {
		args = append(args, strconv.FormatInt(id, 10), p)
	}
	if err := noteScript.Run(ctx, b.rdb, []string{b.baseKey(company, collection)}, args...).Err(); err != nil {
		return fmt.Errorf("livecat: update baseline: %w", err)
	}
	return nil
}
