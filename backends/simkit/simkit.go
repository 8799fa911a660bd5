// Package simkit is the machinery the upstream simulators share: call
// counters per endpoint, concurrency tracking per token, injectable faults
// and latency, and the /_sim control endpoints that tests and load runs use
// to prove what the gateway did upstream.
package simkit

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Stats counts calls per endpoint (keyed "METHOD /path/{template}") and the
// most concurrent calls seen per token. It is safe for concurrent use.
type Stats struct {
	mu            sync.Mutex
	calls         map[string]int64
	inFlight      map[string]int
	maxConcurrent map[string]int
	rejections    int64
}

// NewStats returns empty counters.
func NewStats() *Stats {
	s := &Stats{}
	s.Reset()
	return s
}

// Reset zeroes every counter. Tokens still in flight keep their in-flight
// count so that their Leave stays balanced.
func (s *Stats) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int64{}
	if s.inFlight == nil {
		s.inFlight = map[string]int{}
	}
	s.maxConcurrent = map[string]int{}
	s.rejections = 0
}

// Call records one call to endpoint.
func (s *Stats) Call(endpoint string) {
	s.mu.Lock()
	s.calls[endpoint]++
	s.mu.Unlock()
}

// Enter records that a call carrying token started and returns how many
// calls with that token are now in flight, this one included. Every Enter
// must be paired with a Leave. The maximum counts refused calls too: it is
// the concurrency the caller attempted, which is what tests must bound.
func (s *Stats) Enter(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight[token]++
	n := s.inFlight[token]
	if n > s.maxConcurrent[token] {
		s.maxConcurrent[token] = n
	}
	return n
}

// Leave records that a call carrying token ended.
func (s *Stats) Leave(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight[token]--
	if s.inFlight[token] <= 0 {
		delete(s.inFlight, token)
	}
}

// Reject records a call refused because its token was already in use.
func (s *Stats) Reject() {
	s.mu.Lock()
	s.rejections++
	s.mu.Unlock()
}

// Snapshot is the JSON shape of GET /_sim/stats.
type Snapshot struct {
	Calls                 map[string]int64 `json:"calls"`
	MaxConcurrentPerToken map[string]int   `json:"max_concurrent_per_token"`
	ConcurrencyRejections int64            `json:"concurrency_rejections"`
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Snapshot{
		Calls:                 make(map[string]int64, len(s.calls)),
		MaxConcurrentPerToken: make(map[string]int, len(s.maxConcurrent)),
		ConcurrencyRejections: s.rejections,
	}
	for k, v := range s.calls {
		out.Calls[k] = v
	}
	for k, v := range s.maxConcurrent {
		out.MaxConcurrentPerToken[k] = v
	}
	return out
}

// Fault is an injected failure for one upstream: with probability Rate a
// call answers Status (0 keeps the normal answer) after an extra
// LatencyMS. LatencyMS applies to every call, failed or not.
type Fault struct {
	Upstream  string  `json:"upstream"`
	Status    int     `json:"status"`
	Rate      float64 `json:"rate"`
	LatencyMS int     `json:"latency_ms"`
}

// Faults holds the injected faults per upstream.
type Faults struct {
	mu     sync.Mutex
	faults map[string]Fault
	rng    *rand.Rand
}

// NewFaults returns an empty fault set whose coin flips are seeded, so a
// run with the same calls fails the same calls.
func NewFaults(seed uint64) *Faults {
	return &Faults{faults: map[string]Fault{}, rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

// Set installs f, replacing any fault for the same upstream.
func (f *Faults) Set(fault Fault) {
	f.mu.Lock()
	f.faults[fault.Upstream] = fault
	f.mu.Unlock()
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.faults = map[string]Fault{}
	f.mu.Unlock()
}

// Decide returns the extra latency and the status to fail with (0: do not
// fail) for one call to upstream.
func (f *Faults) Decide(upstream string) (time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fault, ok := f.faults[upstream]
	if !ok {
		return 0, 0
	}
	status := 0
	if fault.Status != 0 && fault.Rate > 0 && f.rng.Float64() < fault.Rate {
		status = fault.Status
	}
	return time.Duration(fault.LatencyMS) * time.Millisecond, status
}

// Control ties the counters, the faults and the base latency together. One
// Control may serve several simulators (cmd/upstream-sim shares one between
// Brilla and SERPI so /_sim/stats covers both).
type Control struct {
	Stats   *Stats
	Faults  *Faults
	Latency time.Duration // added to every call
}

// NewControl returns a Control with empty counters and no faults.
func NewControl(latency time.Duration) *Control {
	return &Control{Stats: NewStats(), Faults: NewFaults(1), Latency: latency}
}

// FaultWriter writes an upstream-shaped error body for an injected status.
type FaultWriter func(w http.ResponseWriter, status int)

// Guard is per-token accounting for an endpoint. The token is read before
// the simulated latency so that calls overlapping anywhere in their
// lifetime count as concurrent, as they would on the real service.
type Guard struct {
	// Token extracts the call's token; "" means no accounting.
	Token func(*http.Request) string
	// Exclusive refuses a call whose token is already in flight (SERPI's
	// rule) by calling Refuse instead of the handler.
	Exclusive bool
	Refuse    func(w http.ResponseWriter)
}

// Handle registers h on mux under pattern (a Go ServeMux pattern such as
// "GET /api/v1/Sucursales", which is also the stats key), wrapped so that
// every call is counted, delayed by the base and injected latency, and
// failed when a fault says so.
func (c *Control) Handle(mux *http.ServeMux, upstream, pattern string, fail FaultWriter, h http.HandlerFunc) {
	c.HandleGuarded(mux, upstream, pattern, Guard{}, fail, h)
}

// HandleGuarded is Handle with per-token concurrency accounting.
func (c *Control) HandleGuarded(mux *http.ServeMux, upstream, pattern string, g Guard, fail FaultWriter, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c.Stats.Call(pattern)
		if g.Token != nil {
			if token := g.Token(r); token != "" {
				n := c.Stats.Enter(token)
				lw := &leaveOnWrite{ResponseWriter: w, leave: func() { c.Stats.Leave(token) }}
				defer lw.release() // also when the client goes away mid-call
				w = lw
				if g.Exclusive && n > 1 {
					c.Stats.Reject()
					g.Refuse(w)
					return
				}
			}
		}
		extra, status := c.Faults.Decide(upstream)
		if !Sleep(r, c.Latency+extra) {
			return
		}
		if status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			fail(w, status)
			return
		}
		h(w, r)
	})
}

// leaveOnWrite ends a call's in-flight accounting as its answer starts:
// a client that reads the answer and calls again at once must find the
// token free, as it would on the real service.
type leaveOnWrite struct {
	http.ResponseWriter
	leave func()
	done  bool
}

func (l *leaveOnWrite) release() {
	if !l.done {
		l.done = true
		l.leave()
	}
}

func (l *leaveOnWrite) WriteHeader(status int) {
	l.release()
	l.ResponseWriter.WriteHeader(status)
}

func (l *leaveOnWrite) Write(p []byte) (int, error) {
	l.release()
	return l.ResponseWriter.Write(p)
}

// Sleep waits d or until the request is cancelled; it reports whether the
// full wait elapsed.
func Sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Handler serves the control endpoints:
//
//	GET    /_sim/stats   counters as JSON (Snapshot)
//	POST   /_sim/reset   zero the counters (data stays)
//	POST   /_sim/faults  install a Fault from the JSON body
//	DELETE /_sim/faults  clear every fault
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, c.Stats.Snapshot())
	})
	mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) {
		c.Stats.Reset()
		WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&f); err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid fault JSON: " + err.Error()})
			return
		}
		if err := f.validate(); err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		c.Faults.Set(f)
		WriteJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		c.Faults.Clear()
		WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	return mux
}

func (f Fault) validate() error {
	if f.Upstream != "brilla" && f.Upstream != "serpi" {
		return fmt.Errorf("upstream must be \"brilla\" or \"serpi\", got %q", f.Upstream)
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("status must be 0 or an HTTP error status, got %d", f.Status)
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("rate must be within 0..1, got %v", f.Rate)
	}
	if f.LatencyMS < 0 {
		return fmt.Errorf("latency_ms must not be negative, got %d", f.LatencyMS)
	}
	return nil
}

// WriteJSON writes v as a JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
