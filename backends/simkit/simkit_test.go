package simkit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestStats(t *testing.T) {
	type op struct {
		kind  string // call, enter, leave, reject, reset
		arg   string
		wantN int // for enter
	}
	tests := []struct {
		name string
		ops  []op
		want Snapshot
	}{
		{
			name: "empty",
			want: Snapshot{Calls: map[string]int64{}, MaxConcurrentPerToken: map[string]int{}},
		},
		{
			name: "calls per endpoint",
			ops:  []op{{kind: "call", arg: "GET /a"}, {kind: "call", arg: "GET /a"}, {kind: "call", arg: "POST /b"}},
			want: Snapshot{Calls: map[string]int64{"GET /a": 2, "POST /b": 1}, MaxConcurrentPerToken: map[string]int{}},
		},
		{
			name: "nested enters raise the maximum",
			ops: []op{
				{kind: "enter", arg: "t1", wantN: 1},
				{kind: "enter", arg: "t1", wantN: 2},
				{kind: "enter", arg: "t2", wantN: 1},
				{kind: "leave", arg: "t1"},
				{kind: "enter", arg: "t1", wantN: 2},
				{kind: "leave", arg: "t1"},
				{kind: "leave", arg: "t1"},
				{kind: "leave", arg: "t2"},
				{kind: "enter", arg: "t1", wantN: 1},
				{kind: "leave", arg: "t1"},
			},
			want: Snapshot{Calls: map[string]int64{}, MaxConcurrentPerToken: map[string]int{"t1": 2, "t2": 1}},
		},
		{
			name: "rejections",
			ops:  []op{{kind: "reject"}, {kind: "reject"}, {kind: "reject"}},
			want: Snapshot{Calls: map[string]int64{}, MaxConcurrentPerToken: map[string]int{}, ConcurrencyRejections: 3},
		},
		{
			name: "reset zeroes counters",
			ops: []op{
				{kind: "call", arg: "GET /a"},
				{kind: "enter", arg: "t1", wantN: 1},
				{kind: "enter", arg: "t1", wantN: 2},
				{kind: "leave", arg: "t1"},
				{kind: "leave", arg: "t1"},
				{kind: "reject"},
				{kind: "reset"},
			},
			want: Snapshot{Calls: map[string]int64{}, MaxConcurrentPerToken: map[string]int{}},
		},
		{
			name: "reset keeps in-flight counts balanced",
			ops: []op{
				{kind: "enter", arg: "t1", wantN: 1},
				{kind: "reset"},
				{kind: "enter", arg: "t1", wantN: 2},
				{kind: "leave", arg: "t1"},
				{kind: "leave", arg: "t1"},
				{kind: "enter", arg: "t1", wantN: 1},
				{kind: "leave", arg: "t1"},
			},
			want: Snapshot{Calls: map[string]int64{}, MaxConcurrentPerToken: map[string]int{"t1": 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStats()
			for i, o := range tt.ops {
				switch o.kind {
				case "call":
					s.Call(o.arg)
				case "enter":
					if n := s.Enter(o.arg); n != o.wantN {
						t.Fatalf("op %d: Enter(%q) = %d, want %d", i, o.arg, n, o.wantN)
					}
				case "leave":
					s.Leave(o.arg)
				case "reject":
					s.Reject()
				case "reset":
					s.Reset()
				}
			}
			got := s.Snapshot()
			if !snapshotEqual(got, tt.want) {
				t.Errorf("Snapshot() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func snapshotEqual(a, b Snapshot) bool {
	if a.ConcurrencyRejections != b.ConcurrencyRejections || len(a.Calls) != len(b.Calls) || len(a.MaxConcurrentPerToken) != len(b.MaxConcurrentPerToken) {
		return false
	}
	for k, v := range a.Calls {
		if b.Calls[k] != v {
			return false
		}
	}
	for k, v := range a.MaxConcurrentPerToken {
		if b.MaxConcurrentPerToken[k] != v {
			return false
		}
	}
	return true
}

func TestSnapshotIsACopy(t *testing.T) {
	s := NewStats()
	s.Call("GET /a")
	s.Enter("t")
	s.Leave("t")
	snap := s.Snapshot()
	snap.Calls["GET /a"] = 100
	snap.MaxConcurrentPerToken["t"] = 100
	again := s.Snapshot()
	if again.Calls["GET /a"] != 1 || again.MaxConcurrentPerToken["t"] != 1 {
		t.Errorf("mutating a snapshot changed the stats: %+v", again)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s := NewStats()
	const workers, rounds = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := []string{"a", "b"}[w%2]
			for range rounds {
				s.Call("GET /x")
				s.Enter(tok)
				_ = s.Snapshot()
				s.Leave(tok)
			}
		}()
	}
	wg.Wait()
	snap := s.Snapshot()
	if snap.Calls["GET /x"] != workers*rounds {
		t.Errorf("calls = %d, want %d", snap.Calls["GET /x"], workers*rounds)
	}
	for _, tok := range []string{"a", "b"} {
		if m := snap.MaxConcurrentPerToken[tok]; m < 1 || m > workers/2 {
			t.Errorf("max concurrent %s = %d, want within 1..%d", tok, m, workers/2)
		}
		// Everything left: the next Enter is alone.
		if n := s.Enter(tok); n != 1 {
			t.Errorf("Enter(%s) after all left = %d, want 1", tok, n)
		}
	}
}

func TestFaultsDecide(t *testing.T) {
	tests := []struct {
		name        string
		faults      []Fault
		upstream    string
		draws       int
		wantLatency time.Duration
		wantStatus  int
		minFail     int
		maxFail     int
	}{
		{name: "no fault", upstream: "serpi", draws: 100, minFail: 0, maxFail: 0},
		{name: "rate 0 never fails", faults: []Fault{{Upstream: "serpi", Status: 500, Rate: 0}}, upstream: "serpi", draws: 1000, wantStatus: 500, minFail: 0, maxFail: 0},
		{name: "rate 1 always fails", faults: []Fault{{Upstream: "serpi", Status: 503, Rate: 1}}, upstream: "serpi", draws: 1000, wantStatus: 503, minFail: 1000, maxFail: 1000},
		{name: "rate 0.3 fails about 30%", faults: []Fault{{Upstream: "brilla", Status: 500, Rate: 0.3}}, upstream: "brilla", draws: 1000, wantStatus: 500, minFail: 240, maxFail: 360},
		{name: "status 0 never fails", faults: []Fault{{Upstream: "serpi", Status: 0, Rate: 1}}, upstream: "serpi", draws: 100, minFail: 0, maxFail: 0},
		{name: "latency applies to every call", faults: []Fault{{Upstream: "serpi", LatencyMS: 25}}, upstream: "serpi", draws: 100, wantLatency: 25 * time.Millisecond},
		{name: "latency with failures", faults: []Fault{{Upstream: "serpi", Status: 429, Rate: 1, LatencyMS: 7}}, upstream: "serpi", draws: 10, wantLatency: 7 * time.Millisecond, wantStatus: 429, minFail: 10, maxFail: 10},
		{name: "other upstream unaffected", faults: []Fault{{Upstream: "serpi", Status: 500, Rate: 1, LatencyMS: 5}}, upstream: "brilla", draws: 100},
		{name: "later fault replaces earlier", faults: []Fault{{Upstream: "serpi", Status: 500, Rate: 1}, {Upstream: "serpi", Status: 502, Rate: 0}}, upstream: "serpi", draws: 100, wantStatus: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFaults(42)
			for _, fault := range tt.faults {
				f.Set(fault)
			}
			fails := 0
			for range tt.draws {
				lat, status := f.Decide(tt.upstream)
				if lat != tt.wantLatency {
					t.Fatalf("latency = %v, want %v", lat, tt.wantLatency)
				}
				switch status {
				case 0:
				case tt.wantStatus:
					fails++
				default:
					t.Fatalf("status = %d, want 0 or %d", status, tt.wantStatus)
				}
			}
			if fails < tt.minFail || fails > tt.maxFail {
				t.Errorf("%d of %d calls failed, want %d..%d", fails, tt.draws, tt.minFail, tt.maxFail)
			}
		})
	}
}

func TestFaultsSeededAndClear(t *testing.T) {
	a, b := NewFaults(7), NewFaults(7)
	fault := Fault{Upstream: "serpi", Status: 500, Rate: 0.5}
	a.Set(fault)
	b.Set(fault)
	for i := range 200 {
		_, sa := a.Decide("serpi")
		_, sb := b.Decide("serpi")
		if sa != sb {
			t.Fatalf("draw %d: same seed gave %d and %d", i, sa, sb)
		}
	}
	a.Set(Fault{Upstream: "brilla", Status: 500, Rate: 1, LatencyMS: 3})
	a.Clear()
	for _, up := range []string{"serpi", "brilla"} {
		if lat, status := a.Decide(up); lat != 0 || status != 0 {
			t.Errorf("after Clear, Decide(%s) = %v, %d", up, lat, status)
		}
	}
}

func TestControlHandler(t *testing.T) {
	type step struct {
		method, path, body string
		wantStatus         int
		wantBody           string // substring
	}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, c *Control)
	}{
		{
			name: "stats shape when empty",
			steps: []step{{method: "GET", path: "/_sim/stats", wantStatus: 200,
				wantBody: `{"calls":{},"max_concurrent_per_token":{},"concurrency_rejections":0}`}},
		},
		{
			name: "reset",
			steps: []step{
				{method: "POST", path: "/_sim/reset", wantStatus: 200, wantBody: `{"ok":true}`},
				{method: "GET", path: "/_sim/stats", wantStatus: 200, wantBody: `{"calls":{},"max_concurrent_per_token":{},"concurrency_rejections":0}`},
			},
		},
		{
			name: "valid fault",
			steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":500,"rate":1,"latency_ms":3}`,
				wantStatus: 200, wantBody: `"upstream":"serpi"`}},
			check: func(t *testing.T, c *Control) {
				if lat, status := c.Faults.Decide("serpi"); lat != 3*time.Millisecond || status != 500 {
					t.Errorf("Decide = %v, %d; want 3ms, 500", lat, status)
				}
			},
		},
		{
			name:  "latency-only fault",
			steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"brilla","latency_ms":10}`, wantStatus: 200}},
			check: func(t *testing.T, c *Control) {
				if lat, status := c.Faults.Decide("brilla"); lat != 10*time.Millisecond || status != 0 {
					t.Errorf("Decide = %v, %d; want 10ms, 0", lat, status)
				}
			},
		},
		{name: "bad upstream", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"other","status":500,"rate":1}`, wantStatus: 400, wantBody: "upstream"}}},
		{name: "missing upstream", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"status":500,"rate":1}`, wantStatus: 400, wantBody: "upstream"}}},
		{name: "status 200", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":200,"rate":1}`, wantStatus: 400, wantBody: "status"}}},
		{name: "status 600", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":600,"rate":1}`, wantStatus: 400, wantBody: "status"}}},
		{name: "rate 2", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":500,"rate":2}`, wantStatus: 400, wantBody: "rate"}}},
		{name: "negative rate", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":500,"rate":-0.1}`, wantStatus: 400, wantBody: "rate"}}},
		{name: "negative latency", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","latency_ms":-1}`, wantStatus: 400, wantBody: "latency_ms"}}},
		{name: "not JSON", steps: []step{{method: "POST", path: "/_sim/faults", body: `upstream=serpi`, wantStatus: 400, wantBody: "invalid fault JSON"}}},
		{name: "empty body", steps: []step{{method: "POST", path: "/_sim/faults", body: ``, wantStatus: 400, wantBody: "invalid fault JSON"}}},
		{name: "wrong type", steps: []step{{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":"500"}`, wantStatus: 400, wantBody: "invalid fault JSON"}}},
		{
			name: "invalid fault leaves faults unchanged",
			steps: []step{
				{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":503,"rate":1}`, wantStatus: 200},
				{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":503,"rate":2}`, wantStatus: 400},
			},
			check: func(t *testing.T, c *Control) {
				if _, status := c.Faults.Decide("serpi"); status != 503 {
					t.Errorf("status = %d, want 503", status)
				}
			},
		},
		{
			name: "delete faults",
			steps: []step{
				{method: "POST", path: "/_sim/faults", body: `{"upstream":"serpi","status":500,"rate":1,"latency_ms":5}`, wantStatus: 200},
				{method: "DELETE", path: "/_sim/faults", wantStatus: 200, wantBody: `{"ok":true}`},
			},
			check: func(t *testing.T, c *Control) {
				if lat, status := c.Faults.Decide("serpi"); lat != 0 || status != 0 {
					t.Errorf("after DELETE, Decide = %v, %d", lat, status)
				}
			},
		},
		{name: "wrong method", steps: []step{{method: "GET", path: "/_sim/faults", wantStatus: 405}}},
		{name: "unknown path", steps: []step{{method: "GET", path: "/_sim/nope", wantStatus: 404}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewControl(0)
			h := c.Handler()
			for i, s := range tt.steps {
				req := httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != s.wantStatus {
					t.Fatalf("step %d %s %s: status %d, want %d (body %s)", i, s.method, s.path, rec.Code, s.wantStatus, rec.Body)
				}
				if !strings.Contains(rec.Body.String(), s.wantBody) {
					t.Errorf("step %d: body %s, want it to contain %s", i, rec.Body, s.wantBody)
				}
				if s.wantStatus == 200 || s.wantStatus == 400 {
					if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("step %d: Content-Type %q", i, ct)
					}
					if !json.Valid(rec.Body.Bytes()) {
						t.Errorf("step %d: invalid JSON %s", i, rec.Body)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestControlHandlerStatsAfterCalls(t *testing.T) {
	c := NewControl(0)
	c.Stats.Call("GET /api/v1/Sucursales")
	c.Stats.Call("GET /api/v1/Sucursales")
	c.Stats.Enter("tok")
	c.Stats.Leave("tok")
	c.Stats.Reject()
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/_sim/stats", nil))
	var got map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"calls":                    `{"GET /api/v1/Sucursales":2}`,
		"max_concurrent_per_token": `{"tok":1}`,
		"concurrency_rejections":   `1`,
	}
	if len(got) != len(want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	// reset through the handler
	rec = httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/_sim/reset", nil))
	if snap := c.Stats.Snapshot(); len(snap.Calls) != 0 || len(snap.MaxConcurrentPerToken) != 0 || snap.ConcurrencyRejections != 0 {
		t.Errorf("after reset: %+v", snap)
	}
}

// guardedSim is a simulated SERPI endpoint with an exclusive token guard.
type guardedSim struct {
	c        *Control
	mux      *http.ServeMux
	refused  atomic.Int64
	handled  atomic.Int64
	faulted  atomic.Int64
	lastFail atomic.Int64
	handler  http.HandlerFunc // set per test; default writes "ok"
}

const pattern = "GET /api/v1/Sucursales"

func newGuardedSim(latency time.Duration, exclusive bool) *guardedSim {
	s := &guardedSim{c: NewControl(latency), mux: http.NewServeMux()}
	g := Guard{
		Token:     func(r *http.Request) string { return r.Header.Get("Authorization") },
		Exclusive: exclusive,
		Refuse: func(w http.ResponseWriter) {
			s.refused.Add(1)
			WriteJSON(w, http.StatusTooManyRequests, map[string]string{"error": "token in use"})
		},
	}
	fail := func(w http.ResponseWriter, status int) {
		s.faulted.Add(1)
		s.lastFail.Store(int64(status))
		WriteJSON(w, status, map[string]string{"error": "injected"})
	}
	s.c.HandleGuarded(s.mux, "serpi", pattern, g, fail, func(w http.ResponseWriter, r *http.Request) {
		s.handled.Add(1)
		if s.handler != nil {
			s.handler(w, r)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	return s
}

func get(t *testing.T, client *http.Client, ctx context.Context, url, token string) (int, http.Header, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/Sucursales", nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Header, nil
}

func TestHandleGuardedConcurrent(t *testing.T) {
	tests := []struct {
		name        string
		tokens      [2]string
		wantRefused int
		wantMax     map[string]int
	}{
		{"same token: exactly one refused", [2]string{"tok", "tok"}, 1, map[string]int{"tok": 2}},
		{"different tokens: none refused", [2]string{"tok-a", "tok-b"}, 0, map[string]int{"tok-a": 1, "tok-b": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newGuardedSim(50*time.Millisecond, true)
			// The call that gets through holds its token until the other
			// call has been decided (refused, or has itself reached the
			// handler), so the two always overlap.
			var arrived atomic.Int64
			s.handler = func(w http.ResponseWriter, r *http.Request) {
				arrived.Add(1)
				deadline := time.Now().Add(5 * time.Second)
				for s.c.Stats.Snapshot().ConcurrencyRejections+arrived.Load() < 2 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
			}
			srv := httptest.NewServer(s.mux)
			defer srv.Close()

			var wg sync.WaitGroup
			statuses := make([]int, 2)
			start := make(chan struct{})
			for i, tok := range tt.tokens {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					code, _, err := get(t, srv.Client(), context.Background(), srv.URL, tok)
					if err != nil {
						t.Error(err)
					}
					statuses[i] = code
				}()
			}
			close(start)
			wg.Wait()

			refusedResponses := 0
			for _, code := range statuses {
				switch code {
				case http.StatusTooManyRequests:
					refusedResponses++
				case http.StatusOK:
				default:
					t.Errorf("unexpected status %d", code)
				}
			}
			if refusedResponses != tt.wantRefused || int(s.refused.Load()) != tt.wantRefused {
				t.Errorf("refused %d responses, Refuse called %d times; want %d", refusedResponses, s.refused.Load(), tt.wantRefused)
			}
			snap := s.c.Stats.Snapshot()
			if int(snap.ConcurrencyRejections) != tt.wantRefused {
				t.Errorf("rejections = %d, want %d", snap.ConcurrencyRejections, tt.wantRefused)
			}
			if !snapshotEqual(Snapshot{Calls: snap.Calls, MaxConcurrentPerToken: snap.MaxConcurrentPerToken},
				Snapshot{Calls: map[string]int64{pattern: 2}, MaxConcurrentPerToken: tt.wantMax}) {
				t.Errorf("snapshot = %+v, want calls {%s:2} and max %v", snap, pattern, tt.wantMax)
			}
		})
	}
}

func TestHandleGuardedNonExclusiveCountsOnly(t *testing.T) {
	s := newGuardedSim(0, false)
	var arrived atomic.Int64
	s.handler = func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		deadline := time.Now().Add(5 * time.Second)
		for arrived.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		WriteJSON(w, http.StatusOK, nil)
	}
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, err := get(t, srv.Client(), context.Background(), srv.URL, "tok"); err != nil || code != 200 {
				t.Errorf("status %d, err %v", code, err)
			}
		}()
	}
	wg.Wait()
	snap := s.c.Stats.Snapshot()
	if s.refused.Load() != 0 || snap.ConcurrencyRejections != 0 || snap.MaxConcurrentPerToken["tok"] != 2 {
		t.Errorf("refused %d, snapshot %+v; want no refusal and max 2", s.refused.Load(), snap)
	}
}

// TestHandleGuardedSequentialDirect: once a call has started its answer,
// the same token may call again even though the first handler has not
// returned yet.
func TestHandleGuardedSequentialDirect(t *testing.T) {
	s := newGuardedSim(0, true)
	wrote := make(chan struct{})
	release := make(chan struct{})
	s.handler = func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
		if r.Header.Get("X-Hold") != "" {
			close(wrote)
			<-release
		}
	}
	first := httptest.NewRequest("GET", "/api/v1/Sucursales", nil)
	first.Header.Set("Authorization", "tok")
	first.Header.Set("X-Hold", "1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.mux.ServeHTTP(httptest.NewRecorder(), first)
	}()
	<-wrote

	second := httptest.NewRequest("GET", "/api/v1/Sucursales", nil)
	second.Header.Set("Authorization", "tok")
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, second)
	close(release)
	<-done

	if rec.Code != http.StatusOK || s.refused.Load() != 0 {
		t.Errorf("second call: status %d, refused %d; want 200 and no refusal", rec.Code, s.refused.Load())
	}
	if snap := s.c.Stats.Snapshot(); snap.MaxConcurrentPerToken["tok"] != 1 || snap.ConcurrencyRejections != 0 {
		t.Errorf("snapshot %+v, want max 1 and no rejection", snap)
	}
}

// TestHandleGuardedSequentialHTTP: a client that reads an answer and calls
// again at once is never refused, even when the handler lingers after
// writing its answer.
func TestHandleGuardedSequentialHTTP(t *testing.T) {
	s := newGuardedSim(2*time.Millisecond, true)
	body := bytes.Repeat([]byte("x"), 64<<10) // large enough to leave the server's buffers at once
	s.handler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "65536")
		_, _ = w.Write(body)
		time.Sleep(20 * time.Millisecond) // still running when the client has the whole answer
	}
	srv := httptest.NewServer(s.mux)
	defer srv.Close()
	// A new connection per call, so the next call is served while the
	// previous handler is still running.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	const calls = 20
	for i := range calls {
		code, _, err := get(t, client, context.Background(), srv.URL, "tok")
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK {
			t.Fatalf("call %d: status %d, want 200", i, code)
		}
	}
	snap := s.c.Stats.Snapshot()
	if s.refused.Load() != 0 || snap.ConcurrencyRejections != 0 {
		t.Errorf("refused %d, rejections %d; want 0", s.refused.Load(), snap.ConcurrencyRejections)
	}
	if snap.Calls[pattern] != calls {
		t.Errorf("calls = %d, want %d", snap.Calls[pattern], calls)
	}
}

func TestHandleGuardedCancelFreesToken(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		s := newGuardedSim(0, true)
		s.c.Faults.Set(Fault{Upstream: "serpi", LatencyMS: 10_000})
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/Sucursales", nil)
		req.Header.Set("Authorization", "tok")
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.mux.ServeHTTP(rec, req)
		}()
		testutil.WaitUntil(t, "the first call to take the token", func() bool {
			return s.c.Stats.Snapshot().MaxConcurrentPerToken["tok"] == 1
		})
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("handler did not return after cancellation")
		}
		if s.handled.Load() != 0 || rec.Body.Len() != 0 {
			t.Errorf("cancelled call reached the handler or wrote %q", rec.Body)
		}
		s.c.Faults.Clear()
		req2 := httptest.NewRequest("GET", "/api/v1/Sucursales", nil)
		req2.Header.Set("Authorization", "tok")
		rec2 := httptest.NewRecorder()
		s.mux.ServeHTTP(rec2, req2)
		if rec2.Code != http.StatusOK || s.refused.Load() != 0 {
			t.Errorf("call after cancellation: status %d, refused %d", rec2.Code, s.refused.Load())
		}
	})
	t.Run("http", func(t *testing.T) {
		s := newGuardedSim(0, true)
		s.c.Faults.Set(Fault{Upstream: "serpi", LatencyMS: 10_000})
		srv := httptest.NewServer(s.mux)
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := get(t, srv.Client(), ctx, srv.URL, "tok")
			errc <- err
		}()
		testutil.WaitUntil(t, "the first call to take the token", func() bool {
			return s.c.Stats.Snapshot().MaxConcurrentPerToken["tok"] == 1
		})
		cancel()
		if err := <-errc; err == nil {
			t.Fatal("cancelled call succeeded")
		}
		s.c.Faults.Clear()
		// The server notices the disconnect asynchronously; without it the
		// token would stay taken for the whole 10s latency.
		testutil.WaitUntil(t, "a call with the token to be accepted", func() bool {
			code, _, err := get(t, srv.Client(), context.Background(), srv.URL, "tok")
			return err == nil && code == http.StatusOK
		})
		if s.handled.Load() != 1 {
			t.Errorf("handler ran %d times, want 1", s.handled.Load())
		}
	})
}

func TestHandleGuardedFaults(t *testing.T) {
	tests := []struct {
		name           string
		fault          *Fault
		wantStatus     int
		wantRetryAfter string
		wantFaulted    bool
	}{
		{"no fault", nil, 200, "", false},
		{"429 sets Retry-After", &Fault{Upstream: "serpi", Status: 429, Rate: 1}, 429, "1", true},
		{"500", &Fault{Upstream: "serpi", Status: 500, Rate: 1}, 500, "", true},
		{"503", &Fault{Upstream: "serpi", Status: 503, Rate: 1}, 503, "", true},
		{"fault for the other upstream", &Fault{Upstream: "brilla", Status: 500, Rate: 1}, 200, "", false},
		{"rate 0", &Fault{Upstream: "serpi", Status: 500, Rate: 0}, 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newGuardedSim(0, true)
			if tt.fault != nil {
				s.c.Faults.Set(*tt.fault)
			}
			req := httptest.NewRequest("GET", "/api/v1/Sucursales", nil)
			req.Header.Set("Authorization", "tok")
			rec := httptest.NewRecorder()
			s.mux.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetryAfter)
			}
			if faulted := s.faulted.Load() == 1; faulted != tt.wantFaulted {
				t.Errorf("FaultWriter called %d times, want called=%v", s.faulted.Load(), tt.wantFaulted)
			}
			if tt.wantFaulted && int(s.lastFail.Load()) != tt.wantStatus {
				t.Errorf("FaultWriter got status %d, want %d", s.lastFail.Load(), tt.wantStatus)
			}
			if handled := s.handled.Load() == 1; handled == tt.wantFaulted {
				t.Errorf("handler called %d times with faulted=%v", s.handled.Load(), tt.wantFaulted)
			}
			// The token is free again, whatever the outcome.
			if n := s.c.Stats.Enter("tok"); n != 1 {
				t.Errorf("token still in flight after the call: Enter = %d", n)
			}
		})
	}
}

func TestHandleCountsUnderPattern(t *testing.T) {
	c := NewControl(0)
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, status int) { w.WriteHeader(status) }
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	c.Handle(mux, "serpi", "GET /api/v1/Articulos/{id}", fail, ok)
	c.Handle(mux, "brilla", "POST /api/v1/token", fail, ok)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/v1/Articulos/1"},
		{"GET", "/api/v1/Articulos/2"},
		{"GET", "/api/v1/Articulos/abc"},
		{"POST", "/api/v1/token"},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		if rec.Code != http.StatusNoContent {
			t.Errorf("%s %s: status %d", r.method, r.path, rec.Code)
		}
	}
	want := map[string]int64{"GET /api/v1/Articulos/{id}": 3, "POST /api/v1/token": 1}
	snap := c.Stats.Snapshot()
	if len(snap.Calls) != len(want) {
		t.Errorf("calls = %v, want %v", snap.Calls, want)
	}
	for k, v := range want {
		if snap.Calls[k] != v {
			t.Errorf("calls[%q] = %d, want %d", k, snap.Calls[k], v)
		}
	}
	if len(snap.MaxConcurrentPerToken) != 0 {
		t.Errorf("unguarded handler tracked tokens: %v", snap.MaxConcurrentPerToken)
	}
}

func TestHandleGuardedEmptyTokenNotTracked(t *testing.T) {
	s := newGuardedSim(0, true)
	for range 3 {
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/Sucursales", nil))
		if rec.Code != 200 {
			t.Errorf("status %d", rec.Code)
		}
	}
	snap := s.c.Stats.Snapshot()
	if len(snap.MaxConcurrentPerToken) != 0 || snap.Calls[pattern] != 3 {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestSleep(t *testing.T) {
	tests := []struct {
		name   string
		d      time.Duration
		cancel bool
		want   bool
	}{
		{"zero", 0, false, true},
		{"negative", -time.Second, true, true},
		{"short", 5 * time.Millisecond, false, true},
		{"cancelled", time.Hour, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			r := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
			if got := Sleep(r, tt.d); got != tt.want {
				t.Errorf("Sleep = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		v          any
		wantStatus int
		wantBody   string
	}{
		{"map", 201, map[string]int{"a": 1}, 201, `{"a":1}`},
		{"nil", 200, nil, 200, `null`},
		{"unencodable", 200, func() {}, 500, "encode:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteJSON(rec, tt.status, tt.v)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
