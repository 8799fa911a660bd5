package cache

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// OwnedLease is a Redis key held by one owner at a time for a while (one
// poller per registration, one per SERPI company across replicas): taken
// with SET NX PX, renewed and released only by the owner that holds it,
// so a replica whose lease expired and was taken by another never
// extends or deletes the new owner's.
type OwnedLease struct {
	Client redis.UniversalClient
	Key    string
}

// renewLeaseScript extends KEYS[1] by ARGV[2] ms if it still holds ARGV[1].
var renewLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseLeaseScript deletes KEYS[1] if it still holds ARGV[1].
var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Acquire takes the lease for owner for ttl; it reports whether it did.
func (l OwnedLease) Acquire(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	return l.Client.SetNX(ctx, l.Key, owner, ttl).Result()
}

// Renew extends owner's lease to ttl from now; false when owner no longer
// holds it.
func (l OwnedLease) Renew(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	n, err := renewLeaseScript.Run(ctx, l.Client, []string{l.Key}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Release gives owner's lease up; false when owner did not hold it.
func (l OwnedLease) Release(ctx context.Context, owner string) (bool, error) {
	n, err := releaseLeaseScript.Run(ctx, l.Client, []string{l.Key}, owner).Int()
	return n == 1, err
}
