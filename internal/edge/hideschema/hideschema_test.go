package hideschema

import (
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
scalar Money
enum Scope { CATALOG_READ CATALOG_WRITE }
input Filter { search: String, scope: Scope }
type Customer { name: String, secretBalance: Money }
type Query {
  viewer: Customer
  customers(first: Int, filter: Filter): [Customer!]!
  quote(amount: Money!): Int
}`})

// schemaNames are the names validation must not reveal with suggestions
// off unless the query wrote them.
var schemaNames = []string{"viewer", "customers", "first", "filter", "search", "scope", "CATALOG_READ",
	"CATALOG_WRITE", "Customer", "Filter", "Scope", "Money", "secretBalance", "Query"}

func validate(query string, rs *rules.Rules) []string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return nil
	}
	var msgs []string
	for _, e := range validator.ValidateWithRules(schema, doc, rs) {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

var probes = []string{
	`{ viewr { name } }`,
	`{ viewer { secretBalanc } }`,
	`{ customers(frist: 1) { name } }`,
	`query($a: Mony!) { quote(amount: $a) }`,
	`{ customers(filter: {scope: CATALOG_REED}) { name } }`,
	`{ customers(filter: {serch: "x"}) { name } }`,
	`{ customers(filter: {scope: "CATALOG_READ"}) { name } }`,
	`{ viewer }`,
	`{ viewer { name { x } } }`,
	`{ ... on Custmer { name } }`,
	`{ viewer { ... on Query { viewer { name } } } }`,
}

func TestWrapHidesSuggestionsAndTypes(t *testing.T) {
	wrapped := Wrap(rules.NewDefaultRules(), schema)
	for name := range wrapped.GetInner() {
		if _, suggests := withoutSuggestions[name]; suggests {
			t.Errorf("rule %s still suggests", name)
		}
	}
	if got, want := len(wrapped.GetInner()), len(rules.NewDefaultRules().GetInner()); got != want {
		t.Errorf("%d rules, want %d", got, want)
	}
	for _, q := range probes {
		plain, hidden := validate(q, rules.NewDefaultRules()), validate(q, wrapped)
		if len(plain) != len(hidden) || len(hidden) == 0 {
			t.Errorf("%s: %d errors with suggestions, %d without", q, len(plain), len(hidden))
		}
		for _, msg := range hidden {
			if strings.Contains(msg, "Did you mean") {
				t.Errorf("%s: suggestion in %q", q, msg)
			}
			for _, name := range schemaNames {
				if regexp.MustCompile(`\b`+name+`\b`).MatchString(msg) && !regexp.MustCompile(`\b`+name+`\b`).MatchString(q) {
					t.Errorf("%s: %q reveals %s", q, msg, name)
				}
			}
		}
	}
	// Unchanged rules keep their wording, built-in scalars included.
	msgs := validate(`{ viewer { name { x } } }`, wrapped)
	if len(msgs) != 2 || msgs[1] != `Field "name" must not have a selection since type "String" has no subfields.` {
		t.Errorf("got %q", msgs)
	}
}

// FuzzHiddenValidation: any document validates without a panic and
// without a suggestion when wrapped.
func FuzzHiddenValidation(f *testing.F) {
	for _, q := range probes {
		f.Add(q)
	}
	wrapped := Wrap(rules.NewDefaultRules(), schema)
	f.Fuzz(func(t *testing.T, query string) {
		for _, msg := range validate(query, wrapped) {
			if strings.Contains(msg, "Did you mean") {
				t.Fatalf("suggestion in %q", msg)
			}
		}
	})
}
