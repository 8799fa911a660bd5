// Package registration validates credit registrations, checks their
// attachments by content, and submits them to Brilla at most once per
// registration: retries with the same Idempotency-Key, or with the same
// input within a window, get the first registration's result back (or,
// when Brilla's answer to it was lost, an UnknownOutcomeError instead of a
// second POST), across every replica sharing the cache store.
package registration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Defaults of Config.
const (
	// DefaultKeyWindow is how long an Idempotency-Key is remembered.
	DefaultKeyWindow = 24 * time.Hour
	// DefaultInputWindow is how long an identical input (without a key, or
	// with another key) is answered with the first result.
	DefaultInputWindow = 10 * time.Minute
	// DefaultInFlight is how long a registration in progress holds its
	// lease, and how long an identical request waits for its result.
	DefaultInFlight = 15 * time.Second
)

// Poll bounds of a request waiting for an identical one in progress.
const (
	firstPoll = 20 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// Registrar is Brilla's register call.
type Registrar interface {
	Register(ctx context.Context, req brilla.RegisterRequest) (*brilla.RegisterResponse, error)
}

// Config configures a Service.
type Config struct {
	// Store holds idempotency records and in-flight leases: the shared
	// cache store (Redis, so that it holds across replicas, with its
	// memory fallback), or memory alone.
	Store cache.Store
	// Secret keys the HMAC that turns keys and inputs into store keys, so
	// that no personal data is stored in clear. Replicas sharing Store must
	// share it.
	Secret []byte
	// Limits bound the attachments.
	Limits Limits
	// KeyWindow is how long an Idempotency-Key is remembered
	// (DefaultKeyWindow when zero).
	KeyWindow time.Duration
	// InputWindow is how long an identical input is answered with the
	// first result (DefaultInputWindow when zero).
	InputWindow time.Duration
	// InFlight is the lease of a registration being submitted: it must
	// outlast the upstream call (which is cut at InFlight less a second),
	// and is also how long an identical request waits for the result
	// before giving up with RATE_LIMITED (DefaultInFlight when zero).
	InFlight time.Duration
	// Now is the clock for date checks; time.Now when nil.
	Now func() time.Time
	// Logger receives store failures; nil discards them.
	Logger *slog.Logger
}

// Service validates and submits registrations. Safe for concurrent use.
type Service struct {
	cfg       Config
	validator Validator
	logger    *slog.Logger
}

// New returns a Service. It panics without a store or secret: those are
// wiring mistakes, not runtime conditions.
func New(cfg Config) *Service {
	if cfg.Store == nil || len(cfg.Secret) == 0 {
		panic("registration: Config.Store and Config.Secret are required")
	}
	if cfg.KeyWindow <= 0 {
		cfg.KeyWindow = DefaultKeyWindow
	}
	if cfg.InputWindow <= 0 {
		cfg.InputWindow = DefaultInputWindow
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	cfg.Limits = cfg.Limits.withDefaults()
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, validator: Validator{Limits: cfg.Limits, Now: cfg.Now}, logger: logger}
}

// Result is a registration's answer.
type Result struct {
	TrackingCode string `json:"trackingCode"`
	// RequestID is Brilla's request id, nil when Brilla sent none.
	RequestID *int64 `json:"requestId,omitempty"`
	// State is Brilla's state ("pending").
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// Replayed is true when the answer is an earlier registration's,
	// returned again instead of registering twice.
	Replayed bool `json:"-"`
}

// record is what the store keeps for a registration: its input's
// fingerprint (to tell a retry from a reused key) and its result, or, when
// Brilla's answer was lost, Outcome "unknown" and when it was sent. It
// holds no personal data.
type record struct {
	Fingerprint string    `json:"fp"`
	Outcome     string    `json:"outcome,omitempty"`
	At          time.Time `json:"at,omitzero"`
	Result
}

// unknown reports whether the record is of a registration whose outcome
// is unknown.
func (r *record) unknown() bool { return r.Outcome == outcomeUnknown }

// healthReporter is implemented by a store that can be degraded: the
// shared store (cache.Resilient) reports false while Redis is away and it
// serves from this replica's memory.
type healthReporter interface{ Healthy() bool }

// storeRetryAfter is how soon a registration refused during a store
// outage is worth retrying (cache.Resilient probes Redis every 2s).
const storeRetryAfter = 3 * time.Second

// storeUnavailable refuses a registration while the store is degraded.
func storeUnavailable() *apperr.Error {
	return &apperr.Error{Code: apperr.UpstreamUnavailable, RetryAfter: storeRetryAfter,
		Message: "registrations are paused for a moment: the gateway cannot reach the store that tells a retry from a new registration " +
			"and will not risk registering twice; nothing was sent to Brilla, retry in a few seconds"}
}

// Register validates in and submits it to Brilla through up, unless the
// same registration was already submitted:
//
//   - With an Idempotency-Key (KeyFromContext), a key seen within
//     KeyWindow returns that registration's result; the same key with a
//     different input is BAD_USER_INPUT.
//   - The same input (its normalized fields and its attachments' content)
//     seen within InputWindow returns that registration's result, with or
//     without a key.
//   - Two identical requests at once, on any replicas: one takes a lease
//     and calls Brilla, the other waits (polling the store) for its result
//     up to InFlight, then gets RATE_LIMITED ("in progress"). If the first
//     fails, a waiter takes the lease and tries itself.
//
// Successes are remembered, and so are unknown outcomes: when the request
// was sent and no definite answer came back (brilla.OutcomeUnknown: a
// timeout after sending, a connection lost mid-answer, a 502/504 from a
// gateway in front of Brilla, an unreadable 2xx), the attempt and every
// retry within the same windows get an *UnknownOutcomeError
// (UPSTREAM_UNAVAILABLE, outcome UNKNOWN) and nothing is sent again. Only
// a definite failure (not sent at all, or a refusal Brilla answered) is
// forgotten, so that a retry calls Brilla again. The upstream call is not
// cut short when the caller goes away, so that its result is stored for
// the retry.
//
// While the store reports itself degraded (Redis away: it could not see
// what other replicas, or this one before the outage, recorded), register
// refuses with UPSTREAM_UNAVAILABLE and a Retry-After instead of risking a
// second registration.
//
// Invalid input is returned as Problems, before anything reaches Brilla.
func (s *Service) Register(ctx context.Context, up Registrar, in Input) (*Result, error) {
	checked, problems := s.validator.Validate(in)
	key, keyErr := KeyFromContext(ctx)
	if keyErr != nil {
		problems = append(problems, keyErr)
	}
	if len(problems) > 0 {
		return nil, problems
	}

	fp := s.fingerprint(checked)
	withKey := key != ""
	inputKey := "reg:in:" + fp
	leases := []string{"reg:lease:in:" + fp}
	var keyKey string
	if key != "" {
		kh := s.mac("idempotency-key", []byte(key))
		keyKey = "reg:key:" + kh
		leases = append(leases, "reg:lease:key:"+kh)
	}

	deadline := time.Now().Add(s.cfg.InFlight)
	poll := firstPoll
	for {
		if res, err := s.lookup(ctx, fp, inputKey, keyKey, withKey); res != nil || err != nil {
			return res, err
		}
		held, err := s.acquire(ctx, leases)
		if err != nil {
			return nil, err
		}
		if held {
			// Look again under the lease: a holder that just finished
			// stored its result before releasing, possibly after the
			// lookup above.
			if res, err := s.lookup(ctx, fp, inputKey, keyKey, withKey); res != nil || err != nil {
				s.release(ctx, leases)
				return res, err
			}
			// Checked last, after the lookups: a Redis that just went
			// away is noticed by them.
			if !s.storeHealthy() {
				s.release(ctx, leases)
				s.logger.LogAttrs(ctx, slog.LevelWarn, "registration: refused while the shared idempotency store is unavailable")
				return nil, storeUnavailable()
			}
			return s.submit(ctx, up, checked, fp, inputKey, keyKey, leases)
		}
		if time.Now().After(deadline) {
			return nil, apperr.New(apperr.RateLimited,
				"an identical registration is in progress; retry in a few seconds to get its result")
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		poll = min(2*poll, maxPoll)
	}
}

// lookup returns a remembered result for the key or the input, an
// *UnknownOutcomeError for a remembered unknown outcome, or a
// BAD_USER_INPUT error for a key reused with another input.
func (s *Service) lookup(ctx context.Context, fp, inputKey, keyKey string, withKey bool) (*Result, error) {
	if keyKey != "" {
		rec, err := s.get(ctx, keyKey)
		if err != nil || rec != nil {
			if rec != nil && rec.Fingerprint != fp {
				return nil, apperr.BadInput(HeaderIdempotencyKey,
					"this %s was already used for a different registration; send a new key for a new registration", HeaderIdempotencyKey)
			}
			if rec != nil && rec.unknown() {
				return nil, s.unknownOutcome(rec.At, true, withKey, nil)
			}
			return replay(rec), err
		}
	}
	rec, err := s.get(ctx, inputKey)
	if err != nil || rec == nil {
		return nil, err
	}
	if keyKey != "" {
		// The key now names this registration too, so a later retry with
		// the key alone (past InputWindow) still finds it.
		s.put(ctx, keyKey, rec, s.cfg.KeyWindow)
	}
	if rec.unknown() {
		return nil, s.unknownOutcome(rec.At, true, withKey, nil)
	}
	return replay(rec), nil
}

func (s *Service) unknownOutcome(at time.Time, retry, withKey bool, cause error) *UnknownOutcomeError {
	return newUnknownOutcome(at, retry, s.cfg.InputWindow, s.cfg.KeyWindow, withKey, cause)
}

// storeHealthy reports whether the store can be trusted to hold what every
// replica recorded: false while a degradable store says it is degraded.
func (s *Service) storeHealthy() bool {
	h, ok := s.cfg.Store.(healthReporter)
	return !ok || h.Healthy()
}

func replay(rec *record) *Result {
	if rec == nil {
		return nil
	}
	res := rec.Result
	res.Replayed = true
	return &res
}

// acquire takes every lease or none.
func (s *Service) acquire(ctx context.Context, leases []string) (bool, error) {
	for i, name := range leases {
		ok, err := s.cfg.Store.TryLease(ctx, name, s.cfg.InFlight)
		if err != nil || !ok {
			s.release(ctx, leases[:i])
			if err != nil {
				return false, fmt.Errorf("registration lease: %w", err)
			}
			return false, nil
		}
	}
	return true, nil
}

func (s *Service) release(ctx context.Context, leases []string) {
	if len(leases) == 0 {
		return
	}
	if err := s.cfg.Store.Delete(context.WithoutCancel(ctx), leases...); err != nil {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "registration: releasing lease failed", slog.String("error", err.Error()))
	}
}

// submit calls Brilla while holding the leases and remembers a success.
func (s *Service) submit(ctx context.Context, up Registrar, checked *Checked, fp, inputKey, keyKey string, leases []string) (*Result, error) {
	defer s.release(ctx, leases)
	// The call outlives the caller (a client that hangs up and retries
	// finds the stored result) but never the lease.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.InFlight-min(time.Second, s.cfg.InFlight/2))
	defer cancel()
	sentAt := time.Now()
	resp, err := up.Register(callCtx, checked.Request)
	if err == nil && resp.TrackingCode == "" {
		// Brilla said yes without saying to what: it may well have
		// registered it.
		err = &upstream.Error{Upstream: upstream.Brilla, Op: "POST " + brilla.PathRegister, Kind: upstream.KindServer,
			Err: fmt.Errorf("%w: register answered without a tracking code", brilla.ErrOutcomeUnknown)}
	}
	if err != nil {
		if !brilla.OutcomeUnknown(err) {
			return nil, err // definitely not registered: a retry may call Brilla again
		}
		rec := &record{Fingerprint: fp, Outcome: outcomeUnknown, At: sentAt}
		s.put(ctx, inputKey, rec, s.cfg.InputWindow)
		if keyKey != "" {
			s.put(ctx, keyKey, rec, s.cfg.KeyWindow)
		}
		level, note := slog.LevelWarn, "registration: Brilla's answer was lost; the attempt is recorded and retries will not be sent"
		if !s.storeHealthy() {
			// The record went to this replica's memory only: another
			// replica, or this one once Redis is back, will not see it.
			level, note = slog.LevelError, "registration: Brilla's answer was lost and the shared store is unavailable; "+
				"a retry on another replica may register again"
		}
		s.logger.LogAttrs(ctx, level, note, slog.String("error", err.Error()))
		return nil, s.unknownOutcome(sentAt, false, keyKey != "", err)
	}
	rec := &record{Fingerprint: fp, Result: Result{TrackingCode: resp.TrackingCode, State: resp.State, Message: resp.Message}}
	if resp.RequestID.Valid {
		id := resp.RequestID.Value
		rec.RequestID = &id
	}
	s.put(ctx, inputKey, rec, s.cfg.InputWindow)
	if keyKey != "" {
		s.put(ctx, keyKey, rec, s.cfg.KeyWindow)
	}
	res := rec.Result
	return &res, nil
}

// get reads a record; a store failure other than the caller's own
// cancellation is logged and read as a miss (the registration then runs
// without deduplication rather than not at all).
func (s *Service) get(ctx context.Context, key string) (*record, error) {
	e, ok, err := s.cfg.Store.Get(ctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.logger.LogAttrs(ctx, slog.LevelWarn, "registration: idempotency record unreadable", slog.String("error", err.Error()))
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	var rec record
	if err := json.Unmarshal(e.Value, &rec); err != nil || (rec.TrackingCode == "" && !rec.unknown()) || (rec.unknown() && rec.At.IsZero()) {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "registration: idempotency record corrupt; ignored")
		return nil, nil
	}
	return &rec, nil
}

func (s *Service) put(ctx context.Context, key string, rec *record, ttl time.Duration) {
	raw, _ := json.Marshal(rec)
	if err := s.cfg.Store.Set(context.WithoutCancel(ctx), key, cache.Entry{Value: raw, StoredAt: time.Now()}, ttl); err != nil {
		s.logger.LogAttrs(ctx, slog.LevelWarn, "registration: storing idempotency record failed", slog.String("error", err.Error()))
	}
}

// fingerprint identifies a registration by what Brilla would receive,
// with each attachment's content replaced by its SHA-256, under the
// service's HMAC: equal inputs (after normalization) give equal
// fingerprints, and the store learns nothing about the person.
func (s *Service) fingerprint(c *Checked) string {
	req := c.Request
	req.Attachments = make([]brilla.Attachment, len(c.Request.Attachments))
	for i, a := range c.Request.Attachments {
		req.Attachments[i] = brilla.Attachment{Name: a.Name, Data: hex.EncodeToString(c.digests[i][:])}
	}
	raw, _ := json.Marshal(req)
	return s.mac("input", raw)
}

// mac is hex HMAC-SHA256 under the service's secret, separated by domain.
func (s *Service) mac(domain string, data []byte) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("brilla-gateway/registration/" + domain + "\x00"))
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}
