package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script answers each request with the next status of its list (the last
// one repeats) and counts requests.
type script struct {
	mu       sync.Mutex
	statuses []int
	header   http.Header
	calls    atomic.Int64
}

func (s *script) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.calls.Add(1)
	s.mu.Lock()
	status := s.statuses[0]
	if len(s.statuses) > 1 {
		s.statuses = s.statuses[1:]
	}
	s.mu.Unlock()
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{}`))
}

type recorder struct {
	mu       sync.Mutex
	attempts []int
	retries  int
	states   []string
}

func (r *recorder) Attempt(_ string, _ *http.Request, status int, _ time.Duration, _ error) {
	r.mu.Lock()
	r.attempts = append(r.attempts, status)
	r.mu.Unlock()
}
func (r *recorder) Retry(string, *http.Request) { r.mu.Lock(); r.retries++; r.mu.Unlock() }
func (r *recorder) BreakerState(_ string, s string) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}

func fast(p Policy) Policy {
	p.BaseDelay, p.MaxDelay = time.Millisecond, 20*time.Millisecond
	return p
}

func call(t *testing.T, c *http.Client, method, url string) (int, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		statuses  []int
		header    http.Header
		want      int
		wantCalls int64
	}{
		{"read recovers after two 500s", http.MethodGet, []int{500, 500, 200}, nil, 200, 3},
		{"read gives up after the attempts", http.MethodGet, []int{503}, nil, 503, 4},
		{"429 with a short Retry-After is retried", http.MethodGet, []int{429, 200}, http.Header{"Retry-After": {"0"}}, 200, 2},
		{"429 asking for longer than MaxDelay is returned", http.MethodGet, []int{429, 200}, http.Header{"Retry-After": {"120"}}, 429, 1},
		{"write is never retried", http.MethodPost, []int{500, 200}, nil, 500, 1},
		{"client errors are not retried", http.MethodGet, []int{404, 200}, nil, 404, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{statuses: tc.statuses, header: tc.header}
			srv := httptest.NewServer(s)
			defer srv.Close()
			rec := &recorder{}
			c := &http.Client{Transport: New(nil, "serpi", fast(Policy{FailureThreshold: 100}), rec)}
			got, err := call(t, c, tc.method, srv.URL)
			if err != nil || got != tc.want || s.calls.Load() != tc.wantCalls {
				t.Fatalf("status %d err %v calls %d; want %d after %d calls", got, err, s.calls.Load(), tc.want, tc.wantCalls)
			}
			if len(rec.attempts) != int(tc.wantCalls) || rec.retries != int(tc.wantCalls)-1 {
				t.Fatalf("observer saw %v attempts and %d retries", rec.attempts, rec.retries)
			}
		})
	}
}

func TestConnectionErrorsAreRetriedThenReported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // connection refused from now on
	rec := &recorder{}
	c := &http.Client{Transport: New(nil, "brilla", fast(Policy{FailureThreshold: 100}), rec)}
	if _, err := call(t, c, http.MethodGet, url); err == nil {
		t.Fatal("no error from a closed server")
	}
	if len(rec.attempts) != DefaultAttempts {
		t.Fatalf("%d attempts, want %d", len(rec.attempts), DefaultAttempts)
	}
}

func TestDeadlineStopsRetrying(t *testing.T) {
	s := &script{statuses: []int{500}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := &http.Client{Transport: New(nil, "serpi", Policy{BaseDelay: time.Second, MaxDelay: time.Second, FailureThreshold: 100}, nil)}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	start := time.Now()
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a 100ms deadline took %v", d)
	}
}

func TestBreakerOpensFailsFastAndCloses(t *testing.T) {
	s := &script{statuses: []int{500}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	rec := &recorder{}
	tr := New(nil, "brilla", Policy{Attempts: 1, FailureThreshold: 3, OpenFor: 100 * time.Millisecond}, rec)
	c := &http.Client{Transport: tr}
	for range 3 {
		if got, _ := call(t, c, http.MethodGet, srv.URL); got != 500 {
			t.Fatalf("status %d", got)
		}
	}
	if tr.State() != "open" {
		t.Fatalf("state %s after 3 failures", tr.State())
	}
	before := s.calls.Load()
	start := time.Now()
	_, err := call(t, c, http.MethodGet, srv.URL)
	if !errors.Is(err, ErrCircuitOpen) || s.calls.Load() != before || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("open breaker: err %v, upstream calls %d→%d", err, before, s.calls.Load())
	}
	s.mu.Lock()
	s.statuses = []int{200}
	s.mu.Unlock()
	time.Sleep(150 * time.Millisecond)
	if got, err := call(t, c, http.MethodGet, srv.URL); got != 200 || err != nil {
		t.Fatalf("probe: %d %v", got, err)
	}
	if tr.State() != "closed" {
		t.Fatalf("state %s after a good probe", tr.State())
	}
	if got := strings.Join(rec.states, ","); got != "closed,open,half-open,closed" {
		t.Fatalf("states %s", got)
	}
}
