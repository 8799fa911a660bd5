package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// How the lossy Brilla treats a register call.
const (
	registerPasses       int32 = iota // answered normally
	registerAnswersLate               // applied at once, answered after the gateway gave up
	registerDropsAnswer               // applied, then the connection is closed unanswered
	registerUnavailable               // refused with Brilla's 503 error body, never applied
	lateAnswerMaxHold    = 5 * time.Second
	lossyUpstreamTimeout = 300 * time.Millisecond
)

// lossyBrilla sits in front of the simulator: every call but register goes
// through untouched; register is applied by the simulator (its counters
// see it) and then answered as mode says.
type lossyBrilla struct {
	sim  atomic.Pointer[http.Handler]
	mode atomic.Int32
}

func newLossyBrilla(t *testing.T, simHandler http.Handler) (*lossyBrilla, *httptest.Server) {
	t.Helper()
	l := &lossyBrilla{}
	if simHandler != nil {
		l.sim.Store(&simHandler)
	}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return l, srv
}

func (l *lossyBrilla) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := *l.sim.Load()
	if r.Method != http.MethodPost || r.URL.Path != brilla.PathRegister {
		h.ServeHTTP(w, r)
		return
	}
	switch l.mode.Load() {
	case registerUnavailable:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"success":false,"error":"server_error","message":"mantenimiento"}`))
	case registerAnswersLate:
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		select { // until the gateway hung up
		case <-r.Context().Done():
		case <-time.After(lateAnswerMaxHold):
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	case registerDropsAnswer:
		h.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	default:
		h.ServeHTTP(w, r)
	}
}

// newLossyRegisterEnv is a gateway whose Brilla is a lossyBrilla over the
// simulator, with a short upstream timeout.
func newLossyRegisterEnv(t *testing.T) (*env, *lossyBrilla) {
	t.Helper()
	s := sim.New(sim.Config{})
	lossy, up := newLossyBrilla(t, s.Handler())
	e := &env{t: t, sim: s, upstream: up, logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	e.gateway = newGateway(t, e, func(c *server.Config) { c.UpstreamTimeout = lossyUpstreamTimeout })
	return e, lossy
}

// wantUnknownOutcome checks r is the unknown-outcome answer: the code,
// outcome UNKNOWN, and a message saying it may have been registered and
// how to check (retry says whether it is the answer to a retry).
func wantUnknownOutcome(t *testing.T, label string, r result, retry bool) {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Errorf("%s: want one unknown-outcome error, got %s", label, r.raw)
		return
	}
	e := r.Errors[0]
	problems := []string{}
	if e.code() != "UPSTREAM_UNAVAILABLE" {
		problems = append(problems, "code "+e.code())
	}
	if e.Extensions["outcome"] != "UNKNOWN" {
		problems = append(problems, fmt.Sprintf("extensions.outcome %v", e.Extensions["outcome"]))
	}
	if at, _ := e.Extensions["attemptedAt"].(string); at == "" {
		problems = append(problems, "no extensions.attemptedAt")
	}
	wantMsg := []string{"may have been registered", "To check", "Serfigas support", "new Idempotency-Key"}
	if retry {
		wantMsg = append(wantMsg, "earlier attempt", "was not sent again")
	}
	for _, w := range wantMsg {
		if !strings.Contains(e.Message, w) {
			problems = append(problems, fmt.Sprintf("message lacks %q", w))
		}
	}
	for _, personal := range []string{"1012345678", "ana.perez", "3001234567", "unknown-1", "Barranquilla"} {
		if strings.Contains(e.Message, personal) {
			problems = append(problems, fmt.Sprintf("message repeats %q", personal))
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s: %s\n%s", label, strings.Join(problems, "; "), r.raw)
	}
}

func TestLoseNoData4_LateBrillaAnswerIsNeverRegisteredTwice(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode int32
	}{
		{"answer after the upstream timeout", registerAnswersLate},
		{"connection lost after the request was sent", registerDropsAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, lossy := newLossyRegisterEnv(t)
			lossy.mode.Store(tc.mode)
			vars := map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}
			idem := "Idempotency-Key: unknown-1"

			first := e.do(registerMutation, vars, idem)
			t.Logf("first attempt: %s", first.raw)
			wantUnknownOutcome(t, "first attempt", first, false)
			for i := range 3 {
				r := e.do(registerMutation, vars, idem)
				if i == 0 {
					t.Logf("retry: %s", r.raw)
				}
				wantUnknownOutcome(t, fmt.Sprintf("retry %d with the key", i+1), r, true)
			}
			wantUnknownOutcome(t, "same input without a key", e.do(registerMutation, vars), true)
			wantUnknownOutcome(t, "same input with a new key", e.do(registerMutation, vars, "Idempotency-Key: unknown-2"), true)
			// The same input again as a multipart upload is the same registration.
			in := regInput(uploadSlot("cedula.jpg"))
			body := multipartBody(t, registerMutation, map[string]any{"in": in},
				[]regFile{{"variables.in.attachments.0.file", "c.jpg", "image/jpeg", regJPEG}})
			wantUnknownOutcome(t, "same input as an upload", postMultipart(t, e.gateway, body), true)

			if n := e.registerCount(); n != 1 {
				t.Errorf("Brilla received %d registrations for one registration and its 6 retries, want 1", n)
			}
			// Brilla coming back does not reopen it within the window.
			lossy.mode.Store(registerPasses)
			wantUnknownOutcome(t, "retry once Brilla answers again", e.do(registerMutation, vars, idem), true)
			if n := e.registerCount(); n != 1 {
				t.Errorf("after Brilla recovered: %d registrations, want 1", n)
			}
		})
	}

	t.Run("a definite failure may be retried", func(t *testing.T) {
		e, lossy := newLossyRegisterEnv(t)
		lossy.mode.Store(registerUnavailable)
		vars := map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}
		idem := "Idempotency-Key: definite-1"
		r := e.do(registerMutation, vars, idem)
		if len(r.Errors) != 1 || r.Errors[0].code() != "UPSTREAM_UNAVAILABLE" || r.Errors[0].Extensions["outcome"] != nil {
			t.Fatalf("Brilla's own 503: %s, want UPSTREAM_UNAVAILABLE without an outcome", r.raw)
		}
		lossy.mode.Store(registerPasses)
		var out registerPayload
		e.do(registerMutation, vars, idem).ok(t, &out)
		if out.Register.TrackingCode == "" || e.registerCount() != 1 {
			t.Fatalf("retry after a definite failure: %+v, %d registrations; want it registered once", out.Register, e.registerCount())
		}
	})

	t.Run("across replicas and through a Redis outage", func(t *testing.T) {
		opts, err := redis.ParseURL(redistest.URL(t, redisDB))
		if err != nil {
			t.Fatal(err)
		}
		_ = redistest.Client(t, redisDB)
		redisProxy := redistest.NewCuttable(t, opts.Addr)
		lossy, up := newLossyBrilla(t, nil)
		c := newCluster(t, 2, sim.Config{}, fmt.Sprintf("redis://%s/%d", redisProxy.Addr(), redisDB), func(cfg *server.Config) {
			cfg.BrillaURL = up.URL
			cfg.UpstreamTimeout = lossyUpstreamTimeout
		})
		simHandler := c.sim.Handler()
		lossy.sim.Store(&simHandler)
		lossy.mode.Store(registerAnswersLate)
		vars := map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}
		idem := "Idempotency-Key: unknown-replicas"

		wantUnknownOutcome(t, "first attempt on replica A", post(t, c.replicas[0], registerMutation, vars, idem), false)
		wantUnknownOutcome(t, "retry on replica B", post(t, c.replicas[1], registerMutation, vars, idem), true)
		wantUnknownOutcome(t, "same input on replica B without a key", post(t, c.replicas[1], registerMutation, vars), true)

		// Redis away: replica B cannot see the record, and says so rather
		// than registering again.
		redisProxy.Cut()
		for i := range 3 {
			r := post(t, c.replicas[1], registerMutation, vars, idem)
			if len(r.Errors) != 1 || r.Errors[0].code() != "UPSTREAM_UNAVAILABLE" || r.Errors[0].Extensions["retryAfterSeconds"] == nil ||
				!strings.Contains(r.Errors[0].Message, "nothing was sent to Brilla") {
				t.Errorf("retry %d during the Redis outage: %s, want UPSTREAM_UNAVAILABLE, retryAfterSeconds, nothing sent", i, r.raw)
			}
		}
		if n := c.registerCount(); n != 1 {
			t.Errorf("during the Redis outage: %d registrations, want 1", n)
		}
		redisProxy.Restore()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := post(t, c.replicas[1], registerMutation, vars, idem)
			if len(r.Errors) == 1 && r.Errors[0].Extensions["outcome"] == "UNKNOWN" {
				wantUnknownOutcome(t, "retry on replica B after Redis is back", r, true)
				break
			}
			if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "nothing was sent to Brilla") || time.Now().After(deadline) {
				t.Fatalf("after Redis came back: %s", r.raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n := c.registerCount(); n != 1 {
			t.Errorf("after the Redis outage: %d registrations, want 1", n)
		}
	})

	t.Run("the README states the contract", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		readme := string(raw)
		for _, w := range []string{"Retrying never registers twice", "`outcome: \"UNKNOWN\"`", "may have been registered",
			"connection refused", "502", "504", "nothing was sent to Brilla"} {
			if !strings.Contains(readme, w) {
				t.Errorf("README lacks %q", w)
			}
		}
	})
}
