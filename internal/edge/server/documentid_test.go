package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// getStatus sends a GraphQL GET request with the given query string.
func getStatus(t *testing.T, h http.Handler, values url.Values) (int, result) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/graphql?"+values.Encode(), nil)
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

// Trusted documents answer the GraphQL-over-HTTP persisted documents form
// ({"documentId": "sha256:<hex>"}, or ?documentId= on GET) from the same
// manifest as the APQ form, and refuse an id the manifest lacks.
func TestTrustedDocumentsByDocumentID(t *testing.T) {
	e := newEnv(t)
	q := `query Quote { creditQuote(amount: 500000, periods: 3) { installmentAmount } }`
	m, err := persisted.ParseManifest([]byte(fmt.Sprintf(`{%q: %q}`, persisted.Hash(q), q)))
	if err != nil {
		t.Fatal(err)
	}
	h := newGateway(t, e, func(c *server.Config) { c.Hardening.TrustedDocuments = m })
	var out struct {
		CreditQuote struct{ InstallmentAmount int }
	}
	for _, id := range []string{"sha256:" + persisted.Hash(q), persisted.Hash(q), "sha256:" + strings.ToUpper(persisted.Hash(q))} {
		status, res := postStatus(t, h, map[string]any{"documentId": id})
		res.ok(t, &out)
		if status != http.StatusOK || out.CreditQuote.InstallmentAmount == 0 {
			t.Fatalf("POST documentId %q: %d %s", id, status, res.raw)
		}
		status, res = getStatus(t, h, url.Values{"documentId": {id}})
		res.ok(t, &out)
		if status != http.StatusOK || out.CreditQuote.InstallmentAmount == 0 {
			t.Fatalf("GET documentId %q: %d %s", id, status, res.raw)
		}
	}

	unknown := "sha256:" + persisted.Hash("{ validateContract(vat: \"1\", contractNumber: \"2\") { valid } }")
	_, res := postStatus(t, h, map[string]any{"documentId": unknown})
	res.wantCode(t, "FORBIDDEN")
	_, res = getStatus(t, h, url.Values{"documentId": {unknown}})
	res.wantCode(t, "FORBIDDEN")

	refused := []struct {
		name    string
		payload map[string]any
	}{
		{"not a hash", map[string]any{"documentId": "sha256:nope"}},
		{"another algorithm", map[string]any{"documentId": "md5:" + persisted.Hash(q)}},
		{"not a string", map[string]any{"documentId": 7}},
		{"with a query", map[string]any{"documentId": "sha256:" + persisted.Hash(q), "query": q}},
		{"disagreeing with persistedQuery", map[string]any{"documentId": "sha256:" + persisted.Hash(q),
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": persisted.Hash("other")}}}},
	}
	for _, tc := range refused {
		status, res := postStatus(t, h, tc.payload)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.name, status, res.raw)
		}
		if res.wantCode(t, "BAD_REQUEST"); strings.Contains(res.raw, "nope") {
			t.Errorf("%s: the refusal repeats the id: %s", tc.name, res.raw)
		}
	}
}
