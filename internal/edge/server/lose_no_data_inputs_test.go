package server_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// Issue 11, findings 5 and 6: decimals read exactly, and every argument
// problem reported at once.

// storedText reads SERPI's own record id under path from the simulator,
// bypassing the gateway, with numbers kept as the text SERPI wrote.
func (e *env) storedText(path string, id int) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.upstream.URL+path+"?limite=1000&pagina=1", nil)
	req.Header["secretkey"] = []string{simSecret}
	req.Header.Set("Authorization", "Bearer "+simToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	var body struct{ Result []map[string]any }
	if err := dec.Decode(&body); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range body.Result {
		if n, _ := r["id"].(json.Number); n.String() == json.Number(jsonInt(id)).String() {
			return r
		}
	}
	e.t.Fatalf("SERPI holds no record %d under %s", id, path)
	return nil
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

// exponent is a number printed in exponent form (1.0000005e+06, 1e-07).
var exponent = regexp.MustCompile(`\d[eE][+-]?\d`)

// fields returns the extensions.field of every error, sorted, and fails
// the test on an error that is not BAD_USER_INPUT, has no field, prints a
// number in exponent form or repeats one of echo.
func (r result) fields(t *testing.T, echo ...string) []string {
	t.Helper()
	var out []string
	for _, e := range r.Errors {
		f, _ := e.Extensions["field"].(string)
		if e.code() != "BAD_USER_INPUT" || f == "" {
			t.Errorf("error without BAD_USER_INPUT and a field: %s", r.raw)
		}
		if exponent.MatchString(e.Message) {
			t.Errorf("message %q prints a number in exponent form", e.Message)
		}
		for _, s := range echo {
			if strings.Contains(e.Message, s) {
				t.Errorf("message %q repeats %q", e.Message, s)
			}
		}
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func TestLoseNoData5_DecimalsAreExact(t *testing.T) {
	e := newEnv(t)
	const taxFields = `tax { serpiId rate base }`
	type created struct {
		CreateTax struct{ Tax *taxOut }
	}
	// Each accepted form must give the rate exactly as written, in the
	// answer and in what SERPI stored.
	accepted := []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"inline literal", `mutation { createTax(input: {description: "IVA LITERAL", rate: 19.5, appliesTo: 1, base: 1000, accountId: 2659}) { ` + taxFields + ` } }`, nil},
		{"JSON number", `mutation($in: CreateTaxInput!) { createTax(input: $in) { ` + taxFields + ` } }`,
			map[string]any{"in": map[string]any{"description": "IVA JSON", "rate": json.Number("19.5"), "appliesTo": 1, "base": json.Number("1000"), "accountId": 2659}}},
		{"string", `mutation($in: CreateTaxInput!) { createTax(input: $in) { ` + taxFields + ` } }`,
			map[string]any{"in": map[string]any{"description": "IVA TEXTO", "rate": "19.5", "appliesTo": 1, "base": "1000", "accountId": 2659}}},
		{"variable default", `mutation($r: Decimal = 19.5) { createTax(input: {description: "IVA DEFECTO", rate: $r, appliesTo: 1, base: 1000, accountId: 2659}) { ` + taxFields + ` } }`, nil},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			var out created
			res := post(t, e.gateway, tt.query, tt.vars, key(testKey))
			res.ok(t, &out)
			if out.CreateTax.Tax == nil || out.CreateTax.Tax.Rate != "19.5" || out.CreateTax.Tax.Base != "1000" {
				t.Fatalf("rate answered %s", res.raw)
			}
			stored := e.storedText(serpi.PathImpuesto, out.CreateTax.Tax.SerpiID)
			if v, _ := stored["valor"].(json.Number); v != "19.5" {
				t.Fatalf("SERPI stored valor %v, want 19.5", stored["valor"])
			}
		})
	}

	// The same with introspection off, where hideschema wraps the rules.
	t.Run("inline literal, schema hidden", func(t *testing.T) {
		hidden := newGateway(t, e, func(c *server.Config) { c.Hardening.DisableIntrospection = true })
		var out created
		res := post(t, hidden, accepted[0].query, nil, key(testKey))
		res.ok(t, &out)
		if out.CreateTax.Tax == nil || out.CreateTax.Tax.Rate != "19.5" {
			t.Fatalf("rate answered %s", res.raw)
		}
	})

	// More decimals than SERPI keeps (5), or more digits than it holds,
	// whatever the form: refused before anything reaches SERPI, each
	// problem naming its field, no number repeated.
	const tooFine, tooBig = "0.30000000000000004", "12345678901234567890.123456789"
	refused := []struct {
		name  string
		query string
		vars  map[string]any
	}{
		{"JSON numbers", `mutation($in: CreateTaxInput!) { createTax(input: $in) { ` + taxFields + ` } }`,
			map[string]any{"in": map[string]any{"description": "IVA MAL", "rate": json.Number(tooFine), "appliesTo": 1, "base": json.Number(tooBig), "accountId": 2659}}},
		{"strings", `mutation($in: CreateTaxInput!) { createTax(input: $in) { ` + taxFields + ` } }`,
			map[string]any{"in": map[string]any{"description": "IVA MAL", "rate": tooFine, "appliesTo": 1, "base": tooBig, "accountId": 2659}}},
		{"inline literals", `mutation { createTax(input: {description: "IVA MAL", rate: ` + tooFine + `, appliesTo: 1, base: ` + tooBig + `, accountId: 2659}) { ` + taxFields + ` } }`, nil},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			e.resetStats()
			res := post(t, e.gateway, tt.query, tt.vars, key(testKey))
			if got := res.fields(t, "30000000000000004", "1234567890", "123456789"); !slices.Equal(got, []string{"input.base", "input.rate"}) {
				t.Fatalf("fields %v, want input.base and input.rate: %s", got, res.raw)
			}
			if n := e.stats().Calls["POST "+serpi.PathImpuesto]; n != 0 {
				t.Fatalf("SERPI received %d creates", n)
			}
		})
	}

	// An article's decimals follow the same rule.
	t.Run("article decimals", func(t *testing.T) {
		in := articleInput("DEC-1")
		in["cost"], in["weight"] = json.Number("1000.123456"), json.Number("99999999999999")
		e.resetStats()
		res := e.do(createArticlesM, map[string]any{"in": []any{in}}, key(testKey))
		if got := res.fields(t, "123456", "99999999999999"); !slices.Equal(got, []string{"input[0].cost", "input[0].weight"}) {
			t.Fatalf("article with too fine a cost and too large a weight: fields %v: %s", got, res.raw)
		}
		if n := e.stats().Calls["POST "+serpi.PathArticulo]; n != 0 {
			t.Fatalf("SERPI received %d creates", n)
		}
	})

	// Money is read the same way: exact text, whole pesos.
	t.Run("money", func(t *testing.T) {
		const quote = `query($a: Money!) { creditQuote(amount: $a, periods: 12) { amount } }`
		var out struct{ CreditQuote struct{ Amount int64 } }
		e.do(quote, map[string]any{"a": json.Number("1500000.00")}, key(testKey)).ok(t, &out)
		if out.CreditQuote.Amount != 1500000 {
			t.Fatalf("amount %d", out.CreditQuote.Amount)
		}
		for _, q := range []string{
			`{ creditQuote(amount: 1000000.5, periods: 12) { amount } }`,
			`{ creditQuote(amount: 1.0000005e6, periods: 12) { amount } }`,
		} {
			res := e.do(q, nil, key(testKey))
			if got := res.fields(t, "1000000.5", "1.0000005"); !slices.Equal(got, []string{"amount"}) {
				t.Fatalf("%s: fields %v: %s", q, got, res.raw)
			}
		}
	})
}

func TestLoseNoData6_EveryArgumentProblemAtOnce(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		query  string
		vars   map[string]any
		fields []string
	}{
		{"validateContract", `{ validateContract(vat: "12", contractNumber: "abc") { valid } }`, nil, []string{"contractNumber", "vat"}},
		{"creditQuote", `{ creditQuote(amount: 1, periods: 0) { amount } }`, nil, []string{"amount", "periods"}},
		{"generateToken", `mutation { generateToken(input: {vat: "1", contractNumber: "x", questionId: 0, answer: " "}) { token } }`, nil,
			[]string{"input.answer", "input.contractNumber", "input.questionId", "input.vat"}},
		// A scalar's refusal names the input field.
		{"scalar", `mutation($in: CreateTaxInput!) { createTax(input: $in) { message } }`,
			map[string]any{"in": map[string]any{"description": "IVA", "rate": "abc", "appliesTo": 1, "base": "1", "accountId": 1}}, []string{"input.rate"}},
		// So does a variable's: numbers printed as written, not 1.0000005e+06.
		{"variable", `query($p: Int!) { creditQuote(amount: 1000000, periods: $p) { amount } }`,
			map[string]any{"p": json.Number("1000000.5")}, []string{"$p"}},
		{"variable in an input", `mutation($in: CreateTaxInput!) { createTax(input: $in) { message } }`,
			map[string]any{"in": map[string]any{"description": "IVA", "rate": "1", "appliesTo": json.Number("1.0000005e+06"), "base": "1", "accountId": 1}}, []string{"$in.appliesTo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.resetStats()
			res := e.do(tt.query, tt.vars, key(testKey))
			if got := res.fields(t, "abc", "1000000.5", "1.0000005"); !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %v, want %v: %s", got, tt.fields, res.raw)
			}
			if n := e.stats().Calls["POST "+brilla.PathValidateContract] + e.stats().Calls["POST "+brilla.PathTokenGenerate]; n != 0 {
				t.Fatalf("Brilla called %d times for a refused input", n)
			}
		})
	}
}
