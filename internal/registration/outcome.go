package registration

import (
	"fmt"
	"time"

	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// OutcomeUnknown is the value of extensions.outcome on a register error
// whose registration may or may not have been applied by Brilla.
const OutcomeUnknown = "UNKNOWN"

// outcomeUnknown marks a record whose registration was sent to Brilla
// without a definite answer (see brilla.ErrOutcomeUnknown).
const outcomeUnknown = "unknown"

// UnknownOutcomeError is register's answer when a registration was sent to
// Brilla and no definite answer came back (a timeout after it was sent, a
// connection lost mid-answer, a 502/504 from a gateway in front of Brilla,
// an unreadable 2xx), and to every retry of it (same Idempotency-Key, or
// same input within the input window): Brilla may have registered it, so
// the gateway does not send it again. It is UPSTREAM_UNAVAILABLE with
// extensions.outcome UNKNOWN (see Extensions); its message says the
// registration may exist, until when retries get this answer, and how to
// check.
type UnknownOutcomeError struct {
	// AttemptedAt is when the attempt whose answer was lost was made.
	AttemptedAt time.Time
	// Retry is true for a retry answered from the record, false for the
	// attempt itself.
	Retry bool
	// InputUntil is when the same input stops being answered this way;
	// KeyUntil the same for the Idempotency-Key (zero without one).
	InputUntil, KeyUntil time.Time

	presented *apperr.Error
	cause     error
}

func newUnknownOutcome(at time.Time, retry bool, inputWindow, keyWindow time.Duration, withKey bool, cause error) *UnknownOutcomeError {
	e := &UnknownOutcomeError{AttemptedAt: at.UTC(), Retry: retry, InputUntil: at.Add(inputWindow).UTC(), cause: cause}
	if withKey {
		e.KeyUntil = at.Add(keyWindow).UTC()
	}
	e.presented = apperr.New(apperr.UpstreamUnavailable, "%s", e.message(time.Now()))
	return e
}

// message explains the answer: what happened, that nothing was sent
// again, until when retries are answered this way, and how to check. It
// repeats nothing the client sent.
func (e *UnknownOutcomeError) message(now time.Time) string {
	stamp := func(t time.Time) string { return t.Format(time.RFC3339) }
	var what string
	if e.Retry {
		what = fmt.Sprintf("an earlier attempt of this registration (at %s) was sent to Brilla but its answer was lost, "+
			"so it may have been registered; it was not sent again", stamp(e.AttemptedAt))
	} else {
		what = "this registration was sent to Brilla but its answer was lost (no answer in time, or the connection dropped), " +
			"so it may have been registered; it will not be sent again"
	}
	var until string
	if now.Before(e.InputUntil) {
		until = fmt.Sprintf("a retry with the same details gets this answer until %s", stamp(e.InputUntil))
		if !e.KeyUntil.IsZero() {
			until += fmt.Sprintf(", and with the same %s until %s", HeaderIdempotencyKey, stamp(e.KeyUntil))
		}
	} else if !e.KeyUntil.IsZero() {
		until = fmt.Sprintf("a retry with the same %s gets this answer until %s", HeaderIdempotencyKey, stamp(e.KeyUntil))
	}
	if until != "" {
		until = capitalize(until) + ". "
	}
	return capitalize(what) + ". " + until + "To check: a registration Brilla received is answered to the applicant within minutes; " +
		"otherwise ask Serfigas support with the document number. Register again only if it was not registered, " +
		"with a new " + HeaderIdempotencyKey + " and after " + stamp(e.InputUntil) + "."
}

func capitalize(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

func (e *UnknownOutcomeError) Error() string {
	if e.cause != nil {
		return "registration outcome unknown: " + e.cause.Error()
	}
	return "registration outcome unknown (earlier attempt)"
}

// Unwrap exposes the presented error (UPSTREAM_UNAVAILABLE and the
// message, for graph/apperr) and the cause (for logs).
func (e *UnknownOutcomeError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.presented}
	}
	return []error{e.presented, e.cause}
}

// Extensions are the GraphQL error extensions that go with the code:
// outcome UNKNOWN, the upstream, and when the attempt was made.
func (e *UnknownOutcomeError) Extensions() map[string]any {
	return map[string]any{
		"code":        string(apperr.UpstreamUnavailable),
		"upstream":    upstream.Brilla,
		"outcome":     OutcomeUnknown,
		"attemptedAt": e.AttemptedAt.Format(time.RFC3339),
	}
}
