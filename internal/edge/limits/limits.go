// Package limits refuses abusive operations before they execute, so a
// refused query costs no upstream call: a maximum selection depth, a
// maximum number of aliased fields, and complexity estimates that account
// for list sizes (`first`), for gqlgen's complexity limit.
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
// query), except `ofType`, see walker.depth.
const (
	DefaultMaxDepth      = 10
	DefaultMaxAliases    = 50
	DefaultMaxComplexity = 5000
)

// Shape limits an operation's depth and aliases, and can refuse
// introspection (__schema, __type; __typename stays allowed).
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

// Check applies the limits to one operation of doc.
func (s Shape) Check(doc *ast.QueryDocument, op *ast.OperationDefinition) *gqlerror.Error {
	w := walker{fragments: doc.Fragments, visiting: map[string]bool{}}
	depth := w.depth(op.SelectionSet, 0)
	if s.MaxDepth > 0 && depth > s.MaxDepth {
		return refuse("operation is %d levels deep; the limit is %d", depth, s.MaxDepth)
	}
	if s.MaxAliases > 0 && w.aliases > s.MaxAliases {
		return refuse("operation uses %d aliases; the limit is %d", w.aliases, s.MaxAliases)
	}
	if s.NoIntrospection && w.introspects {
		return refuse("introspection is disabled on this endpoint")
	}
	return nil
}

// Accepts reports whether every operation of a valid document passes the
// limits (used to refuse storing abusive persisted queries).
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

type walker struct {
	fragments   ast.FragmentDefinitionList
	visiting    map[string]bool
	aliases     int
	introspects bool
}

// depth returns the deepest field nesting under set, counting aliases on
// the way. Fragment spreads are followed (validation has already refused
// cycles; visiting guards anyway).
func (w *walker) depth(set ast.SelectionSet, level int) int {
	deepest := level
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Alias != "" && sel.Alias != sel.Name {
				w.aliases++
			}
			if sel.Name == "__schema" || sel.Name == "__type" {
				w.introspects = true
			}
			next := level + 1
			if sel.Name == "ofType" {
				// A type reference's wrappers (list, non-null) nest a few
				// levels at most; counting them would refuse GraphiQL's own
				// introspection query while adding no protection.
				next = level
			}
			deepest = max(deepest, w.depth(sel.SelectionSet, next))
		case *ast.InlineFragment:
			deepest = max(deepest, w.depth(sel.SelectionSet, level))
		case *ast.FragmentSpread:
			if w.visiting[sel.Name] {
				continue
			}
			frag := w.fragments.ForName(sel.Name)
			if frag == nil {
				continue
			}
			w.visiting[sel.Name] = true
			deepest = max(deepest, w.depth(frag.SelectionSet, level))
			delete(w.visiting, sel.Name)
		}
	}
	return deepest
}

// Estimated sizes of lists the schema does not bound by an argument.
const (
	estimatedCredits      = 10
	estimatedInstallments = 36
	estimatedBranches     = 20
)

// Complexity fills root with estimates that multiply a list's children by
// its size: a connection by `first` (default 20), a customer's lists by
// typical sizes, a quote's schedule by `periods`.
func Complexity(root *graph.ComplexityRoot) {
	page := func(first *int) int {
		if first == nil || *first < 1 {
			return 20
		}
		return *first
	}
	root.Query.Branches = func(child int, first *int, _ *string, _ *model.BranchFilter) int { return 1 + child*page(first) }
	root.Query.Taxes = func(child int, first *int, _ *string, _ *model.TaxFilter) int { return 1 + child*page(first) }
	root.Query.Articles = func(child int, first *int, _ *string, _ *model.ArticleFilter) int { return 1 + child*page(first) }
	root.Query.CreditQuote = func(child int, _ model.Money, periods int) int { return 1 + child + max(periods, 0) }
	root.Customer.Credits = func(child int) int { return 1 + child*estimatedCredits }
	root.Customer.Branches = func(child int) int { return 1 + child*estimatedBranches }
	root.Credit.Amortization = func(child int) int { return 1 + child*estimatedInstallments }
	root.Credit.Payments = func(child int) int { return 1 + child*estimatedInstallments }
}
