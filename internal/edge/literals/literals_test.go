package literals

import (
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestOperation(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantField string // empty: accepted
	}{
		{"fine", `{ creditQuote(amount: 9223372036854775807, periods: 3) { amount } }`, ""},
		{"min int64", `{ q(a: -9223372036854775808) }`, ""},
		{"float", `{ q(a: 1.7976931348623157e308) }`, ""},
		{"past int64", `{ creditQuote(amount: 9223372036854775808, periods: 3) { amount } }`, "amount"},
		{"below int64", `{ q(a: -9223372036854775809) }`, "a"},
		{"past float64", `{ q(a: 1e999) }`, "a"},
		{"below float64", `{ q(a: -1e999) }`, "a"},
		{"in a list", `{ q(a: [1, 2, 1e999]) }`, "a[2]"},
		{"in an object", `{ q(input: {x: {y: 99999999999999999999}}) }`, "input.x.y"},
		{"on a directive", `{ q @d(n: 1e400) }`, "n"},
		{"nested field", `{ a { b(n: 1e400) } }`, "n"},
		{"in a fragment", `{ ...F } fragment F on Query { q(n: 1e400) }`, "n"},
		{"in an inline fragment", `{ ... on Query { q(n: 1e400) } }`, "n"},
		{"variables are not literals", `query($n: Money = 1) { q(n: $n) }`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tt.query})
			if err != nil {
				t.Fatal(err)
			}
			got := Operation(doc, doc.Operations[0])
			if tt.wantField == "" {
				if got != nil {
					t.Fatalf("refused: %v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("accepted")
			}
			if got.Extensions["code"] != "BAD_USER_INPUT" || got.Extensions["field"] != tt.wantField {
				t.Fatalf("extensions %v, want field %s", got.Extensions, tt.wantField)
			}
			for _, echo := range []string{"1e", "99999", "9223372036854775808", "9223372036854775809"} {
				if strings.Contains(got.Message, echo) {
					t.Fatalf("message %q repeats the literal", got.Message)
				}
			}
			if len(got.Locations) != 1 {
				t.Fatalf("locations %v", got.Locations)
			}
		})
	}
}

// Each fragment is walked once however often it is spread: 40 levels of
// F_i spreading F_{i+1} twice would be 2^40 visits otherwise.
func TestFragmentsWalkedOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range 40 {
		b.WriteString("fragment F" + strconv.Itoa(i) + " on Query { ...F" + strconv.Itoa(i+1) + " ...F" + strconv.Itoa(i+1) + " }\n")
	}
	b.WriteString("fragment F40 on Query { q(n: 1e999) }\n")
	doc, err := parser.ParseQuery(&ast.Source{Input: b.String()})
	if err != nil {
		t.Fatal(err)
	}
	if got := Operation(doc, doc.Operations[0]); got == nil || got.Extensions["field"] != "n" {
		t.Fatalf("got %v", got)
	}
}

// FuzzOperation: whatever document parses, Operation never panics, and an
// operation it accepts converts every argument without an error, which is
// what gqlgen's Field.ArgumentMap turns into a panic.
func FuzzOperation(f *testing.F) {
	for _, q := range []string{
		`{ creditQuote(amount: 9223372036854775808, periods: 3) { amount } }`,
		`{ creditQuote(amount: -9223372036854775809, periods: 3) { amount } }`,
		`{ creditQuote(amount: 1e999, periods: 3) { amount } }`,
		`{ creditQuote(amount: 1.5, periods: 3) { amount } }`,
		`{ creditQuote(amount: "abc", periods: 3) { amount } }`,
		`{ q(a: [1, {b: 1e999}]) @include(if: true) { ...F } } fragment F on Q { x(n: 1e400) }`,
		`query($a: Money = 1e999) { q(a: $a) }`,
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		doc, err := parser.ParseQuery(&ast.Source{Input: query})
		if err != nil {
			return
		}
		for _, op := range doc.Operations {
			if Operation(doc, op) != nil {
				continue
			}
			var check func(set ast.SelectionSet, depth int)
			check = func(set ast.SelectionSet, depth int) {
				if depth > 50 {
					return
				}
				for _, sel := range set {
					switch sel := sel.(type) {
					case *ast.Field:
						for _, a := range sel.Arguments {
							if _, err := a.Value.Value(map[string]any{}); err != nil {
								t.Fatalf("accepted an argument that does not convert: %v", err)
							}
						}
						check(sel.SelectionSet, depth+1)
					case *ast.InlineFragment:
						check(sel.SelectionSet, depth+1)
					}
				}
			}
			check(op.SelectionSet, 0)
		}
	})
}
