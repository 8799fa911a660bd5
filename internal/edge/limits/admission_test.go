package limits

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// fanOut is finding 2: F_i spreads F_{i+1} twice, so the document's
// expansion doubles at each of its levels.
func fanOut(levels int) string {
	var b strings.Builder
	b.WriteString("query FanOut { viewer { ...F0 } }")
	for i := range levels {
		fmt.Fprintf(&b, " fragment F%d on Customer { ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Customer { vat }", levels)
	return b.String()
}

// repeated is finding 3: one field selected n times in one selection set.
func repeated(n int) string {
	return "{" + strings.Repeat(" __typename", n) + " }"
}

func defaultLimits() Limits {
	return Limits{MaxTokens: DefaultMaxTokens, MaxDepth: DefaultMaxDepth, MaxAliases: DefaultMaxAliases,
		MaxFields: DefaultMaxFields, MaxFieldRepeats: DefaultMaxFieldRepeats}
}

// catalogQuery is a typical client operation.
const catalogQuery = `query Catalog($first: Int, $after: String) {
  branches(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...BranchFields city { id code } department { id code } } }
  }
  taxes(first: 5) { edges { node { id } } }
}
fragment BranchFields on Branch { id serpiId code description address phone mobile }`

func TestAdmission(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		query   string
		code    string // "" admitted
		message string
	}{
		{"catalog query", defaultLimits(), catalogQuery, "", ""},
		{"GraphiQL's introspection query", defaultLimits(), introspectionQuery, "", ""},
		{"fragment fan-out, 28 levels", defaultLimits(), fanOut(28), "BAD_USER_INPUT", "268435457 fields"},
		{"fragment fan-out, 60 levels saturates", defaultLimits(), fanOut(60), "BAD_USER_INPUT", "more than 1099511627776 fields"},
		{"16,000 __typename: the parser stops at the token limit", defaultLimits(), repeated(16_000), "BAD_USER_INPUT", "more than 10000 tokens"},
		{"16,000 __typename without a token limit", Limits{MaxFields: DefaultMaxFields}, repeated(16_000), "BAD_USER_INPUT", "16000 fields"},
		{"repeats within the field limit", defaultLimits(), repeated(500), "BAD_USER_INPUT", "one field 500 times"},
		{"repeats merged through same-named fields", defaultLimits(), "{" + strings.Repeat(" viewer {"+strings.Repeat(" vat", 20)+" }", 20) + " }", "BAD_USER_INPUT", "400 times"},
		{"repeats through fragments", defaultLimits(), "{ viewer { ...A ...B } } fragment A on Customer { ...C ...C } fragment B on Customer { ...C ...C } fragment C on Customer {" + strings.Repeat(" vat", 30) + " }", "BAD_USER_INPUT", "120 times"},
		{"conflicting pairs within the repeat limit", defaultLimits(), differingArguments(80), "BAD_USER_INPUT", "12640 pairs"},
		{"one place selected 100 times is within the pair limit", defaultLimits(), "{" + strings.Repeat(" __typename", 100) + " }", "", ""},
		{"a subscription with two aliases of its field", defaultLimits(), `subscription { a: registrationStatus(trackingCode: "X") { state } b: registrationStatus(trackingCode: "Y") { state } }`, "GRAPHQL_VALIDATION_FAILED", "exactly one root field"},
		{"a subscription's second field through a fragment", defaultLimits(), `subscription { ...S registrationStatus(trackingCode: "Y") { state } } fragment S on Subscription { registrationStatus(trackingCode: "X") { state } }`, "GRAPHQL_VALIDATION_FAILED", "selects 2"},
		{"one subscription field", defaultLimits(), `subscription { registrationStatus(trackingCode: "X") { state } }`, "", ""},
		{"a few repeats are fine", defaultLimits(), "{ viewer { vat ...A } } fragment A on Customer { vat name: vat }", "", ""},
		{"depth", defaultLimits(), "{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }", "BAD_USER_INPUT", "11 levels deep"},
		{"aliases after expansion", defaultLimits(), "{ ...A ...A } fragment A on Query {" + strings.Repeat(" x: __typename", 30) + " }", "BAD_USER_INPUT", "60 aliases"},
		{"introspection off", Limits{NoIntrospection: true}, introspectionQuery, "BAD_USER_INPUT", "introspection is disabled"},
		{"cyclic fragments", defaultLimits(), "{ viewer { ...A } } fragment A on Customer { vat ...B } fragment B on Customer { ...A }", "GRAPHQL_VALIDATION_FAILED", "cycle"},
		{"does not parse", defaultLimits(), "{ viewer { vat }", "GRAPHQL_PARSE_FAILED", ""},
		{"unknown fragment is validation's to refuse", defaultLimits(), "{ viewer { ...Nope } }", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NewAdmission(tc.limits, 0).Admit(context.Background(), tc.query)
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code == "":
				return
			case err == nil:
				t.Fatalf("admitted; want %s", tc.code)
			case err.Extensions["code"] != tc.code || !strings.Contains(err.Message, tc.message):
				t.Fatalf("got %v %q; want %s containing %q", err.Extensions["code"], err.Message, tc.code, tc.message)
			case strings.Contains(err.Message, "__typename") || strings.Contains(err.Message, "Customer"):
				t.Fatalf("the refusal repeats the document: %q", err.Message)
			}
		})
	}
}

// The fan-out costs one summary per fragment, not one per spread: 2^28
// spreads are counted, none walked.
func TestFragmentsAreMeasuredOnce(t *testing.T) {
	for _, levels := range []int{3, 28, 200} {
		doc, err := parser.ParseQuery(&ast.Source{Input: fanOut(levels)})
		if err != nil {
			t.Fatal(err)
		}
		c, m := measure(doc)
		if m.summarised != len(doc.Fragments) {
			t.Errorf("%d levels: %d fragment summaries for %d fragments", levels, m.summarised, len(doc.Fragments))
		}
		expansion := 1
		for range levels {
			expansion = add(expansion, expansion)
		}
		if c.Fields != add(1, expansion) {
			t.Errorf("%d levels: %d fields, want %d", levels, c.Fields, add(1, expansion))
		}
		if r, _ := m.fieldRepeats(doc); m.pathsBuilt != len(doc.Fragments) || r != expansion {
			t.Errorf("%d levels: %d path trees for %d fragments, %d repeats", levels, m.pathsBuilt, len(doc.Fragments), r)
		}
	}
}

func TestVerdictsAreCached(t *testing.T) {
	a := NewAdmission(defaultLimits(), 2)
	for range 3 {
		if err := a.Admit(context.Background(), catalogQuery); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.measured.Load(); n != 1 {
		t.Fatalf("measured %d times; want once", n)
	}
	// Refusals are not cached as admitted.
	for range 2 {
		if a.Admit(context.Background(), fanOut(28)) == nil {
			t.Fatal("fan-out admitted")
		}
	}
	if !a.Accepts(catalogQuery) || a.Accepts(repeated(16_000)) {
		t.Fatal("Accepts disagrees with Admit")
	}
}

// CalculateComplexity gives gqlgen's numbers while costing each fragment once.
func TestComplexityMatchesGqlgenAndCostsFragmentsOnce(t *testing.T) {
	queries := []string{
		catalogQuery,
		"{ viewer { credits { amortization { sequence } payments { reference } } } }",
		"{ a: branches(first: 100) { edges { node { ...B } } } b: branches(first: 3) { edges { node { ...B } } } } fragment B on Branch { id code city { id } }",
		"{ viewer { ...F0 } } fragment F0 on Customer { ...F1 ...F1 } fragment F1 on Customer { ...F2 ...F2 } fragment F2 on Customer { vat credits { id } }",
		"{ creditQuote(amount: 100000, periods: 12) { amount installmentAmount } __typename }",
		introspectionQuery,
	}
	for _, q := range queries {
		rc, es := operation(t, q)
		rc.Variables = map[string]any{"first": 50}
		op := rc.Doc.Operations[0]
		want := complexity.Calculate(context.Background(), es, op, rc.Variables)
		w := complexityWalker{es: es, schema: es.Schema(), vars: rc.Variables, fragments: map[*ast.FragmentDefinition]int{}}
		got := w.set(context.Background(), op.SelectionSet)
		if got != want {
			t.Errorf("complexity %d, gqlgen says %d: %s", got, want, q)
		}
		// At most once each (fewer when a spread is under __schema, which
		// costs nothing).
		if w.costed > len(rc.Doc.Fragments) {
			t.Errorf("%d fragment costs for %d fragments: %s", w.costed, len(rc.Doc.Fragments), q)
		}
	}
}

func TestComplexityLimit(t *testing.T) {
	rc, es := operation(t, "{ a: branches(first: 100) { edges { node { id code } } } }")
	rc.Operation = rc.Doc.Operations[0]
	limit := &ComplexityLimit{Max: 100}
	if err := limit.Validate(es); err != nil {
		t.Fatal(err)
	}
	err := limit.MutateOperationContext(context.Background(), rc)
	if err == nil || err.Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(err.Message, "complexity") {
		t.Fatalf("got %v", err)
	}
	limit.Max = 1_000_000
	if err := limit.MutateOperationContext(context.Background(), rc); err != nil {
		t.Fatal(err)
	}
	var _ graphql.OperationContextMutator = limit
}

// A typical catalog query: the hot path (a verdict already cached) and a
// first sight of the text.
func BenchmarkAdmission(b *testing.B) {
	b.Run("cached", func(b *testing.B) {
		a := NewAdmission(defaultLimits(), 0)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := a.Admit(ctx, catalogQuery); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		a := NewAdmission(defaultLimits(), 1)
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			// A distinct text each time (a trailing comment), same document.
			if err := a.Admit(ctx, catalogQuery+"\n#"+fmt.Sprint(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fan-out 28 levels", func(b *testing.B) {
		a := NewAdmission(defaultLimits(), 0)
		q := fanOut(28)
		for b.Loop() {
			if a.Admit(context.Background(), q) == nil {
				b.Fatal("admitted")
			}
		}
	})
}

func FuzzAdmission(f *testing.F) {
	for _, seed := range []string{
		fanOut(28), fanOut(3), repeated(16_000), repeated(200),
		strings.Repeat("{ a ", 200) + strings.Repeat("}", 200),
		"{ viewer { ...A } } fragment A on Customer { vat ...B } fragment B on Customer { ...A }",
		"fragment A on Query { ...A } { ...A }",
		introspectionQuery, catalogQuery,
		"{ viewer { vat } }", "query($a: Int = 1) { taxes(first: $a) { totalCount } }", "",
		"{ a: viewer { vat } a: viewer { vat } ... on Query { viewer { vat } } }",
	} {
		f.Add(seed)
	}
	limits := defaultLimits()
	f.Fuzz(func(t *testing.T, query string) {
		a := NewAdmission(limits, 8)
		err := a.Admit(context.Background(), query)
		if err != nil {
			if code := err.Extensions["code"]; code != "BAD_USER_INPUT" && code != "GRAPHQL_PARSE_FAILED" && code != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("refusal without a known code: %v", err)
			}
			return
		}
		// Admitted: within every limit, and the same verdict from the cache.
		doc, perr := parser.ParseQuery(&ast.Source{Input: query})
		if perr != nil {
			t.Fatalf("admitted a document that does not parse: %v", perr)
		}
		c := Measure(doc)
		if c.Depth > limits.MaxDepth || c.Aliases > limits.MaxAliases || c.Fields > limits.MaxFields || c.FieldRepeats > limits.MaxFieldRepeats || c.FragmentCycle {
			t.Fatalf("admitted over a limit: %+v", c)
		}
		if a.Admit(context.Background(), query) != nil {
			t.Fatal("verdict changed")
		}
	})
}

// differingArguments selects taxes and branches n times each, each time
// with another page size: every pair of one field conflicts.
func differingArguments(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, " taxes(first: %d) { totalCount } branches(first: %d) { totalCount }", i+1, i+1)
	}
	return b.String() + " }"
}
