package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

const (
	testKey         = "test-key-rw"
	testReadOnlyKey = "test-key-ro"
	simSecret       = "demo-secret"
	simToken        = "demo-token"
)

// env is a gateway wired to both simulators over real HTTP.
type env struct {
	t        testing.TB
	sim      *sim.Sim
	upstream *httptest.Server
	gateway  http.Handler
	logs     *strings.Builder
	logMu    *sync.Mutex
	tokens   []string // customer tokens issued in this test
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 120, Taxes: 40, Articles: 150}})
}

func newEnvWith(t testing.TB, cfg sim.Config) *env {
	t.Helper()
	s := sim.New(cfg)
	up := httptest.NewServer(s.Handler())
	t.Cleanup(up.Close)
	e := &env{t: t, sim: s, upstream: up, logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	e.gateway = newGateway(t, e, nil)
	// Every test's logs, whatever it did, hold no credential it used.
	t.Cleanup(func() {
		logs := e.logText()
		for _, secret := range append([]string{testKey, testReadOnlyKey, simSecret, "mi_respuesta"}, e.tokens...) {
			if strings.Contains(logs, secret) {
				t.Errorf("the gateway logged a credential (%.12s…)", secret)
			}
		}
	})
	return e
}

// newGateway builds a gateway over e's simulators that logs into e's log
// buffer; tune adjusts its configuration.
func newGateway(t testing.TB, e *env, tune func(*server.Config)) http.Handler {
	t.Helper()
	cfg := server.Config{
		BrillaURL:      e.upstream.URL,
		SerpiURL:       e.upstream.URL,
		SerpiSecretKey: simSecret,
		SerpiToken:     simToken,
		APIKeys: []auth.KeyConfig{
			{Name: "rw", SHA256: auth.HashKey(testKey), Scopes: []string{"catalog:read", "catalog:write"}},
			{Name: "ro", SHA256: auth.HashKey(testReadOnlyKey), Scopes: []string{"catalog:read"}},
		},
		Logger: e.logger(),
	}
	if tune != nil {
		tune(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// result is a decoded GraphQL response plus its raw body.
type result struct {
	Data   json.RawMessage
	Errors []gqlError
	raw    string
}

// do posts a query with the given headers ("Name: value") and variables.
func (e *env) do(query string, vars map[string]any, headers ...string) result {
	e.t.Helper()
	return post(e.t, e.gateway, query, vars, headers...)
}

// doOn posts a query without variables to h.
func doOn(t testing.TB, h http.Handler, query string, headers ...string) result {
	t.Helper()
	return post(t, h, query, nil, headers...)
}

func post(t testing.TB, h http.Handler, query string, vars map[string]any, headers ...string) result {
	t.Helper()
	return postRaw(t, h, map[string]any{"query": query, "variables": vars}, headers...)
}

// postRaw posts any JSON request body (persisted-query extensions, ...).
func postRaw(t testing.TB, h http.Handler, payload map[string]any, headers ...string) result {
	t.Helper()
	_, res := postStatus(t, h, payload, headers...)
	return res
}

// postStatus posts a JSON GraphQL request and returns the HTTP status with
// the decoded response.
func postStatus(t testing.TB, h http.Handler, payload map[string]any, headers ...string) (int, result) {
	t.Helper()
	body, _ := json.Marshal(payload)
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var res result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("response is not JSON (%d): %s", rec.Code, raw)
	}
	res.raw = string(raw)
	return rec.Code, res
}

// ok fails the test on any error and decodes data into out.
func (r result) ok(t testing.TB, out any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.raw)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		t.Fatalf("decode data: %v: %s", err, r.Data)
	}
}

// wantCode asserts that the first error has code (and upstream, if given).
func (r result) wantCode(t testing.TB, code string, upstream ...string) gqlError {
	t.Helper()
	if len(r.Errors) == 0 {
		t.Fatalf("want error %s, got none: %s", code, r.raw)
	}
	e := r.Errors[0]
	if e.code() != code {
		t.Fatalf("want code %s, got %s: %s", code, e.code(), r.raw)
	}
	if len(upstream) > 0 && e.Extensions["upstream"] != upstream[0] {
		t.Fatalf("want upstream %s, got %v: %s", upstream[0], e.Extensions["upstream"], r.raw)
	}
	return e
}

func key(k string) string             { return "X-Api-Key: " + k }
func bearer(tok string) string        { return "Authorization: Bearer " + tok }
func (e *env) stats() simkit.Snapshot { return e.sim.Control.Stats.Snapshot() }
func (e *env) resetStats()            { e.sim.Control.Stats.Reset() }

// signIn generates a customer token through the gateway.
func (e *env) signIn(vat, contract string) string {
	e.t.Helper()
	var out struct {
		GenerateToken struct{ Token, ExpiresAt string }
	}
	e.do(`mutation($in: GenerateTokenInput!) { generateToken(input: $in) { token expiresAt } }`,
		map[string]any{"in": map[string]any{"vat": vat, "contractNumber": contract, "questionId": 1, "answer": "mi_respuesta"}}).ok(e.t, &out)
	if out.GenerateToken.Token == "" {
		e.t.Fatal("empty token")
	}
	e.tokens = append(e.tokens, out.GenerateToken.Token)
	return out.GenerateToken.Token
}

// lockedWriter serializes writes from concurrent handlers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logger writes into e's log buffer.
func (e *env) logger() *slog.Logger {
	return observability.NewLogger(slog.NewTextHandler(&lockedWriter{mu: e.logMu, w: e.logs}, nil))
}

// logText returns what the gateway logged so far.
func (e *env) logText() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.logs.String()
}

// ctxT shortens function literal signatures in tests.
type ctxT = context.Context

// jsonUnmarshal decodes data into out.
func jsonUnmarshal(data []byte, out any) error { return json.Unmarshal(data, out) }
