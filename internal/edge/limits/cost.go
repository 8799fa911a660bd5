package limits

import (
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
)

// Cost is what admitting a document looks at, measured on the parsed but
// not yet validated document in one pass in which every named fragment is
// summarised once and its summary reused at every spread. Counts that
// expand fragments are computed arithmetically, never by materialising
// the expansion, so a document whose expansion is exponential in its size
// costs time linear in its size to measure.
type Cost struct {
	// Depth is the deepest field nesting (ofType does not count, see
	// summary.depth).
	Depth int
	// Aliases counts aliased fields as they would run: a fragment's
	// aliases once per spread.
	Aliases int
	// Fields counts field selections once every fragment spread is
	// expanded, in the largest operation or fragment.
	Fields int
	// LargestSelectionSet is the most fields one selection set holds once
	// its inline fragments and fragment spreads are expanded into it. The
	// validation rule OverlappingFieldsCanBeMerged compares fields of one
	// set pairwise: its work grows with the square of this number.
	LargestSelectionSet int
	// Introspection reports a __schema or __type field anywhere.
	Introspection bool
	// FragmentCycle reports fragments that spread each other in a cycle
	// (validation refuses them; the cyclic spread counts nothing here).
	FragmentCycle bool
}

// countCap bounds every count: a fan-out of fragments could otherwise
// overflow an int. Nothing real comes near it.
const countCap = 1 << 40

func add(a, b int) int {
	if a >= countCap-b {
		return countCap
	}
	return a + b
}

// formatCount renders a measured count for a refusal message.
func formatCount(n int) string {
	if n >= countCap {
		return fmt.Sprintf("more than %d", countCap)
	}
	return fmt.Sprint(n)
}

// summary is one selection set's cost relative to its own level.
type summary struct {
	depth       int
	aliases     int
	fields      int
	top         int // fields of this set once inline fragments and spreads are expanded into it
	largest     int // largest such set inside, this one included
	introspects bool
}

// merge adds a set expanded into s at the same level (an inline fragment
// or a fragment spread).
func (s *summary) merge(c summary) {
	s.depth = max(s.depth, c.depth)
	s.aliases = add(s.aliases, c.aliases)
	s.fields = add(s.fields, c.fields)
	s.top = add(s.top, c.top)
	s.largest = max(s.largest, c.largest)
	s.introspects = s.introspects || c.introspects
}

type fragmentState int

const (
	unvisited fragmentState = iota
	inProgress
	done
)

type fragmentMemo struct {
	def     *ast.FragmentDefinition
	state   fragmentState
	summary summary
}

// measurer computes summaries; fragments holds each named fragment's memo.
type measurer struct {
	fragments map[string]*fragmentMemo
	cycle     bool
	// summarised counts the fragment summaries computed: one per fragment
	// definition, however often it is spread (tests hold it to that).
	summarised int
}

func newMeasurer(doc *ast.QueryDocument) *measurer {
	m := &measurer{fragments: make(map[string]*fragmentMemo, len(doc.Fragments))}
	for _, f := range doc.Fragments {
		if _, dup := m.fragments[f.Name]; !dup { // validation refuses duplicates; the first one counts, like ForName
			m.fragments[f.Name] = &fragmentMemo{def: f}
		}
	}
	return m
}

// Measure returns doc's cost: the maximum over its operations and its
// fragment definitions (validation walks all of them, and refuses a
// document with unused fragments anyway).
func Measure(doc *ast.QueryDocument) Cost {
	c, _ := measure(doc)
	return c
}

func measure(doc *ast.QueryDocument) (Cost, *measurer) {
	m := newMeasurer(doc)
	var c Cost
	take := func(s summary) {
		c.Depth = max(c.Depth, s.depth)
		c.Aliases = max(c.Aliases, s.aliases)
		c.Fields = max(c.Fields, s.fields)
		c.LargestSelectionSet = max(c.LargestSelectionSet, s.largest)
		c.Introspection = c.Introspection || s.introspects
	}
	for _, op := range doc.Operations {
		take(m.set(op.SelectionSet))
	}
	for _, f := range doc.Fragments {
		take(m.fragment(f.Name))
	}
	c.FragmentCycle = m.cycle
	return c, m
}

// measureOperation returns the cost of one operation of doc.
func measureOperation(doc *ast.QueryDocument, op *ast.OperationDefinition) Cost {
	m := newMeasurer(doc)
	s := m.set(op.SelectionSet)
	return Cost{Depth: s.depth, Aliases: s.aliases, Fields: s.fields, LargestSelectionSet: s.largest,
		Introspection: s.introspects, FragmentCycle: m.cycle}
}

// fragment returns the named fragment's summary, computing it on first
// use. A spread of a fragment still being summarised is a cycle: it is
// noted and counts nothing. An unknown fragment counts nothing either
// (validation refuses it).
func (m *measurer) fragment(name string) summary {
	f := m.fragments[name]
	if f == nil {
		return summary{}
	}
	switch f.state {
	case done:
		return f.summary
	case inProgress:
		m.cycle = true
		return summary{}
	}
	f.state = inProgress
	f.summary = m.set(f.def.SelectionSet)
	f.state = done
	m.summarised++
	return f.summary
}

// set summarises a selection set; the recursion follows the document's
// own nesting, which the parser bounds (parser.MaxNestingDepth).
func (m *measurer) set(set ast.SelectionSet) summary {
	var s summary
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			child := m.set(sel.SelectionSet)
			level := 1
			if sel.Name == "ofType" {
				// A type reference's wrappers (list, non-null) nest a few
				// levels at most; counting them would refuse GraphiQL's own
				// introspection query while adding no protection.
				level = 0
			}
			s.depth = max(s.depth, level+child.depth)
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases = add(s.aliases, 1)
			}
			s.aliases = add(s.aliases, child.aliases)
			s.fields = add(s.fields, add(1, child.fields))
			s.top = add(s.top, 1)
			s.largest = max(s.largest, child.largest)
			s.introspects = s.introspects || child.introspects || sel.Name == "__schema" || sel.Name == "__type"
		case *ast.InlineFragment:
			s.merge(m.set(sel.SelectionSet))
		case *ast.FragmentSpread:
			s.merge(m.fragment(sel.Name))
		}
	}
	s.largest = max(s.largest, s.top)
	return s
}
