package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/customer/loginguard"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// postStatus posts a JSON GraphQL request and returns the HTTP status with
// the decoded response.
func postStatus(t *testing.T, h http.Handler, payload map[string]any, headers ...string) (int, result) {
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

// Finding 6: a Money value no int64 holds (or no number at all) is the
// caller's mistake: 200 with BAD_USER_INPUT naming the argument, never a
// 500 with a panic in the log, and the message does not repeat the value
// nor print a number in exponent form.
func TestAbuse6_MoneyOutOfRange(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		literal string // as written in the document
		value   any    // as sent in variables
	}{
		{"past int64", "9223372036854775808", json.Number("9223372036854775808")},
		{"below int64", "-9223372036854775809", json.Number("-9223372036854775809")},
		{"past float64", "1e999", json.Number("1e999")},
		{"fraction", "1.5", json.Number("1.5")},
		{"not a number", `"abc"`, "abc"},
		{"object", `{a: 1}`, map[string]any{"a": 1}},
	}
	check := func(t *testing.T, status int, res result, echo string) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", status, res.raw)
		}
		got := res.wantCode(t, "BAD_USER_INPUT")
		if got.Extensions["field"] != "amount" {
			t.Errorf("extensions.field %v, want amount: %s", got.Extensions["field"], res.raw)
		}
		if strings.Contains(res.raw, echo) {
			t.Errorf("the answer repeats the value %s: %s", echo, res.raw)
		}
		if strings.Contains(got.Message, "e+") || strings.Contains(got.Message, "E+") {
			t.Errorf("a number in exponent form: %s", got.Message)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name+"/literal", func(t *testing.T) {
			status, res := postStatus(t, e.gateway, map[string]any{
				"query": `{ creditQuote(amount: ` + tc.literal + `, periods: 3) { amount } }`})
			check(t, status, res, strings.Trim(tc.literal, `"`))
		})
		t.Run(tc.name+"/variable", func(t *testing.T) {
			status, res := postStatus(t, e.gateway, map[string]any{
				"query":     `query($a: Money!) { creditQuote(amount: $a, periods: 3) { amount } }`,
				"variables": map[string]any{"a": tc.value}})
			echo := "abc"
			if n, ok := tc.value.(json.Number); ok {
				echo = string(n)
			}
			if _, ok := tc.value.(map[string]any); ok {
				echo = `"a"`
			}
			check(t, status, res, echo)
		})
	}
	// Nested in a list and an object under the custom scalar, where
	// gqlparser's validation does not look, the path names the spot.
	status, res := postStatus(t, e.gateway, map[string]any{
		"query": `{ creditQuote(amount: {a: [1, 1e999]}, periods: 3) { amount } }`})
	if status != http.StatusOK {
		t.Fatalf("nested: status %d: %s", status, res.raw)
	}
	if got := res.wantCode(t, "BAD_USER_INPUT"); got.Extensions["field"] != "amount.a[1]" || strings.Contains(res.raw, "999") {
		t.Errorf("nested: %s", res.raw)
	}
	// A valid amount still works.
	var ok struct{ CreditQuote struct{ Amount int64 } }
	e.do(`{ creditQuote(amount: 1000000, periods: 3) { amount } }`, nil).ok(t, &ok)
	if logs := e.logText(); strings.Contains(logs, "panic") {
		t.Fatalf("a panic was logged:\n%s", logs)
	}
}

// Finding 11: without Redis, a flood of made-up sign-ins must not fill the
// memory guard so that real customers are refused, and an address making
// many failures is limited with the real wait.
func TestAbuse11_SignInGuardCannotBeFilled(t *testing.T) {
	t.Run("guard API: 100,000 made-up documents", func(t *testing.T) {
		g := loginguard.NewMemory(loginguard.Policy{})
		ctx := context.Background()
		for i := range 100_000 {
			// Each from its own address, as a botnet's; one address is
			// stopped by its own allowance long before.
			a := loginguard.Attempt{Subject: loginguard.Subject(strconv.Itoa(10_000_000+i), "99999999"),
				Addr: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)}
			_, _ = g.Begin(ctx, a)
		}
		_, _ = g.Begin(ctx, loginguard.Attempt{Subject: loginguard.Subject("one-more", "1")})
		v, err := g.Begin(ctx, loginguard.Attempt{Subject: loginguard.Subject("123456789", "12345678"), Addr: "198.51.100.20"})
		if err != nil || !v.Allowed {
			t.Fatalf("a real customer's sign-in was refused after the flood: %+v %v", v, err)
		}
		if n := g.Len(); n > loginguard.DefaultMemoryEntries {
			t.Fatalf("the guard holds %d entries, bound %d", n, loginguard.DefaultMemoryEntries)
		}
	})

	t.Run("server: one address guessing many documents", func(t *testing.T) {
		e := newEnv(t)
		const guesser = "X-Forwarded-For: 203.0.113.66"
		gw := newGateway(t, e, func(c *server.Config) {
			c.Hardening.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} // httptest's RemoteAddr
		})
		for i := range loginguard.DefaultMaxFailuresPerAddress {
			r := post(t, gw, signInMutation, signInVars(strconv.Itoa(20_000_000+i), "12345678", "wrong"), guesser)
			r.wantCode(t, "UNAUTHENTICATED")
		}
		status, r := postStatus(t, gw, map[string]any{"query": signInMutation,
			"variables": signInVars(strconv.Itoa(30_000_000), "12345678", "wrong")}, guesser)
		got := r.wantCode(t, "RATE_LIMITED")
		secs, _ := got.Extensions["retryAfterSeconds"].(float64)
		if status != http.StatusOK || secs < 14*60 || secs > 15*60 {
			t.Fatalf("status %d, retryAfterSeconds %v, want the rest of 15 minutes: %s", status, got.Extensions["retryAfterSeconds"], r.raw)
		}
		if !strings.Contains(got.Message, "15 minutes") || !strings.Contains(got.Message, "address") {
			t.Errorf("the message does not give the real wait: %q", got.Message)
		}
		// The guesser's address is locked even for a real document; a
		// customer elsewhere signs in.
		post(t, gw, signInMutation, signInVars("123456789", "12345678", "mi_respuesta"), guesser).wantCode(t, "RATE_LIMITED")
		var ok struct{ GenerateToken struct{ Token string } }
		post(t, gw, signInMutation, signInVars("123456789", "12345678", "mi_respuesta"), "X-Forwarded-For: 198.51.100.30").ok(t, &ok)
		if ok.GenerateToken.Token == "" {
			t.Fatal("no token")
		}
		e.tokens = append(e.tokens, ok.GenerateToken.Token)
	})
}

// Finding 10: anonymous clients cannot spend the operation label budget.
// After 300 made-up names, a real operation (declared by the operator, or
// run with a verified API key) still gets its own label, and the number of
// operation labels stays bounded.
func TestAbuse10_OperationLabelsCannotBeExhausted(t *testing.T) {
	e := newEnv(t)
	gw := newGateway(t, e, func(c *server.Config) {
		c.Hardening.MetricsOperations = []string{"PortalQuote"}
		c.Hardening.DisableRateLimits = true
	})
	for i := range 300 {
		doOn(t, gw, fmt.Sprintf(`query Made%d { __typename }`, i))
	}
	var out struct{ CreditQuote struct{ Periods int } }
	doOn(t, gw, `query PortalQuote { creditQuote(amount: 1000000, periods: 3) { periods } }`).ok(t, &out)
	var branches struct{ Branches struct{ TotalCount int } }
	doOn(t, gw, `query CatalogSync { branches(first: 1) { totalCount } }`, key(testKey)).ok(t, &branches)

	labels := operationLabels(t, gw)
	for _, want := range []string{"PortalQuote", "CatalogSync", "other"} {
		if !labels[want] {
			t.Errorf("no series with operation=%q; labels: %v", want, labels)
		}
	}
	for l := range labels {
		if strings.HasPrefix(l, "Made") {
			t.Fatalf("an anonymous made-up name got its own label %q", l)
		}
	}
	if len(labels) > 10 {
		t.Fatalf("%d operation labels after an anonymous flood", len(labels))
	}
}

// operationLabels returns the operation label values of
// gateway_graphql_requests_total.
func operationLabels(t *testing.T, h http.Handler) map[string]bool {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	labels := map[string]bool{}
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		rest, ok := strings.CutPrefix(line, "gateway_graphql_requests_total{")
		if !ok {
			continue
		}
		_, after, _ := strings.Cut(rest, `operation="`)
		name, _, _ := strings.Cut(after, `"`)
		labels[name] = true
	}
	return labels
}

// Finding 9: with introspection off, validation errors suggest nothing
// and name no schema type, so the schema cannot be read back one guess at
// a time; with introspection on, GraphiQL users keep the suggestions.
func TestAbuse9_NoSuggestionsWithoutIntrospection(t *testing.T) {
	e := newEnv(t)
	hidden := newGateway(t, e, func(c *server.Config) { c.Hardening.DisableIntrospection = true })
	open := newGateway(t, e, nil)
	cases := []struct {
		name, query string
		revealed    []string // schema names the query does not contain
	}{
		{"misspelt root field", `{ viewr { name } }`, []string{"viewer", "Query"}},
		{"misspelt nested field", `{ creditQuote(amount: 1000000, periods: 3) { periodz } }`, []string{"periods", "CreditQuote"}},
		{"misspelt argument", `{ branches(frist: 1) { totalCount } }`, []string{"first", "Query"}},
		{"misspelt type", `query($a: Mony!) { creditQuote(amount: $a, periods: 3) { periods } }`, []string{"Money"}},
		{"misspelt enum value", `mutation { createArticles(input: [{code: "X", planningType: GENERALL}]) { created } }`, []string{"GENERAL", "PlanningType"}},
		{"misspelt input field", `mutation { createArticles(input: [{cod: "X"}]) { created } }`, []string{"code", "ArticleInput"}},
		{"missing selection", `{ creditQuote(amount: 1000000, periods: 3) }`, []string{"CreditQuote"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, res := postStatus(t, hidden, map[string]any{"query": tc.query}, key(testKey))
			if len(res.Errors) == 0 {
				t.Fatalf("no error: %s", res.raw)
			}
			if status == http.StatusInternalServerError {
				t.Fatalf("status %d", status)
			}
			for _, err := range res.Errors {
				t.Logf("%s", err.Message)
				if strings.Contains(err.Message, "Did you mean") {
					t.Errorf("a suggestion with introspection off: %q", err.Message)
				}
				for _, name := range tc.revealed {
					if regexp.MustCompile(`\b` + name + `\b`).MatchString(err.Message) {
						t.Errorf("the message reveals %q: %q", name, err.Message)
					}
				}
			}
		})
	}
	// With introspection on the suggestion is there.
	res := doOn(t, open, `{ viewr { name } }`)
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, `Did you mean "viewer"?`) {
		t.Fatalf("no suggestion with introspection on: %s", res.raw)
	}
	res = doOn(t, open, `{ branches(frist: 1) { totalCount } }`)
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, `Did you mean "first"?`) {
		t.Fatalf("no argument suggestion with introspection on: %s", res.raw)
	}
}
