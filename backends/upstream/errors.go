// Package upstream defines the typed errors every backend client returns,
// so that the GraphQL layer can map them to extensions.code in one place
// without knowing which upstream produced them.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an upstream failure by what the caller can do about it.
type Kind int

const (
	// KindInternal is a failure in our own handling (e.g. a body we could
	// not decode even tolerantly).
	KindInternal Kind = iota
	// KindBadRequest means the upstream refused the input (400,
	// bad_request, SERPI validation errors).
	KindBadRequest
	// KindUnauthorized means the credentials were refused (401).
	KindUnauthorized
	// KindForbidden means the credentials lack permission (403).
	KindForbidden
	// KindNotFound means the resource does not exist (404, or SERPI's body
	// code 204 on a PUT).
	KindNotFound
	// KindRateLimited means the upstream asked us to slow down (429), or
	// SERPI refused a token already in use.
	KindRateLimited
	// KindUnavailable means the upstream could not be reached, timed out,
	// or answered 502/503/504.
	KindUnavailable
	// KindServer means the upstream answered with another error (500).
	KindServer
)

func (k Kind) String() string {
	switch k {
	case KindBadRequest:
		return "bad_request"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not_found"
	case KindRateLimited:
		return "rate_limited"
	case KindUnavailable:
		return "unavailable"
	case KindServer:
		return "server_error"
	default:
		return "internal"
	}
}

// Names of the upstreams, as exposed in extensions.upstream.
const (
	Brilla = "brilla"
	Serpi  = "serpi"
)

// Error is a failed upstream call. Message and Details are the upstream's
// own words (safe to show: they never contain our credentials); Err is the
// underlying cause and is logged, not shown.
type Error struct {
	Upstream   string
	Op         string // e.g. "GET /api/v1/Sucursales"
	Kind       Kind
	Status     int      // HTTP status, 0 when none was received
	Code       string   // the upstream's error code, e.g. "rate_limit"
	Message    string   // the upstream's message
	Details    []string // validation messages
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Upstream, e.Op, e.Kind)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if len(e.Details) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Details, "; "))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var ue *Error
	ok := errors.As(err, &ue)
	return ue, ok
}

// IsKind reports whether err is an upstream error of kind k.
func IsKind(err error, k Kind) bool {
	ue, ok := As(err)
	return ok && ue.Kind == k
}

// KindForStatus maps an HTTP status to a Kind.
func KindForStatus(status int) Kind {
	switch {
	case status == 400 || status == 422:
		return KindBadRequest
	case status == 401:
		return KindUnauthorized
	case status == 403:
		return KindForbidden
	case status == 404:
		return KindNotFound
	case status == 429:
		return KindRateLimited
	case status == 502 || status == 503 || status == 504:
		return KindUnavailable
	case status >= 500:
		return KindServer
	default:
		return KindInternal
	}
}

// DeadlineError attributes a bare context error met while waiting on an
// upstream (in a cache's shared fetch or a serializer's queue) to that
// upstream, as KindUnavailable with message; other errors pass unchanged.
func DeadlineError(name, op string, err error, message string) error {
	if _, ok := As(err); ok {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &Error{Upstream: name, Op: op, Kind: KindUnavailable, Message: message, Err: err}
	}
	return err
}
