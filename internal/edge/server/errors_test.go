package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// A failing upstream fails only its own fields: the other upstream's data
// arrives intact beside an error naming the culprit.
func TestUpstreamFailuresArePartialAndCoded(t *testing.T) {
	tests := []struct {
		name     string
		fault    simkit.Fault
		failing  string // the top-level field that must fail
		code     string
		upstream string
	}{
		{"serpi 500", simkit.Fault{Upstream: "serpi", Status: 500, Rate: 1}, "taxes", "UPSTREAM_ERROR", "serpi"},
		{"serpi 503", simkit.Fault{Upstream: "serpi", Status: 503, Rate: 1}, "taxes", "UPSTREAM_UNAVAILABLE", "serpi"},
		{"serpi 429", simkit.Fault{Upstream: "serpi", Status: 429, Rate: 1}, "taxes", "RATE_LIMITED", "serpi"},
		{"brilla 500", simkit.Fault{Upstream: "brilla", Status: 500, Rate: 1}, "viewer", "UPSTREAM_ERROR", "brilla"},
		{"brilla 503", simkit.Fault{Upstream: "brilla", Status: 503, Rate: 1}, "viewer", "UPSTREAM_UNAVAILABLE", "brilla"},
		{"brilla 429", simkit.Fault{Upstream: "brilla", Status: 429, Rate: 1}, "viewer", "RATE_LIMITED", "brilla"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.signIn("123456789", "12345678")
			e.sim.Control.Faults.Set(tc.fault)
			r := e.do(`{ viewer { vat } taxes(first: 2) { totalCount } }`, nil, bearer(tok), key(testKey))
			got := r.wantCode(t, tc.code, tc.upstream)
			if len(got.Path) == 0 || got.Path[0] != tc.failing {
				t.Errorf("error path %v, want %s", got.Path, tc.failing)
			}
			var data map[string]json.RawMessage
			if err := json.Unmarshal(r.Data, &data); err != nil {
				t.Fatalf("no data beside the error: %s", r.raw)
			}
			for field, v := range data {
				if field != tc.failing && string(v) == "null" {
					t.Errorf("%s is null although only %s's upstream failed: %s", field, tc.failing, r.raw)
				}
			}
			if tc.code == "RATE_LIMITED" && got.Extensions["retryAfterSeconds"] == nil {
				t.Errorf("rate limit without a retry hint: %s", r.raw)
			}
			assertNoLeaks(t, r.raw, tok, e.upstream.URL)
			assertNoLeaks(t, e.logText(), tok)
		})
	}
}

func TestSlowUpstreamTimesOutAsUnavailable(t *testing.T) {
	e := newEnvWith(t, sim.Config{})
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "serpi", LatencyMS: 3000})
	// A gateway whose upstream deadline is shorter than the fault's latency.
	h := newGateway(t, e, func(c *server.Config) { c.UpstreamTimeout = 200 * time.Millisecond })
	start := time.Now()
	r := doOn(t, h, `{ taxes { totalCount } }`, key(testKey))
	r.wantCode(t, "UPSTREAM_UNAVAILABLE", "serpi")
	if elapsed := time.Since(start); elapsed > 2500*time.Millisecond {
		t.Errorf("a 200ms upstream deadline took %v", elapsed)
	}
}

// A request that cannot get its turn on the SERPI token before its own
// deadline answers UPSTREAM_UNAVAILABLE instead of hanging.
func TestWaitingForASerpiTurnIsBoundedByTheRequestDeadline(t *testing.T) {
	e := newEnvWith(t, sim.Config{})
	e.sim.Control.Faults.Set(simkit.Fault{Upstream: "serpi", LatencyMS: 3000})
	h := newGateway(t, e, func(c *server.Config) { c.RequestTimeout = 300 * time.Millisecond })
	start := time.Now()
	r := doOn(t, h, `{ branches { totalCount } taxes { totalCount } articles { totalCount } }`, key(testKey))
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("a 300ms request took %v", elapsed)
	}
	if len(r.Errors) != 3 {
		t.Fatalf("want 3 errors (one per collection), got %s", r.raw)
	}
	for _, err := range r.Errors {
		if err.code() != "UPSTREAM_UNAVAILABLE" || err.Extensions["upstream"] != "serpi" {
			t.Errorf("error %+v, want UPSTREAM_UNAVAILABLE from serpi", err)
		}
	}
}

func assertNoLeaks(t *testing.T, body string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, simSecret, simToken, testKey, "goroutine ", ".go:") {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("response leaks %q: %s", s, body)
		}
	}
}
