// Package limits refuses abusive operations before they execute, so a
// refused query costs no upstream call. Admission refuses before gqlgen
// parses and validates: a token limit, then one pass over the document in
// which each fragment is measured once (depth, aliases, fields once
// fragments are expanded, the largest selection set, introspection).
// ComplexityLimit refuses after validation, with complexity estimates
// that account for list sizes (`first`), each fragment costed once.
package limits

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
)

// Defaults safe for a public endpoint. Introspection counts like any other
// selection (fields { type { fields ... } } cycles are the classic deep
// query), except `ofType`, see measurer.set.
const (
	DefaultMaxDepth      = 10
	DefaultMaxAliases    = 50
	DefaultMaxComplexity = 5000
)

// Shape limits one validated operation's depth and aliases, and can refuse
// introspection (__schema, __type; __typename stays allowed). The gateway
// applies the same limits earlier, in Admission; Shape is the form for an
// already parsed operation.
type Shape struct {
	MaxDepth        int
	MaxAliases      int
	NoIntrospection bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Shape{}

// ExtensionName implements graphql.HandlerExtension.
func (Shape) ExtensionName() string { return "ShapeLimits" }

// Validate implements graphql.HandlerExtension.
func (Shape) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator; it
// runs after parsing and validation, before any resolver.
func (s Shape) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	op := rc.Doc.Operations.ForName(rc.OperationName)
	if op == nil {
		return nil
	}
	return s.Check(rc.Doc, op)
}

// Check applies the limits to one operation of doc, each fragment
// measured once however often it is spread.
func (s Shape) Check(doc *ast.QueryDocument, op *ast.OperationDefinition) *gqlerror.Error {
	return Limits{MaxDepth: s.MaxDepth, MaxAliases: s.MaxAliases, NoIntrospection: s.NoIntrospection}.check(measureOperation(doc, op))
}

// Accepts reports whether every operation of a valid document passes the
// limits.
func (s Shape) Accepts(doc *ast.QueryDocument) bool {
	for _, op := range doc.Operations {
		if s.Check(doc, op) != nil {
			return false
		}
	}
	return true
}

func refuse(format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(apperr.BadUserInput)}
	return err
}

// Estimated sizes of lists the schema does not bound by an argument.
const (
	estimatedCredits      = 10
	estimatedInstallments = 36
	estimatedBranches     = 20
)

// Complexity fills root with estimates that multiply a list's children by
// its size: a connection by `first` or `last` (default 20), a customer's lists by
// typical sizes, a quote's schedule by `periods`.
func Complexity(root *graph.ComplexityRoot) {
	// A page holds first or last items (the resolvers refuse both at
	// once; should both come, the larger counts), 20 when neither is given.
	page := func(first, last *int) int {
		n := 0
		for _, v := range []*int{first, last} {
			if v != nil && *v > n {
				n = *v
			}
		}
		if n < 1 {
			return 20
		}
		return n
	}
	// Saturating arithmetic: a product that wrapped around would make a
	// huge page look cheap.
	root.Query.Branches = func(child int, first *int, _ *string, last *int, _ *string, _ *model.BranchFilter, _ *model.BranchOrder) int {
		return add(1, mul(child, page(first, last)))
	}
	root.Query.Taxes = func(child int, first *int, _ *string, last *int, _ *string, _ *model.TaxFilter, _ *model.TaxOrder) int {
		return add(1, mul(child, page(first, last)))
	}
	root.Query.Articles = func(child int, first *int, _ *string, last *int, _ *string, _ *model.ArticleFilter, _ *model.ArticleOrder) int {
		return add(1, mul(child, page(first, last)))
	}
	root.Query.CreditQuote = func(child int, _ model.Money, periods int) int { return add(add(1, child), max(periods, 0)) }
	root.Customer.Credits = func(child int) int { return add(1, mul(child, estimatedCredits)) }
	root.Customer.Branches = func(child int) int { return add(1, mul(child, estimatedBranches)) }
	root.Credit.Amortization = func(child int) int { return add(1, mul(child, estimatedInstallments)) }
	root.Credit.Payments = func(child int) int { return add(1, mul(child, estimatedInstallments)) }
}

// mul multiplies non-negative counts, saturating at countCap.
func mul(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a >= countCap/b {
		return countCap
	}
	return a * b
}
