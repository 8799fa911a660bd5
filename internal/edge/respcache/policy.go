package respcache

import (
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Policy is how an operation's answer may be cached, from the schema's
// @cacheControl hints (Apollo's convention): the smallest maxAge of every
// hint the operation touches, private when any of them is PRIVATE. A zero
// MaxAge means the answer is never cached.
type Policy struct {
	MaxAge  time.Duration
	Private bool
}

// Cacheable reports whether answers under p may be cached.
func (p Policy) Cacheable() bool { return p.MaxAge > 0 }

// DirectiveName is the schema directive carrying the hints.
const DirectiveName = "cacheControl"

// PolicyFor computes the policy of op, a validated query of doc, against
// schema. Following Apollo Server's rules, a field's hint is its own
// @cacheControl or else, for a field returning an object, interface or
// union, that type's; a leaf field (scalar or enum) without a hint
// inherits its parent's. A composite field with no hint at all, an
// introspection field, or any operation but a query makes the answer
// uncacheable. Each fragment is walked once, however often it is spread.
func PolicyFor(schema *ast.Schema, doc *ast.QueryDocument, op *ast.OperationDefinition) Policy {
	if op == nil || op.Operation != ast.Query {
		return Policy{}
	}
	w := walker{schema: schema, fragments: map[string]verdict{}}
	v := w.selections(op.SelectionSet)
	if !v.ok || v.maxAge <= 0 || v.maxAge == unbounded {
		return Policy{}
	}
	return Policy{MaxAge: time.Duration(v.maxAge) * time.Second, Private: v.private}
}

// unbounded is the maxAge of a selection no hint has limited yet.
const unbounded = int(^uint(0) >> 1)

type verdict struct {
	maxAge  int
	private bool
	ok      bool
}

func (v verdict) with(o verdict) verdict {
	return verdict{maxAge: min(v.maxAge, o.maxAge), private: v.private || o.private, ok: v.ok && o.ok}
}

var uncacheable = verdict{}

type walker struct {
	schema    *ast.Schema
	fragments map[string]verdict
}

func (w *walker) selections(set ast.SelectionSet) verdict {
	v := verdict{maxAge: unbounded, ok: true}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			v = v.with(w.field(sel))
		case *ast.InlineFragment:
			v = v.with(w.selections(sel.SelectionSet))
		case *ast.FragmentSpread:
			v = v.with(w.fragment(sel))
		}
		if !v.ok {
			return uncacheable
		}
	}
	return v
}

func (w *walker) fragment(spread *ast.FragmentSpread) verdict {
	if v, seen := w.fragments[spread.Name]; seen {
		return v
	}
	// A cycle is refused by validation; marking the fragment first keeps
	// the walk finite whatever it is given.
	w.fragments[spread.Name] = uncacheable
	if spread.Definition == nil {
		return uncacheable
	}
	v := w.selections(spread.Definition.SelectionSet)
	w.fragments[spread.Name] = v
	return v
}

func (w *walker) field(f *ast.Field) verdict {
	if strings.HasPrefix(f.Name, "__") {
		if f.Name == "__typename" {
			return verdict{maxAge: unbounded, ok: true}
		}
		return uncacheable // introspection: what it shows depends on the caller
	}
	if f.Definition == nil {
		return uncacheable
	}
	h, hinted := hintOf(f.Definition.Directives)
	if !hinted {
		t := w.schema.Types[f.Definition.Type.Name()]
		if t == nil {
			return uncacheable
		}
		switch t.Kind {
		case ast.Object, ast.Interface, ast.Union:
			th, typeHinted := hintOf(t.Directives)
			if !typeHinted {
				return uncacheable
			}
			th.private = th.private || h.private
			h = th
		default:
			h.maxAge = unbounded // a leaf inherits its parent's lifetime
		}
	}
	if len(f.SelectionSet) == 0 {
		return h
	}
	return h.with(w.selections(f.SelectionSet))
}

// hintOf reads a @cacheControl directive: the hint (always ok, with
// the scope it sets) and whether it sets a lifetime. A hint without maxAge
// sets only the scope; the lifetime then comes from the field's type, or
// for a leaf its parent.
func hintOf(dirs ast.DirectiveList) (verdict, bool) {
	v := verdict{maxAge: unbounded, ok: true}
	d := dirs.ForName(DirectiveName)
	if d == nil {
		return v, false
	}
	if a := d.Arguments.ForName("scope"); a != nil && a.Value != nil && a.Value.Raw == "PRIVATE" {
		v.private = true
	}
	a := d.Arguments.ForName("maxAge")
	if a == nil || a.Value == nil || a.Value.Kind == ast.NullValue {
		return v, false
	}
	n, err := strconv.Atoi(a.Value.Raw)
	if err != nil || n < 0 {
		return uncacheable, true
	}
	v.maxAge = n
	return v, true
}
