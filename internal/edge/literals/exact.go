package literals

import (
	"slices"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// ExactScalars are the schema's scalars whose number literals must reach
// their unmarshalers as written: Decimal and Money never pass through
// float64.
var ExactScalars = []string{"Decimal", "Money"}

// ExactNumbers is a validation rule that hands a number literal of one of
// scalars (rate: 19.5, amount: 1500000) to the scalar's unmarshaler as
// its text, exactly as written.
//
// gqlgen converts a literal with ast.Value.Value, which reads a float
// literal through strconv.ParseFloat: 0.30000000000000004 and
// 12345678901234567890.123456789 would arrive as the nearest float64,
// not as what the client wrote, and the scalar could not tell. A JSON
// variable arrives as json.Number (its text) and a string as itself, so
// after this rule a literal, a variable and a string of the same number
// are read by one rule. The validator has resolved each value's type by
// the time its observers run (variable defaults included); retyping the
// literal as a string there changes nothing else, because gqlparser
// checks no literal of a custom scalar, and it happens before gqlgen
// caches the document, so the cached document is never written to while
// another request reads it.
func ExactNumbers(scalars ...string) core.Rule {
	return core.Rule{Name: "ExactNumberLiterals", RuleFunc: func(observers *core.Events, _ core.AddErrFunc) {
		observers.OnValue(func(_ *core.Walker, v *ast.Value) {
			if v.Kind != ast.IntValue && v.Kind != ast.FloatValue {
				return
			}
			if v.Definition != nil && v.Definition.Kind == ast.Scalar && slices.Contains(scalars, v.Definition.Name) {
				v.Kind = ast.StringValue
			}
		})
	}}
}

// Rules returns gqlparser's default validation rules plus ExactNumbers
// for ExactScalars: the base rule set of the gateway (hideschema may wrap
// it).
func Rules() *rules.Rules {
	rs := rules.NewDefaultRules()
	exact := ExactNumbers(ExactScalars...)
	rs.AddRule(exact.Name, exact.RuleFunc)
	return rs
}
