package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// MinKeyerSecret is the shortest secret NewKeyer accepts, in bytes. Use 32
// random bytes.
const MinKeyerSecret = 16

// keyerDomain separates these HMACs from any other use of the secret.
const keyerDomain = "brilla-gateway/cache/customer-token\x00"

// Keyer derives cache keys for per-customer data from a keyed hash
// (HMAC-SHA256 with a server secret) of the customer's token, so the raw
// token never appears in Redis and one token can never address another's
// entry. All replicas must share the secret to share entries. The zero
// Keyer is not usable.
type Keyer struct {
	secret []byte
}

// NewKeyer returns a Keyer with a copy of secret. It panics when secret is
// shorter than MinKeyerSecret bytes: a guessable secret would let anyone
// who can read Redis test candidate tokens offline.
func NewKeyer(secret []byte) Keyer {
	if len(secret) < MinKeyerSecret {
		panic("cache: NewKeyer needs a secret of at least 16 bytes (32 random bytes recommended)")
	}
	return Keyer{secret: clone(secret)}
}

// Customer returns the key of resource for the customer holding token:
// "brilla:c:" + 64 hex digits of HMAC-SHA256(secret, token) + ":" +
// resource. resource must not contain the token.
func (k Keyer) Customer(token, resource string) string {
	if k.secret == nil {
		panic("cache: zero Keyer; use NewKeyer")
	}
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(keyerDomain))
	m.Write([]byte(token))
	var sum [sha256.Size]byte
	return "brilla:c:" + hex.EncodeToString(m.Sum(sum[:0])) + ":" + resource
}

// Shared returns the key of a resource that is the same for every caller
// (catalog data): "brilla:s:" + resource.
func (k Keyer) Shared(resource string) string {
	return "brilla:s:" + resource
}
