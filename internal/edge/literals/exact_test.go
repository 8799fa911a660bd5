package literals

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"
)

const exactSchema = `
scalar Decimal
scalar Money
scalar JSON
input TaxInput { rate: Decimal, rates: [Decimal!], count: Int, data: JSON }
type Query {
  tax(input: TaxInput): Int
  quote(amount: Money!, periods: Int!, ratio: Float): Int
}`

// TestExactNumbers: number literals of Decimal and Money reach gqlgen as
// their text (what ast.Value.Value returns), wherever they are written;
// other scalars' literals are left alone.
func TestExactNumbers(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: exactSchema})
	tests := []struct {
		name  string
		query string
		want  map[string]any // argument path -> the value gqlgen reads
	}{
		{"float", `{ tax(input: {rate: 19.5}) }`, map[string]any{"input.rate": "19.5"}},
		{"beyond float64", `{ tax(input: {rate: 0.30000000000000004}) }`, map[string]any{"input.rate": "0.30000000000000004"}},
		{"beyond int64", `{ tax(input: {rate: 12345678901234567890.123456789}) }`, map[string]any{"input.rate": "12345678901234567890.123456789"}},
		{"exponent stays text", `{ tax(input: {rate: 1.0000005e6}) }`, map[string]any{"input.rate": "1.0000005e6"}},
		{"in a list", `{ tax(input: {rates: [1.10, 2]}) }`, map[string]any{"input.rates[0]": "1.10", "input.rates[1]": "2"}},
		{"money", `{ quote(amount: 1500000.00, periods: 3, ratio: 0.5) }`, map[string]any{"amount": "1500000.00", "periods": int64(3), "ratio": 0.5}},
		{"int stays int", `{ tax(input: {count: 7, rate: "7"}) }`, map[string]any{"input.count": int64(7), "input.rate": "7"}},
		{"json untouched", `{ tax(input: {data: 1.5}) }`, map[string]any{"input.data": 1.5}},
		{"in a fragment", `{ ...F } fragment F on Query { tax(input: {rate: 5.00000}) }`, map[string]any{"input.rate": "5.00000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := gqlparser.LoadQueryWithRules(schema, tt.query, Rules())
			if err != nil {
				t.Fatal(err)
			}
			var field *ast.Field
			sel := doc.Operations[0].SelectionSet[0]
			if spread, ok := sel.(*ast.FragmentSpread); ok {
				sel = doc.Fragments.ForName(spread.Name).SelectionSet[0]
			}
			field = sel.(*ast.Field)
			args := field.ArgumentMap(nil)
			for path, want := range tt.want {
				if got := lookup(args, path); got != want {
					t.Errorf("%s = %#v (%T), want %#v (%T)", path, got, got, want, want)
				}
			}
		})
	}

	// A variable's default is a literal too.
	doc, errs := gqlparser.LoadQueryWithRules(schema, `query($r: Decimal = 19.5) { tax(input: {rate: $r}) }`, Rules())
	if errs != nil {
		t.Fatal(errs)
	}
	vars, err := validator.VariableValues(schema, doc.Operations[0], nil)
	if err != nil || vars["r"] != "19.5" {
		t.Fatalf("default %#v, %v", vars["r"], err)
	}
}

// lookup follows "input.rates[1]" through decoded argument values.
func lookup(args map[string]any, path string) any {
	var cur any = args
	for _, part := range splitPath(path) {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[part.name]
		case []any:
			cur = c[part.index]
		}
	}
	return cur
}

type pathPart struct {
	name  string
	index int
}

func splitPath(path string) []pathPart {
	var out []pathPart
	name := ""
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '.':
			if name != "" {
				out = append(out, pathPart{name: name})
			}
			name = ""
		case '[':
			if name != "" {
				out = append(out, pathPart{name: name})
			}
			name = ""
			j := i + 1
			n := 0
			for ; path[j] != ']'; j++ {
				n = n*10 + int(path[j]-'0')
			}
			out = append(out, pathPart{index: n})
			i = j
		default:
			name += string(path[i])
		}
	}
	if name != "" {
		out = append(out, pathPart{name: name})
	}
	return out
}

// FuzzExactNumbers: whatever the document, validating it with Rules never
// panics, and every Decimal or Money literal gqlgen would read is its
// text, never a float64.
func FuzzExactNumbers(f *testing.F) {
	for _, q := range []string{
		`{ tax(input: {rate: 19.5}) }`, `{ tax(input: {rate: 0.30000000000000004}) }`,
		`{ tax(input: {rate: 12345678901234567890.123456789, rates: [1e999, -0.0]}) }`,
		`{ quote(amount: 1000000.5, periods: 3) }`, `{ quote(amount: 1.0000005e+06, periods: 3) }`,
		`{ quote(amount: 9223372036854775808, periods: 1e999) }`, `query($r: Decimal = 19.5) { tax(input: {rate: $r}) }`,
		`{ ...F } fragment F on Query { tax(input: {rate: 5.00000, data: 1.5}) }`,
	} {
		f.Add(q)
	}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: exactSchema})
	f.Fuzz(func(t *testing.T, query string) {
		doc, errs := gqlparser.LoadQueryWithRules(schema, query, Rules())
		if errs != nil || len(doc.Operations) == 0 {
			return
		}
		var check func(v *ast.Value)
		check = func(v *ast.Value) {
			if v == nil {
				return
			}
			if v.Definition != nil && (v.Definition.Name == "Decimal" || v.Definition.Name == "Money") &&
				(v.Kind == ast.IntValue || v.Kind == ast.FloatValue) {
				t.Fatalf("%s literal %q left as a number", v.Definition.Name, v.Raw)
			}
			for _, c := range v.Children {
				check(c.Value)
			}
		}
		for _, op := range doc.Operations {
			for _, vd := range op.VariableDefinitions {
				check(vd.DefaultValue)
			}
			for _, sel := range op.SelectionSet {
				if field, ok := sel.(*ast.Field); ok {
					for _, a := range field.Arguments {
						check(a.Value)
					}
				}
			}
		}
	})
}
