package serializer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for RedisOptions.
const (
	DefaultRedisPrefix = "gw:ser:"
	DefaultLease       = 5 * time.Second
	DefaultPoll        = 20 * time.Millisecond
)

// ErrStore is returned (wrapped together with the go-redis error) when the
// shared store failed while the caller waited for or took its turn. fn did
// not run. It never matches ErrWaitTimeout, so a Fallback can tell "Redis
// is down" from "the caller ran out of time".
var ErrStore = errors.New("serializer: shared store failed")

// ErrLeaseLost is the cause (context.Cause) of the cancellation of fn's
// context when the lock's lease could not be kept: the lock key vanished
// or was taken by another holder, or renewals kept failing until the lease
// could have expired. From then on another replica may hold the key, so
// fn should stop as soon as it can.
var ErrLeaseLost = errors.New("serializer: lock lease lost")

// RedisOptions configures a Redis serializer. The zero value is usable.
type RedisOptions struct {
	// Prefix starts every Redis key; DefaultRedisPrefix when empty. Keep
	// it free of '{' and '}', or every key lands in the same Cluster slot.
	Prefix string
	// Lease is how long the lock outlives a holder that stops renewing it
	// (a crashed replica); DefaultLease when zero. It is renewed every
	// Lease/3 while fn runs.
	Lease time.Duration
	// Poll is how often a waiter asks Redis whether its turn came (and
	// refreshes its liveness); DefaultPoll when zero. A hand-over between
	// replicas takes up to Poll; within one replica it is immediate.
	Poll time.Duration
	// Logger reports lease losses and failed releases; discarded when nil.
	Logger *slog.Logger
	// Local is the process-local queue callers pass through before Redis;
	// a new one when nil. Share it with a Fallback's Secondary so calls
	// stay one at a time within the process even while Redis is away.
	Local *Local
}

// Redis is a Serializer shared by every process using the same Redis: one
// fn in flight per key across all of them, waiters served in order.
//
// Algorithm. For a key K the Redis keys are, with P the prefix,
//
//	P{K}:lock   string  holder's random token, PX Lease (the turn)
//	P{K}:q      zset    waiting tokens, scored by ticket (arrival order)
//	P{K}:alive  zset    waiting tokens, scored by their liveness deadline
//
// all sharing the hash tag {K}, so every script touches one Cluster slot.
// Inside a process, callers first queue on a Local serializer with the
// same key, so each process has at most one waiter per key in Redis. That
// waiter runs the acquire script once at arrival and then every Poll: it
// refreshes its own deadline (Redis TIME + max(1s, 3*Poll)), enqueues
// itself at the tail if it is not queued (ticket = last ticket + 1), drops
// waiters at the head of the queue whose deadline passed (crashed
// replicas), and takes the lock (SET PX Lease) only if the lock is free and
// it is at the head. While fn runs, a renewal script extends the lease
// every Lease/3 if the lock still holds the caller's token; afterwards (also
// on panic) a release script deletes it if it still holds the token and
// removes the token from the queue. Scripts run via EVALSHA with a
// fallback to EVAL (redis.Script).
//
// Guarantees and limits:
//   - Mutual exclusion holds while the holder keeps its lease. If renewal
//     says the lock is gone, or renewals fail for most of a lease, fn's
//     context is cancelled with cause ErrLeaseLost; fn should stop, but a
//     fn that ignores its context may overlap with the next holder.
//   - A crashed holder blocks the key for at most Lease; a crashed waiter
//     blocks it for at most max(1s, 3*Poll).
//   - Order: callers of one process are served in arrival order; across
//     processes a waiter is served in the order it reached Redis, which is
//     when it reached the head of its process's local queue. So it is fair
//     (no process can barge or starve another) but a process with several
//     callers enters them into Redis one at a time, not all at arrival.
//   - Waiting is bounded by ctx (plus at most one Redis round trip; go-redis
//     bounds a round trip by its read/write timeouts, or by ctx with
//     ContextTimeoutEnabled). On ctx end the waiter leaves the queue and Do
//     returns an error matching ErrWaitTimeout and ctx.Err().
//   - A Redis failure while waiting or acquiring makes Do return an error
//     matching ErrStore (never ErrWaitTimeout) without running fn; the
//     caller decides (see Fallback). A failed release is logged; the lock
//     then frees itself after Lease.
//   - Keys are stored as given (callers pass hashed tokens, never raw
//     secrets). A key that is empty or contains '{' or '}' is replaced by
//     its SHA-256 in the hash tag so all of its Redis keys share one slot.
//   - Needs Redis 5 or newer (scripts call TIME before writing).
type Redis struct {
	client   redis.UniversalClient
	prefix   string
	lease    time.Duration
	renew    time.Duration // lease renewal interval
	poll     time.Duration
	aliveTTL time.Duration // how long a waiter stays live without polling
	logger   *slog.Logger
	local    *Local // one Redis waiter per key per process
}

var _ Serializer = (*Redis)(nil)

// NewRedis returns a Redis serializer using client.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	r := &Redis{
		client: client,
		prefix: opts.Prefix,
		lease:  opts.Lease,
		poll:   opts.Poll,
		logger: opts.Logger,
		local:  opts.Local,
	}
	if r.local == nil {
		r.local = NewLocal()
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisPrefix
	}
	if r.lease <= 0 {
		r.lease = DefaultLease
	}
	r.lease = max(r.lease, 3*time.Millisecond)
	r.renew = r.lease / 3
	if r.poll <= 0 {
		r.poll = DefaultPoll
	}
	r.aliveTTL = max(time.Second, 3*r.poll)
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// redisKeys are the Redis keys of one serializer key, in the order the
// scripts expect them.
type redisKeys struct {
	lock, queue, alive string
}

func (r *Redis) keys(key string) redisKeys {
	tag := key
	if tag == "" || strings.ContainsAny(tag, "{}") {
		sum := sha256.Sum256([]byte(key))
		tag = "#" + hex.EncodeToString(sum[:])
	}
	base := r.prefix + "{" + tag + "}"
	return redisKeys{lock: base + ":lock", queue: base + ":q", alive: base + ":alive"}
}

func (k redisKeys) list() []string { return []string{k.lock, k.queue, k.alive} }

// acquireScript: KEYS lock, queue, alive; ARGV token, lease ms, alive ms.
// Returns 1 when the caller took the lock, 0 when it must wait.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = ARGV[1]
local alive = tonumber(ARGV[3])
redis.call('ZADD', KEYS[3], now + alive, token)
if not redis.call('ZSCORE', KEYS[2], token) then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  local ticket = 1
  if last[2] then ticket = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[2], ticket, token)
end
local head
while true do
  head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head == token then break end
  local deadline = redis.call('ZSCORE', KEYS[3], head)
  if deadline and tonumber(deadline) > now then break end
  redis.call('ZREM', KEYS[2], head)
  redis.call('ZREM', KEYS[3], head)
end
if head ~= token or redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[2], 2 * alive)
  redis.call('PEXPIRE', KEYS[3], 2 * alive)
  return 0
end
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('ZREM', KEYS[2], token)
redis.call('ZREM', KEYS[3], token)
return 1
`)

// renewScript: KEYS lock; ARGV token, lease ms. Compare-and-pexpire:
// returns 1 when the lease was extended, 0 when the lock is not ours.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript: KEYS lock, queue, alive; ARGV token. Removes the token
// from the queue and compare-and-deletes the lock. Used after fn and by a
// waiter that leaves (it may have taken the lock in a call whose reply it
// did not see).
var releaseScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Do implements Serializer. fn's context is cancelled with cause
// ErrLeaseLost if the lease cannot be kept (see Redis). A panic in fn
// releases the turn and then continues unwinding into the caller.
func (r *Redis) Do(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	if holdsTurn(ctx, r, key) {
		return fn(ctx) // a call made within the turn this context holds
	}
	if err := r.local.acquire(ctx, key); err != nil {
		return err
	}
	defer r.local.release(key)

	keys := r.keys(key)
	token := newToken()
	if err := r.acquire(ctx, keys, token); err != nil {
		return err
	}
	fnCtx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	go r.keepLease(fnCtx, cancel, stop, keys, token)
	defer func() {
		close(stop)
		cancel(nil)
		r.release(ctx, keys, token)
	}()
	return fn(withTurn(fnCtx, r, key))
}

// acquire waits in Redis until the caller holds the lock.
func (r *Redis) acquire(ctx context.Context, keys redisKeys, token string) error {
	args := []any{token, r.lease.Milliseconds(), r.aliveTTL.Milliseconds()}
	var timer *time.Timer
	for {
		if err := ctx.Err(); err != nil {
			if timer != nil { // queued in Redis: leave
				r.release(ctx, keys, token)
			}
			return waitError(err)
		}
		got, err := acquireScript.Run(ctx, r.client, keys.list(), args...).Int()
		if err != nil {
			// The script may have run although its reply was lost:
			// leave the queue and drop the lock if we took it.
			r.release(ctx, keys, token)
			if ctxErr := ctx.Err(); ctxErr != nil {
				return waitError(ctxErr)
			}
			return fmt.Errorf("%w: acquire: %w", ErrStore, err)
		}
		if got == 1 {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(r.poll)
			defer timer.Stop()
		} else {
			timer.Reset(r.poll)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}
}

// keepLease renews the lease every r.renew until stop is closed. It
// cancels fn's context with ErrLeaseLost when the lock is no longer ours,
// or when no renewal succeeded for 5/6 of a lease (the next failure could
// let it expire while fn still runs).
func (r *Redis) keepLease(ctx context.Context, cancel context.CancelCauseFunc, stop <-chan struct{}, keys redisKeys, token string) {
	margin := r.lease * 5 / 6
	watchdog := time.AfterFunc(margin, func() {
		cancel(fmt.Errorf("%w: no renewal succeeded in %v", ErrLeaseLost, margin))
	})
	defer watchdog.Stop()
	ticker := time.NewTicker(r.renew)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
		sent := time.Now()
		callCtx, done := context.WithTimeout(context.WithoutCancel(ctx), r.renew)
		ok, err := renewScript.Run(callCtx, r.client, []string{keys.lock}, token, r.lease.Milliseconds()).Int()
		done()
		select {
		case <-stop:
			return // fn returned meanwhile; the outcome no longer matters
		default:
		}
		switch {
		case err != nil:
			r.logger.Warn("serializer: lease renewal failed", "error", err.Error())
		case ok == 1:
			watchdog.Reset(margin - time.Since(sent))
		default:
			r.logger.Warn("serializer: lock lost while fn runs; cancelling it")
			cancel(ErrLeaseLost)
			return
		}
	}
}

// release gives the lock back (if still ours) and leaves the queue. It
// runs even when ctx is over, bounded by the lease (after which the lock
// frees itself anyway).
func (r *Redis) release(ctx context.Context, keys redisKeys, token string) {
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.lease)
	defer cancel()
	if err := releaseScript.Run(callCtx, r.client, keys.list(), token).Err(); err != nil {
		r.logger.Warn("serializer: release failed; the lock frees itself when its lease ends",
			"lease", r.lease, "error", err.Error())
	}
}

// newToken returns a random token identifying one turn of one caller.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
