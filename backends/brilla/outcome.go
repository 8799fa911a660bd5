package brilla

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
)

// ErrOutcomeUnknown is in the chain of a failed write (register, ...)
// whose outcome the gateway cannot know: the request was sent in full and
// then no definite answer came back (the deadline passed, the connection
// was lost mid-response, a gateway in front of Brilla answered 502 or 504,
// or a 2xx answer could not be read). Brilla may have applied it, so it
// must not be sent again blindly. A failure before the request was sent
// (connection refused, DNS, TLS, the circuit open) or a definite answer
// from Brilla (any 4xx, or its own error body) does not carry it.
var ErrOutcomeUnknown = errors.New("the request was sent but no definite answer came back: it may have been applied")

// OutcomeUnknown reports whether err (from a write) leaves open whether
// Brilla applied it; see ErrOutcomeUnknown.
func OutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// isWrite reports whether method changes state upstream.
func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sentTracker records whether a request was written in full to a
// connection (httptrace's WroteRequest without an error). A request that
// was not cannot have been applied: an incomplete body is not a request.
type sentTracker struct{ sent atomic.Bool }

func (s *sentTracker) wasSent() bool { return s != nil && s.sent.Load() }

// traceSent returns req with a trace that fills the returned tracker.
func traceSent(req *http.Request) (*http.Request, *sentTracker) {
	s := &sentTracker{}
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				s.sent.Store(true)
			}
		},
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace)), s
}

// gatewayMayHaveForwarded reports whether an error status may come from a
// proxy or load balancer that forwarded the request and then gave up on
// Brilla's answer (502 Bad Gateway, 504 Gateway Timeout): a write may
// have been applied behind it.
func gatewayMayHaveForwarded(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// maybeApplied puts ErrOutcomeUnknown in front of cause (which may be nil).
func maybeApplied(why error, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, why)
	}
	return fmt.Errorf("%w: %w: %w", ErrOutcomeUnknown, why, cause)
}
