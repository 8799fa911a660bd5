// Package literals refuses number literals no Go value can hold, before
// anything reads an operation's arguments.
//
// gqlparser validates literals of the built-in scalars, but passes those of
// custom scalars (Money, Decimal, Date, JSON) through untouched; when the
// executor or gqlgen's complexity calculation then converts such a literal
// (ast.Value.Value, via Field.ArgumentMap), an integer past 64 bits
// (9223372036854775808) or a float past float64 (1e999) makes it panic: a
// 500 with a stack in the log. Check walks the operation once, each
// fragment once however often it is spread, and refuses such a literal as
// BAD_USER_INPUT naming the argument, without repeating the number.
//
// ExactNumbers (a validation rule) hands the number literals of Decimal
// and Money to their scalars as text, so they are read exactly, as JSON
// variables are; Check then has nothing of theirs to refuse.
package literals

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Check is a gqlgen extension; install it before any extension that reads
// arguments (complexity limits, cost analysis).
type Check struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Check{}

// ExtensionName implements graphql.HandlerExtension.
func (Check) ExtensionName() string { return "NumberLiterals" }

// Validate implements graphql.HandlerExtension.
func (Check) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (Check) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Doc == nil || rc.Operation == nil {
		return nil
	}
	return Operation(rc.Doc, rc.Operation)
}

// Operation checks every literal op uses, directly or through fragments.
func Operation(doc *ast.QueryDocument, op *ast.OperationDefinition) *gqlerror.Error {
	w := walker{fragments: doc.Fragments, seen: map[string]bool{}}
	w.directives(op.Directives)
	w.selections(op.SelectionSet)
	return w.err
}

type walker struct {
	fragments ast.FragmentDefinitionList
	seen      map[string]bool // fragments already walked
	err       *gqlerror.Error
}

func (w *walker) selections(set ast.SelectionSet) {
	for _, sel := range set {
		if w.err != nil {
			return
		}
		switch sel := sel.(type) {
		case *ast.Field:
			w.arguments(sel.Arguments)
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.InlineFragment:
			w.directives(sel.Directives)
			w.selections(sel.SelectionSet)
		case *ast.FragmentSpread:
			w.directives(sel.Directives)
			if w.seen[sel.Name] {
				continue
			}
			w.seen[sel.Name] = true
			if def := w.fragments.ForName(sel.Name); def != nil {
				w.directives(def.Directives)
				w.selections(def.SelectionSet)
			}
		}
	}
}

func (w *walker) directives(list ast.DirectiveList) {
	for _, d := range list {
		w.arguments(d.Arguments)
	}
}

func (w *walker) arguments(args ast.ArgumentList) {
	for _, a := range args {
		if w.err != nil {
			return
		}
		w.value(a.Name, a.Value)
	}
}

// value checks v, found at path (an argument, "input.amount",
// "items[2]").
func (w *walker) value(path string, v *ast.Value) {
	if v == nil || w.err != nil {
		return
	}
	switch v.Kind {
	case ast.IntValue:
		if _, err := strconv.ParseInt(v.Raw, 10, 64); err != nil {
			w.refuse(path, v, "the integer given for %s must fit in a signed 64-bit integer", path)
		}
	case ast.FloatValue:
		f, err := strconv.ParseFloat(v.Raw, 64)
		if errors.Is(err, strconv.ErrRange) || math.IsInf(f, 0) {
			w.refuse(path, v, "the number given for %s is out of range", path)
		} else if err != nil {
			w.refuse(path, v, "the number given for %s is not a valid number", path)
		}
	case ast.ListValue:
		for i, c := range v.Children {
			w.value(path+"["+strconv.Itoa(i)+"]", c.Value)
		}
	case ast.ObjectValue:
		for _, c := range v.Children {
			w.value(path+"."+c.Name, c.Value)
		}
	}
}

// refuse records the first bad literal as a BAD_USER_INPUT error for
// field, located in the document but never quoting it.
func (w *walker) refuse(field string, v *ast.Value, format string, args ...any) {
	cause := apperr.BadInput(field, format, args...)
	err := &gqlerror.Error{Err: cause, Message: cause.Message,
		Extensions: map[string]any{"code": string(apperr.BadUserInput), "field": field}}
	if v.Position != nil {
		err.Locations = []gqlerror.Location{{Line: v.Position.Line, Column: v.Position.Column}}
	}
	w.err = err
}
