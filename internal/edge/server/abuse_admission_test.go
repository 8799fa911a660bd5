package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
)

// admissionAbuseDeadline bounds every abusive request of these tests: not
// a performance assertion, a guard so that the code before admission
// (where these requests cost from seconds to minutes) fails quickly.
const admissionAbuseDeadline = 5 * time.Second

// admissionServer serves h on a real socket. http.Server.Close, unlike
// httptest.Server.Close, does not wait for handlers still running, so a
// test that gave up on a slow request ends at once.
func admissionServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/graphql"
}

// admissionRequest sends req within the deadline and decodes the answer.
func admissionRequest(t *testing.T, req *http.Request) (int, result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), admissionAbuseDeadline)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if ctx.Err() != nil {
		t.Fatalf("no answer within %s", admissionAbuseDeadline)
	}
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	var res result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("answer is not JSON (%d): %.200s", resp.StatusCode, raw)
	}
	res.raw = string(raw)
	return resp.StatusCode, res
}

// admissionTransports sends one document the ways a client can: a JSON
// POST, a GET, and an APQ registration (hash and text).
func admissionTransports(t *testing.T, endpoint, query string) map[string]*http.Request {
	t.Helper()
	postJSON := func(body any) *http.Request {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", testKey)
		return req
	}
	reqs := map[string]*http.Request{
		"POST": postJSON(map[string]any{"query": query}),
		"APQ": postJSON(map[string]any{"query": query,
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": persisted.Hash(query)}}}),
	}
	if len(query) < 4096 { // a GET carries what fits a URL
		get, _ := http.NewRequest(http.MethodGet, endpoint+"?query="+url.QueryEscape(query), nil)
		get.Header.Set("X-Api-Key", testKey)
		reqs["GET"] = get
	}
	return reqs
}

// assertAdmissionRefused checks one refusal: 200 (application/json),
// BAD_USER_INPUT naming the limit, no data, nothing asked upstream.
func assertAdmissionRefused(t *testing.T, e *env, status int, res result, limit string) {
	t.Helper()
	if status != http.StatusOK {
		t.Errorf("status %d, want 200 (application/json)", status)
	}
	got := res.wantCode(t, "BAD_USER_INPUT")
	if !strings.Contains(got.Message, limit) {
		t.Errorf("message %q does not name the limit (%q)", got.Message, limit)
	}
	if strings.Contains(got.Message, "__typename") || strings.Contains(got.Message, "fragment F") {
		t.Errorf("the refusal repeats the document: %q", got.Message)
	}
	if len(res.Data) > 0 && string(res.Data) != "null" {
		t.Errorf("data on a refused document: %s", res.Data)
	}
	if n := totalCalls(e.stats(), "/api/"); n != 0 {
		t.Errorf("a refused document made %d upstream calls", n)
	}
}

// Finding 2: fragment F_i spreads F_{i+1} twice; 28 levels (1.5 KB) cost
// 45 s of CPU. Admission counts the expansion without walking it.
func TestAbuse2_FragmentFanOut(t *testing.T) {
	e := newEnv(t)
	endpoint := admissionServer(t, e.gateway)
	var doc strings.Builder
	doc.WriteString("query FanOut { viewer { ...F0 } }")
	for i := range 28 {
		fmt.Fprintf(&doc, " fragment F%d on Customer { ...F%d ...F%d }", i, i+1, i+1)
	}
	doc.WriteString(" fragment F28 on Customer { vat }")
	for name, req := range admissionTransports(t, endpoint, doc.String()) {
		t.Run(name, func(t *testing.T) {
			e.resetStats()
			status, res := admissionRequest(t, req)
			assertAdmissionRefused(t, e, status, res, "268435457 fields")
		})
	}
	// The APQ registration stored nothing.
	status, res := admissionRequest(t, admissionTransports(t, endpoint, `{ __typename }`)["POST"])
	if status != http.StatusOK || len(res.Errors) > 0 {
		t.Fatalf("an ordinary query after the abuse: %d %s", status, res.raw)
	}
	hashOnly, _ := json.Marshal(map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": persisted.Hash(doc.String())}}})
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(string(hashOnly)))
	req.Header.Set("Content-Type", "application/json")
	_, res = admissionRequest(t, req)
	res.wantCode(t, "PERSISTED_QUERY_NOT_FOUND")
}

// Finding 3: 16,000 copies of __typename (176 KB) cost 9 s in validation
// (the overlapping-fields rule is quadratic). The parser now stops at the
// token limit; repeats within it are refused before validation too.
func TestAbuse3_RepeatedFields(t *testing.T) {
	e := newEnv(t)
	endpoint := admissionServer(t, e.gateway)
	wall := "{" + strings.Repeat(" __typename", 16_000) + " }"
	nested := "{" + strings.Repeat(" viewer {"+strings.Repeat(" vat", 44)+" }", 44) + " }"
	for _, tc := range []struct{ name, query, limit string }{
		{"16,000 __typename", wall, "10000 tokens"},
		{"1,900 __typename", "{" + strings.Repeat(" __typename", 1_900) + " }", "1900 times"},
		{"44 x 44 merged", nested, "1936 times"},
	} {
		for name, req := range admissionTransports(t, endpoint, tc.query) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				e.resetStats()
				status, res := admissionRequest(t, req)
				assertAdmissionRefused(t, e, status, res, tc.limit)
			})
		}
	}
}
