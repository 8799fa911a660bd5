// Package hideschema keeps validation errors from revealing the schema
// when introspection is off. gqlparser's rules suggest names ("Did you
// mean \"viewer\"?", enum values, arguments, types, input fields), which
// lets anyone read the schema back one guess at a time, and they name the
// types involved ("Cannot query field \"x\" on type \"Customer\"").
//
// Everything happens in one place, the validation rule set: each rule that
// suggests is replaced by gqlparser's variant without suggestions (which
// also saves computing edit distances for every misspelt name), and every
// rule's messages pass through one filter that drops any suggestion a rule
// still appends and replaces the schema's own type names with "(hidden)".
// With introspection on, the rules are left alone: GraphiQL users want
// the suggestions.
package hideschema

import (
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// Hidden replaces a schema type name in a message.
const Hidden = "(hidden)"

// Install turns suggestions and type names off in gql's validation
// errors, wrapping the rule set base returns (rules.NewDefaultRules or
// one that extends it). gqlgen's own switch (SetDisableSuggestion) is set
// too: without it gqlgen puts the suggesting FieldsOnCorrectType and
// ScalarLeafs rules back into any rule set.
func Install(gql *handler.Server, schema *ast.Schema, base func() *rules.Rules) {
	gql.SetDisableSuggestion(true)
	gql.SetValidationRulesFn(func() *rules.Rules { return Wrap(base(), schema) })
}

// withoutSuggestions maps each gqlparser rule that suggests names to its
// variant that does not (gqlparser v2.5.64).
var withoutSuggestions = map[string]core.Rule{
	rules.FieldsOnCorrectTypeRule.Name: rules.FieldsOnCorrectTypeRuleWithoutSuggestions,
	rules.ScalarLeafsRule.Name:         rules.ScalarLeafsRuleWithoutSuggestions,
	rules.KnownArgumentNamesRule.Name:  rules.KnownArgumentNamesRuleWithoutSuggestions,
	rules.KnownTypeNamesRule.Name:      rules.KnownTypeNamesRuleWithoutSuggestions,
	rules.ValuesOfCorrectTypeRule.Name: rules.ValuesOfCorrectTypeRuleWithoutSuggestions,
}

// Wrap returns rs with every suggesting rule replaced by its variant
// without suggestions and every rule's messages filtered (see package
// doc). Compose it with other rule customisations by passing their set.
func Wrap(rs *rules.Rules, schema *ast.Schema) *rules.Rules {
	filter := newFilter(schema)
	out := rules.NewRules()
	for name, fn := range rs.GetInner() {
		if quiet, ok := withoutSuggestions[name]; ok {
			name, fn = quiet.Name, quiet.RuleFunc
		}
		out.AddRule(name, filtered(fn, filter))
	}
	return out
}

// filtered runs rule with an addError that applies filter last, after
// every option the rule passed has built the message.
func filtered(rule core.RuleFunc, filter func(*gqlerror.Error)) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		rule(observers, func(options ...core.ErrorOption) {
			addError(append(options, filter)...)
		})
	}
}

// quoted matches a double-quoted name in a message: a type ("Customer",
// "[ArticleInput!]!"), a field coordinate ("Query.creditQuote") or a
// user's name.
var quoted = regexp.MustCompile(`"[^"\s]*"`)

// typeName matches the named type inside a type reference.
var typeName = regexp.MustCompile(`[_A-Za-z][_0-9A-Za-z]*`)

// newFilter returns the message filter for schema: it cuts a trailing
// suggestion and hides the schema's own type names (built-in scalars and
// introspection types excepted: every GraphQL schema has them).
func newFilter(schema *ast.Schema) func(*gqlerror.Error) {
	own := map[string]bool{}
	for name, def := range schema.Types {
		if !def.BuiltIn && !strings.HasPrefix(name, "__") {
			own[name] = true
		}
	}
	return func(err *gqlerror.Error) {
		msg := err.Message
		if i := strings.Index(msg, " Did you mean"); i >= 0 {
			msg = msg[:i]
		}
		err.Message = quoted.ReplaceAllStringFunc(msg, func(q string) string {
			inner := q[1 : len(q)-1]
			head, rest, isCoordinate := strings.Cut(inner, ".")
			if isCoordinate {
				if own[head] {
					return `"` + Hidden + "." + rest + `"`
				}
				return q
			}
			return typeName.ReplaceAllStringFunc(q, func(n string) string {
				if own[n] {
					return Hidden
				}
				return n
			})
		})
	}
}
