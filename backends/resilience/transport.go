// Package resilience wraps an upstream's HTTP transport with retries for
// idempotent reads (jittered exponential backoff on timeouts, 5xx and 429,
// honouring Retry-After; never for writes) and a circuit breaker that
// fails fast while the upstream is down and lets one probe through to
// notice its return.
package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrCircuitOpen is returned, wrapped, while an upstream's breaker is open.
var ErrCircuitOpen = errors.New("circuit open: upstream failing, calls suspended")

// Policy configures a Transport. Zero fields take the defaults below.
type Policy struct {
	// Attempts is the most tries of an idempotent request, the first
	// included.
	Attempts int
	// BaseDelay and MaxDelay bound the backoff (full jitter between 0 and
	// BaseDelay*2^n, at most MaxDelay); a Retry-After longer than MaxDelay
	// is not waited for: the answer is returned as is.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// FailureThreshold consecutive failures open the breaker for OpenFor,
	// after which one probe decides whether it closes again.
	FailureThreshold int
	OpenFor          time.Duration
}

// Defaults of Policy.
const (
	DefaultAttempts         = 4
	DefaultBaseDelay        = 50 * time.Millisecond
	DefaultMaxDelay         = time.Second
	DefaultFailureThreshold = 5
	DefaultOpenFor          = 5 * time.Second
)

func (p Policy) withDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = DefaultFailureThreshold
	}
	if p.OpenFor <= 0 {
		p.OpenFor = DefaultOpenFor
	}
	return p
}

// Observer learns about every attempt and breaker change (metrics).
type Observer interface {
	// Attempt reports one HTTP attempt: status 0 when none was received.
	Attempt(upstream string, req *http.Request, status int, elapsed time.Duration, err error)
	// Retry reports that an attempt is about to be retried.
	Retry(upstream string, req *http.Request)
	// BreakerState reports the breaker's state: "closed", "half-open" or
	// "open".
	BreakerState(upstream string, state string)
}

// Transport is an http.RoundTripper for one upstream.
type Transport struct {
	base     http.RoundTripper
	upstream string
	policy   Policy
	breaker  *gobreaker.CircuitBreaker[*http.Response]
	observer Observer
}

// New wraps base (http.DefaultTransport when nil) for the named upstream.
func New(base http.RoundTripper, upstream string, p Policy, obs Observer) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	p = p.withDefaults()
	t := &Transport{base: base, upstream: upstream, policy: p, observer: obs}
	t.breaker = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        upstream,
		MaxRequests: 1,
		Timeout:     p.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(p.FailureThreshold) },
		// The caller giving up says nothing about the upstream's health.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if obs != nil {
				obs.BreakerState(upstream, to.String())
			}
		},
	})
	if obs != nil {
		obs.BreakerState(upstream, gobreaker.StateClosed.String())
	}
	return t
}

// State is the breaker's state: "closed", "half-open" or "open".
func (t *Transport) State() string { return t.breaker.State().String() }

// errUpstreamStatus marks a 5xx answer as a breaker failure while the
// response itself is still handed back.
type errUpstreamStatus int

func (e errUpstreamStatus) Error() string { return fmt.Sprintf("upstream answered %d", int(e)) }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Only reads are retried: a write that timed out may have been applied,
	// and repeating it could apply it twice.
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	attempts := 1
	if idempotent {
		attempts = t.policy.Attempts
	}
	for attempt := 1; ; attempt++ {
		resp, err := t.once(req)
		retryable, wait := t.retryable(req, resp, err)
		if attempt >= attempts || !retryable {
			return resp, err
		}
		if wait == 0 {
			wait = t.backoff(attempt)
		}
		if deadline, ok := req.Context().Deadline(); ok && time.Until(deadline) < wait {
			return resp, err // no time left for another try: the answer we have is the answer
		}
		if resp != nil {
			// Drain so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		}
		if t.observer != nil {
			t.observer.Retry(t.upstream, req)
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

// once makes one attempt through the breaker.
func (t *Transport) once(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.breaker.Execute(func() (*http.Response, error) {
		resp, err := t.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 500 {
			return resp, errUpstreamStatus(resp.StatusCode)
		}
		return resp, nil
	})
	var status errUpstreamStatus
	if errors.As(err, &status) {
		err = nil // the 5xx response goes back to the client, which maps it
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = fmt.Errorf("%s: %w", t.upstream, ErrCircuitOpen)
	}
	if t.observer != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.observer.Attempt(t.upstream, req, code, time.Since(start), err)
	}
	return resp, err
}

// retryable says whether an attempt's outcome is worth another try, and
// how long the upstream asked us to wait (0: our own backoff).
func (t *Transport) retryable(req *http.Request, resp *http.Response, err error) (bool, time.Duration) {
	if err != nil {
		if req.Context().Err() != nil || errors.Is(err, ErrCircuitOpen) {
			return false, 0
		}
		return true, 0 // connection refused, reset, header timeout
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		wait, ok := retryAfter(resp.Header.Get("Retry-After"))
		if ok && wait > t.policy.MaxDelay {
			return false, 0
		}
		return true, wait
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true, 0
	}
	return false, 0
}

func (t *Transport) backoff(attempt int) time.Duration {
	ceiling := min(t.policy.BaseDelay<<(attempt-1), t.policy.MaxDelay)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// retryAfter parses Retry-After in seconds or as an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}
