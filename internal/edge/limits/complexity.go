package limits

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// ComplexityLimit refuses an operation whose estimated complexity (the
// schema's estimates, see Complexity) exceeds Max. It replaces gqlgen's
// extension.FixedComplexityLimit, whose calculation walks a fragment again
// at every spread: here each fragment is costed once per operation. The
// numbers are gqlgen's (complexity.Calculate with default options).
type ComplexityLimit struct {
	Max int
	es  graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*ComplexityLimit)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*ComplexityLimit) ExtensionName() string { return "ComplexityLimit" }

// Validate implements graphql.HandlerExtension.
func (c *ComplexityLimit) Validate(es graphql.ExecutableSchema) error {
	c.es = es
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator; it
// runs after validation, with the operation's variables.
func (c *ComplexityLimit) MutateOperationContext(ctx context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	op := rc.Operation
	if op == nil {
		op = rc.Doc.Operations.ForName(rc.OperationName)
	}
	if op == nil {
		return nil
	}
	n := CalculateComplexity(ctx, c.es, op, rc.Variables)
	// The same statistics gqlgen's extension records (extension.GetComplexityStats).
	rc.Stats.SetExtension("ComplexityLimit", &extension.ComplexityStats{Complexity: n, ComplexityLimit: c.Max})
	if c.Max > 0 && n > c.Max {
		return refuse("operation has complexity %s; the limit is %d", formatCount(n), c.Max)
	}
	return nil
}

// CalculateComplexity is gqlgen's complexity.Calculate for a validated
// operation, with each fragment's cost computed once and reused at every
// spread: a fragment's cost depends only on its own selections and the
// variables, never on where it is spread.
func CalculateComplexity(ctx context.Context, es graphql.ExecutableSchema, op *ast.OperationDefinition, vars map[string]any) int {
	w := complexityWalker{es: es, schema: es.Schema(), vars: vars, fragments: map[*ast.FragmentDefinition]int{}}
	return w.set(ctx, op.SelectionSet)
}

type complexityWalker struct {
	es        graphql.ExecutableSchema
	schema    *ast.Schema
	vars      map[string]any
	fragments map[*ast.FragmentDefinition]int
	// costed counts fragment costs computed (tests hold it to one per fragment).
	costed int
}

func (w *complexityWalker) set(ctx context.Context, set ast.SelectionSet) int {
	var total int
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Definition == nil || s.ObjectDefinition == nil {
				continue // not validated: nothing to estimate
			}
			fieldType := w.schema.Types[s.Definition.Type.Name()]
			if fieldType == nil || fieldType.Name == "__Schema" {
				continue
			}
			var child int
			switch fieldType.Kind {
			case ast.Object, ast.Interface, ast.Union:
				child = w.set(ctx, s.SelectionSet)
			}
			args := s.ArgumentMap(w.vars)
			var cost int
			if s.ObjectDefinition.Kind == ast.Interface {
				// Interfaces have no costs of their own: the most expensive
				// implementation counts.
				for _, t := range w.schema.GetPossibleTypes(s.ObjectDefinition) {
					cost = max(cost, w.field(ctx, t, fieldType.Kind, s.Name, child, args))
				}
			} else {
				cost = w.field(ctx, s.ObjectDefinition, fieldType.Kind, s.Name, child, args)
			}
			total = add(total, cost)
		case *ast.FragmentSpread:
			total = add(total, w.fragment(ctx, s.Definition))
		case *ast.InlineFragment:
			total = add(total, w.set(ctx, s.SelectionSet))
		}
	}
	return total
}

// fragment returns def's cost, computed on first use. A cycle (validation
// refuses them) counts nothing.
func (w *complexityWalker) fragment(ctx context.Context, def *ast.FragmentDefinition) int {
	if def == nil {
		return 0
	}
	if cost, ok := w.fragments[def]; ok {
		return cost
	}
	w.fragments[def] = 0 // a spread of def inside def is a cycle
	cost := w.set(ctx, def.SelectionSet)
	w.fragments[def] = cost
	w.costed++
	return cost
}

func (w *complexityWalker) field(ctx context.Context, def *ast.Definition, kind ast.DefinitionKind, name string, child int, args map[string]any) int {
	if custom, ok := w.es.Complexity(ctx, def.Name, name, child, args); ok && custom >= 1 {
		return custom
	}
	return add(1, child)
}
