package limits

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"

	"github.com/serfigas/brilla-gateway/graph"
)

func operation(t *testing.T, query string) (*graphql.OperationContext, graphql.ExecutableSchema) {
	t.Helper()
	var cfg graph.Config
	Complexity(&cfg.Complexity)
	es := graph.NewExecutableSchema(cfg)
	doc, errs := gqlparser.LoadQueryWithRules(es.Schema(), query, nil)
	if errs != nil {
		t.Fatalf("query does not validate: %v", errs)
	}
	return &graphql.OperationContext{Doc: doc, Variables: map[string]any{}}, es
}

func TestShape(t *testing.T) {
	// viewer { credits { amortization { sequence } } } is 4 levels deep.
	deep := "{ viewer { credits { amortization { sequence } } } }"
	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 300 {
		fmt.Fprintf(&aliases, " a%d: creditQuote(amount: 100000, periods: 1) { amount }", i)
	}
	aliases.WriteString(" }")
	tests := []struct {
		name    string
		shape   Shape
		query   string
		refused string
	}{
		{"within depth", Shape{MaxDepth: 4}, deep, ""},
		{"too deep", Shape{MaxDepth: 3}, deep, "4 levels deep"},
		{"depth through fragments", Shape{MaxDepth: 3}, "{ viewer { ...C } } fragment C on Customer { credits { ... on Credit { amortization { sequence } } } }", "4 levels deep"},
		{"ofType chains do not count", Shape{MaxDepth: 5}, "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }", ""},
		{"introspection counts", Shape{MaxDepth: 4}, "{ __schema { types { fields { type { name } } } } }", "5 levels deep"},
		{"GraphiQL's introspection query passes", Shape{MaxDepth: DefaultMaxDepth}, introspectionQuery, ""},
		{"300 aliases", Shape{MaxAliases: 50}, aliases.String(), "300 aliases"},
		{"alias equal to the name is not an alias", Shape{MaxAliases: 0}, "{ viewer: viewer { vat } }", ""},
		{"no limits", Shape{}, aliases.String(), ""},
		{"introspection off", Shape{NoIntrospection: true}, "{ viewer { vat } __type(name: \"Tax\") { name } }", "introspection is disabled"},
		{"__typename is not introspection", Shape{NoIntrospection: true}, "{ viewer { __typename vat } }", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _ := operation(t, tc.query)
			err := tc.shape.MutateOperationContext(context.Background(), rc)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Message, tc.refused)):
				t.Fatalf("want refusal containing %q, got %v", tc.refused, err)
			case err != nil && err.Extensions["code"] != "BAD_USER_INPUT":
				t.Fatalf("code %v", err.Extensions["code"])
			}
		})
	}
}

func TestComplexityCountsPageSizesAndAliases(t *testing.T) {
	cost := func(q string) int {
		rc, es := operation(t, q)
		return complexity.Calculate(context.Background(), es, rc.Doc.Operations[0], rc.Variables)
	}
	small := cost("{ branches(first: 1) { edges { node { id } } } }")
	big := cost("{ branches(first: 100) { edges { node { id } } } }")
	if big < 50*small {
		t.Fatalf("first: 100 costs %d, first: 1 costs %d; the page size is not accounted for", big, small)
	}
	twice := cost("{ a: branches(first: 100) { edges { node { id } } } b: branches(first: 100) { edges { node { id } } } }")
	if twice < 2*big-1 {
		t.Fatalf("two aliased connections cost %d, one %d", twice, big)
	}
	// Backward pages cost like forward ones of the same size.
	for _, field := range []string{"branches", "taxes", "articles"} {
		fwd := cost("{ " + field + "(first: 100) { edges { node { id } } } }")
		back := cost("{ " + field + "(last: 100, before: \"x\") { edges { node { id } } } }")
		if back != fwd || back < 50*small {
			t.Fatalf("%s: last: 100 costs %d, first: 100 costs %d", field, back, fwd)
		}
	}
	if c := cost("{ viewer { credits { amortization { sequence } } } }"); c < estimatedCredits*estimatedInstallments {
		t.Fatalf("a customer's schedules cost only %d", c)
	}
}

// introspectionQuery is graphql-js's getIntrospectionQuery(), as GraphiQL sends it.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`
