package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store on a go-redis UniversalClient (single node, Sentinel or
// Cluster). Every key is prefix+key.
//
// A value is stored as a 9-byte header followed by the raw bytes:
//
//	byte 0     format version (1)
//	bytes 1-8  StoredAt as big-endian Unix nanoseconds (0 = zero time)
//	bytes 9-   Value
//
// Leases are plain keys (prefix+lease name) set with SET NX PX.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var (
	_ Store  = (*Redis)(nil)
	_ Pinger = (*Redis)(nil)
)

const (
	entryVersion   = 1
	entryHeaderLen = 9
)

// NewRedis returns a Store on client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Client returns the underlying client.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Key returns the Redis key that holds key.
func (r *Redis) Key(key string) string { return r.prefix + key }

// Get implements Store. Bytes that do not decode give an error wrapping
// ErrCorruptEntry.
func (r *Redis) Get(ctx context.Context, key string) (Entry, bool, error) {
	b, err := r.client.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("cache: redis get: %w", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return Entry{}, false, err
	}
	return e, true, nil
}

// Set implements Store (ttl <= 0: no expiry).
func (r *Redis) Set(ctx context.Context, key string, e Entry, ttl time.Duration) error {
	if ttl < 0 {
		ttl = 0
	}
	if err := r.client.Set(ctx, r.prefix+key, encodeEntry(e), ttl).Err(); err != nil {
		return fmt.Errorf("cache: redis set: %w", err)
	}
	return nil
}

// Delete implements Store. Keys are deleted one DEL each in a pipeline, so
// keys in different Cluster hash slots never make a CROSSSLOT error.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	var err error
	switch len(keys) {
	case 0:
		return nil
	case 1:
		err = r.client.Del(ctx, r.prefix+keys[0]).Err()
	default:
		_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, r.prefix+k)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("cache: redis del: %w", err)
	}
	return nil
}

// TryLease implements Store with SET key 1 NX PX ttl.
func (r *Redis) TryLease(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errBadLeaseTTL
	}
	err := r.client.SetArgs(ctx, r.prefix+key, "1", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	default:
		return false, fmt.Errorf("cache: redis lease: %w", err)
	}
}

// Ping implements Pinger.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cache: redis ping: %w", err)
	}
	return nil
}

func encodeEntry(e Entry) []byte {
	b := make([]byte, entryHeaderLen+len(e.Value))
	b[0] = entryVersion
	var ns int64
	if !e.StoredAt.IsZero() {
		ns = e.StoredAt.UnixNano()
	}
	binary.BigEndian.PutUint64(b[1:entryHeaderLen], uint64(ns))
	copy(b[entryHeaderLen:], e.Value)
	return b
}

func decodeEntry(b []byte) (Entry, error) {
	if len(b) < entryHeaderLen || b[0] != entryVersion {
		return Entry{}, fmt.Errorf("%w (%d bytes)", ErrCorruptEntry, len(b))
	}
	var e Entry
	if ns := int64(binary.BigEndian.Uint64(b[1:entryHeaderLen])); ns != 0 {
		e.StoredAt = time.Unix(0, ns)
	}
	e.Value = b[entryHeaderLen:]
	return e, nil
}
