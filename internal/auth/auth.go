// Package auth identifies who is calling (a Brilla customer by bearer
// token, a back-office client by API key) and answers what they may do.
// Every authorization decision in the gateway goes through Require* here
// and is marked with a SECURITY comment at its call site.
package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Scope is a permission an API key carries.
type Scope string

// The scopes of the contract.
const (
	ScopeCatalogRead  Scope = "catalog:read"
	ScopeCatalogWrite Scope = "catalog:write"
)

// APIKey is a back-office client's key as the gateway knows it: never the
// key itself, only its SHA-256, its scopes and the SERPI credential calls
// made on its behalf use.
type APIKey struct {
	Name   string
	hash   [sha256.Size]byte
	Scopes []Scope
	Serpi  serpi.Credential
	// cacheID is CacheIdentity, computed once by NewKeyStore.
	cacheID string
}

// Has reports whether the key carries scope.
func (k *APIKey) Has(scope Scope) bool { return slices.Contains(k.Scopes, scope) }

// CacheIdentity names what the key may see, for keys of cached answers:
// a hash of the key's hash, its scopes and its SERPI credential, so that
// a key whose scopes or credential change (a new configuration) never
// reads what it could read before, and two keys never share an entry.
// It reveals neither the key nor the credential.
func (k *APIKey) CacheIdentity() string {
	if k.cacheID != "" {
		return k.cacheID
	}
	return k.cacheIdentity()
}

func (k *APIKey) cacheIdentity() string {
	h := sha256.New()
	h.Write([]byte("brilla-gateway/api-key-cache-identity\x00"))
	h.Write(k.hash[:])
	for _, s := range k.Scopes {
		h.Write([]byte("\x00" + string(s)))
	}
	h.Write([]byte("\x00" + k.Serpi.SecretKey + "\x00" + k.Serpi.Token))
	return hex.EncodeToString(h.Sum(nil))
}

// KeyConfig is one API key in the gateway's configuration (API_KEYS).
type KeyConfig struct {
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the key. API keys are long random
	// strings, so an unsalted fast hash is enough to make a leaked
	// configuration useless (the same reasoning GitHub applies to tokens).
	SHA256 string   `json:"sha256"`
	Scopes []string `json:"scopes"`
	// SerpiToken is the SERPI token calls for this key use; empty means
	// the gateway's default SERPI_TOKEN.
	SerpiToken string `json:"serpiToken,omitempty"`
}

// HashKey returns the hex SHA-256 of a plaintext key, for configuration.
func HashKey(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// ParseKeyConfigs reads the JSON array of API_KEYS.
func ParseKeyConfigs(data []byte) ([]KeyConfig, error) {
	var cfgs []KeyConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	const want = "API keys: want a JSON array of {name, sha256, scopes, serpiToken}"
	if err := dec.Decode(&cfgs); err != nil {
		return nil, fmt.Errorf("%s: %w", want, err)
	}
	if cfgs == nil {
		return nil, errors.New(want + ", got null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New(want + ", got more after the array")
	}
	return cfgs, nil
}

// KeyStore finds API keys by their hash.
type KeyStore struct {
	keys []*APIKey
}

// NewKeyStore validates cfgs and binds each key to a SERPI credential made
// of secretKey and the key's token (or defaultToken).
func NewKeyStore(cfgs []KeyConfig, secretKey, defaultToken string) (*KeyStore, error) {
	store := &KeyStore{}
	seen := map[string]bool{}
	for i, c := range cfgs {
		if c.Name == "" {
			return nil, fmt.Errorf("API key #%d: name is required", i+1)
		}
		raw, err := hex.DecodeString(c.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("API key %q: sha256 must be 64 hex characters", c.Name)
		}
		if seen[strings.ToLower(c.SHA256)] {
			return nil, fmt.Errorf("API key %q: the same key is configured twice", c.Name)
		}
		seen[strings.ToLower(c.SHA256)] = true
		if len(c.Scopes) == 0 {
			return nil, fmt.Errorf("API key %q: at least one scope is required", c.Name)
		}
		key := &APIKey{Name: c.Name}
		copy(key.hash[:], raw)
		for _, s := range c.Scopes {
			scope := Scope(s)
			if scope != ScopeCatalogRead && scope != ScopeCatalogWrite {
				return nil, fmt.Errorf("API key %q: unknown scope %q (want %s or %s)", c.Name, s, ScopeCatalogRead, ScopeCatalogWrite)
			}
			key.Scopes = append(key.Scopes, scope)
		}
		token := c.SerpiToken
		if token == "" {
			token = defaultToken
		}
		if secretKey == "" || token == "" {
			return nil, fmt.Errorf("API key %q: no SERPI credential to bind it to (set SERPI_SECRET_KEY and SERPI_TOKEN)", c.Name)
		}
		key.Serpi = serpi.Credential{SecretKey: secretKey, Token: token}
		key.cacheID = key.cacheIdentity()
		store.keys = append(store.keys, key)
	}
	return store, nil
}

// Lookup returns the key whose hash matches plaintext.
func (s *KeyStore) Lookup(plaintext string) (*APIKey, bool) {
	sum := sha256.Sum256([]byte(plaintext))
	var found *APIKey
	// Compare against every key in constant time so timing says nothing
	// about which key (or how much of one) matched.
	for _, k := range s.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k
		}
	}
	return found, found != nil
}

// Principal is who is calling. Both a customer token and an API key may be
// present (an integration acting for a customer); either may be absent.
type Principal struct {
	// CustomerToken is the Brilla bearer token, passed through to Brilla,
	// which alone can verify it.
	CustomerToken string
	// Key is the verified API key, nil when none (or an unknown one) was sent.
	Key *APIKey
	// BadKey is set when an X-Api-Key header was sent but matched no key.
	BadKey bool
	// BadAuthorization is set when an Authorization header was sent but is
	// not "Bearer <token>".
	BadAuthorization bool
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller; the zero Principal is anonymous.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Identify builds the Principal from an Authorization value and an API key
// value, as sent in HTTP headers or a websocket connection_init payload.
func (s *KeyStore) Identify(authorization, apiKey string) Principal {
	var p Principal
	if authorization = strings.TrimSpace(authorization); authorization != "" {
		scheme, token, ok := strings.Cut(authorization, " ")
		token = strings.TrimSpace(token)
		if ok && strings.EqualFold(scheme, "Bearer") && token != "" {
			p.CustomerToken = token
		} else {
			p.BadAuthorization = true
		}
	}
	if apiKey = strings.TrimSpace(apiKey); apiKey != "" {
		if key, ok := s.Lookup(apiKey); ok {
			p.Key = key
		} else {
			p.BadKey = true
		}
	}
	return p
}

// Middleware puts the Principal of each HTTP request in its context.
func (s *KeyStore) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.Identify(r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// ErrNoCustomer is returned by RequireCustomer for anonymous callers.
var ErrNoCustomer = errors.New("no customer token")

// RequireCustomer returns the caller's Brilla token, or UNAUTHENTICATED.
// The token is not verified here: Brilla verifies it on the call it is
// forwarded with, and a forged token fails there as UNAUTHENTICATED.
func RequireCustomer(ctx context.Context) (string, error) {
	p := FromContext(ctx)
	if p.BadAuthorization {
		return "", apperr.New(apperr.Unauthenticated, "the Authorization header must be \"Bearer <token from generateToken>\"")
	}
	if p.CustomerToken == "" {
		return "", apperr.New(apperr.Unauthenticated, "this field needs a customer token: send Authorization: Bearer <token from generateToken>")
	}
	return p.CustomerToken, nil
}

// RequireScope returns the caller's API key if it carries scope: no key
// (or an unknown one) is UNAUTHENTICATED, a key without the scope FORBIDDEN.
func RequireScope(ctx context.Context, scope Scope) (*APIKey, error) {
	p := FromContext(ctx)
	if p.BadKey {
		return nil, apperr.New(apperr.Unauthenticated, "the X-Api-Key header does not match any API key")
	}
	if p.Key == nil {
		return nil, apperr.New(apperr.Unauthenticated, "this field needs an API key with scope %s: send X-Api-Key", scope)
	}
	if !p.Key.Has(scope) {
		return nil, apperr.New(apperr.Forbidden, "API key %q lacks scope %s", p.Key.Name, scope)
	}
	return p.Key, nil
}
