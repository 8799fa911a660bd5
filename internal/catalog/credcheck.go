package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
)

// CredentialChecker makes a cheap real SERPI call with a credential and
// returns SERPI's refusal, if any. *serpi.Client implements it.
type CredentialChecker interface {
	CheckCredential(ctx context.Context, cred serpi.Credential) error
}

var _ CredentialChecker = (*serpi.Client)(nil)

// verdict is what this replica last learnt of a credential.
type verdict struct {
	refused error // nil: SERPI accepted it (or could not be asked)
	until   time.Time
}

// Verdicts as stored in the shared cache: never the credential, never
// SERPI's words (they are rebuilt from the kind).
const (
	verdictAccepted     = "accepted"
	verdictUnauthorized = "refused:unauthorized"
	verdictForbidden    = "refused:forbidden"
)

// CheckCredentials makes every read verify the caller's own SERPI
// credential, not only the company's secret key the cache is shared by:
// a credential is checked with one cheap SERPI call (checker) at least
// once per period across all replicas, each replica re-reading the shared
// verdict at least once per recheck. A credential SERPI refuses reads
// nothing more, within period + recheck of its revocation, while healthy
// credentials of the same company keep the shared collections. A walk that
// succeeded with a credential counts as a check on the replica that made
// it. When SERPI cannot be asked (unavailable, busy, timed out), reads go
// on from the cache: the cache exists to outlive SERPI outages, and an
// outage says nothing about the credential. Call it once, before c
// serves; period <= 0 disables the checks.
func (c *Cached) CheckCredentials(checker CredentialChecker, period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checker, c.checkPeriod = checker, period
	c.verdicts = map[string]verdict{}
}

// credentialKeyPrefix starts every credential's key.
const credentialKeyPrefix = "serpi-credential:"

// credentialKey names a credential's verdict in the shared cache by a
// hash: Redis never holds SERPI secrets.
func credentialKey(cred serpi.Credential) string {
	sum := sha256.Sum256([]byte("serpi-credential\x00" + cred.SecretKey + "\x00" + cred.Token))
	return credentialKeyPrefix + hex.EncodeToString(sum[:16])
}

// checksCredentials reports whether reads verify their credential.
func (c *Cached) checksCredentials() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checker != nil && c.checkPeriod > 0
}

// verifyCredential returns SERPI's refusal of cred (an *upstream.Error of
// KindUnauthorized or KindForbidden), or nil.
func (c *Cached) verifyCredential(ctx context.Context, cred serpi.Credential) error {
	c.mu.Lock()
	checker, period, log := c.checker, c.checkPeriod, c.log
	key := credentialKey(cred)
	v, ok := c.verdicts[key]
	c.mu.Unlock()
	if checker == nil || period <= 0 {
		return nil
	}
	now := c.now()
	if ok && now.Before(v.until) {
		return v.refused
	}
	// SECURITY: the verdict is per credential (secret key and token), so
	// one key's accepted token never vouches for another key's token.
	raw, err := c.cache.Fetch(ctx, key, cache.Policy{Fresh: period}, func(ctx context.Context) ([]byte, error) {
		err := checker.CheckCredential(ctx, cred)
		if err == nil {
			return []byte(verdictAccepted), nil
		}
		if ue, ok := upstream.As(err); ok {
			switch ue.Kind {
			case upstream.KindUnauthorized:
				return []byte(verdictUnauthorized), nil
			case upstream.KindForbidden:
				return []byte(verdictForbidden), nil
			}
		}
		return nil, err
	})
	if err != nil {
		if ctx.Err() != nil {
			return upstream.DeadlineError(upstream.Serpi, "check credential", ctx.Err(),
				"no answer before the request's deadline (the SERPI token may be busy with earlier calls)")
		}
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "SERPI credential could not be checked; serving the catalog from cache meanwhile", "error", err)
		c.remember(key, verdict{until: now.Add(c.recheck)})
		return nil
	}
	refused := refusal(string(raw))
	c.remember(key, verdict{refused: refused, until: now.Add(c.recheck)})
	return refused
}

// credentialWalked records that SERPI served a walk with cred just now.
func (c *Cached) credentialWalked(cred serpi.Credential) {
	c.mu.Lock()
	period := c.checkPeriod
	c.mu.Unlock()
	if period > 0 {
		c.remember(credentialKey(cred), verdict{until: c.now().Add(period)})
	}
}

func (c *Cached) remember(key string, v verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verdicts != nil {
		c.verdicts[key] = v
	}
}

// errUnreadableVerdict marks a shared verdict this version cannot read.
var errUnreadableVerdict = errors.New("unreadable credential verdict")

// refusal rebuilds the error of a stored verdict; an unknown verdict is
// treated as a refusal, so a corrupted entry fails closed.
func refusal(v string) error {
	op := "GET " + serpi.PathImpuesto
	switch v {
	case verdictAccepted:
		return nil
	case verdictForbidden:
		return &upstream.Error{Upstream: upstream.Serpi, Op: op, Kind: upstream.KindForbidden,
			Message: "the SERPI token bound to this API key was refused"}
	case verdictUnauthorized:
		return &upstream.Error{Upstream: upstream.Serpi, Op: op, Kind: upstream.KindUnauthorized,
			Message: "the SERPI token bound to this API key was refused"}
	default:
		return &upstream.Error{Upstream: upstream.Serpi, Op: op, Kind: upstream.KindUnauthorized,
			Message: "the SERPI token's check could not be read", Err: errUnreadableVerdict}
	}
}
