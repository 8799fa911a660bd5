package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/playground"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func pageOf(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// Production may turn GraphiQL off: its page and assets are then 404,
// while the API and health endpoints still answer.
func TestPlaygroundCanBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	asset := playground.AssetsPath + "playground.js"
	if code, page := pageOf(t, e.gateway, "/"); code != http.StatusOK || !strings.Contains(page, "graphiql") {
		t.Fatalf("default: GET / = %d", code)
	}
	off := newGateway(t, e, func(c *server.Config) { c.Hardening.DisablePlayground = true })
	for _, path := range []string{"/", asset} {
		if code, _ := pageOf(t, off, path); code != http.StatusNotFound {
			t.Errorf("playground off: GET %s = %d, want 404", path, code)
		}
	}
	if code, _ := pageOf(t, off, "/healthz"); code != http.StatusOK {
		t.Errorf("playground off: /healthz = %d", code)
	}
	var out struct {
		Typename string `json:"__typename"`
	}
	doOn(t, off, "{ __typename }").ok(t, &out)
}

// GraphiQL keeps headers (bearer tokens) in localStorage only when asked.
func TestPlaygroundPersistsHeadersOnlyWhenAsked(t *testing.T) {
	e := newEnv(t)
	if _, page := pageOf(t, e.gateway, "/"); !strings.Contains(page, `data-persist-headers="false"`) {
		t.Fatalf("default page persists headers:\n%s", page)
	}
	persist := newGateway(t, e, func(c *server.Config) { c.Hardening.PlaygroundPersistHeaders = true })
	if _, page := pageOf(t, persist, "/"); !strings.Contains(page, `data-persist-headers="true"`) {
		t.Fatalf("PlaygroundPersistHeaders: page:\n%s", page)
	}
}
