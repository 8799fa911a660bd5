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
	// FieldRepeats is the most times one place of the response (one path
	// of response keys) is selected once fragments are expanded, counting
	// the selections of same-named fields merged as the response merges
	// them. The validation rule OverlappingFieldsCanBeMerged compares
	// those selections pairwise: its work is about Fields x FieldRepeats.
	FieldRepeats int
	// FieldPairs is the number of pairs of selections of one place, summed
	// over the places: what OverlappingFieldsCanBeMerged compares, and the
	// most errors it can report (one per conflicting pair).
	FieldPairs int
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
	introspects bool
}

// merge adds a set expanded into s at the same level (an inline fragment
// or a fragment spread).
func (s *summary) merge(c summary) {
	s.depth = max(s.depth, c.depth)
	s.aliases = add(s.aliases, c.aliases)
	s.fields = add(s.fields, c.fields)
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
	// paths is the fragment's response paths (fieldRepeats), built once.
	pathState fragmentState
	paths     pathTree
}

// measurer computes summaries; fragments holds each named fragment's memo.
type measurer struct {
	fragments map[string]*fragmentMemo
	cycle     bool
	// summarised and pathsBuilt count the fragment summaries and path
	// trees computed: one per fragment definition each, however often it
	// is spread (tests hold them to that).
	summarised int
	pathsBuilt int
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
	c, m := measure(doc)
	c.FieldRepeats, c.FieldPairs = m.fieldRepeats(doc)
	return c
}

func measure(doc *ast.QueryDocument) (Cost, *measurer) {
	m := newMeasurer(doc)
	var c Cost
	take := func(s summary) {
		c.Depth = max(c.Depth, s.depth)
		c.Aliases = max(c.Aliases, s.aliases)
		c.Fields = max(c.Fields, s.fields)
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
	return Cost{Depth: s.depth, Aliases: s.aliases, Fields: s.fields, Introspection: s.introspects, FragmentCycle: m.cycle}
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
			s.introspects = s.introspects || child.introspects || sel.Name == "__schema" || sel.Name == "__type"
		case *ast.InlineFragment:
			s.merge(m.set(sel.SelectionSet))
		case *ast.FragmentSpread:
			s.merge(m.fragment(sel.Name))
		}
	}
	return s
}

// pathTree is a selection set's response paths: each response key once,
// with the number of selections of it once fragments are expanded and
// same-named fields merged, and the paths below it. Counting repeats needs
// this merge, since `{ a { x } a { x } }` selects a.x twice though no
// selection set holds x twice. Its size is the number of distinct paths,
// never the size of the expansion.
type pathTree map[string]*pathNode

type pathNode struct {
	count    int
	children pathTree
}

// fieldRepeats returns the most selections of one response path and the
// largest sum of pairs of selections of one path, in any operation or
// fragment of doc. Call it once measure's Fields is within the limit:
// merging a fragment's tree at a spread costs the tree's size, which the
// fragment's expansion bounds.
func (m *measurer) fieldRepeats(doc *ast.QueryDocument) (most, pairs int) {
	for _, op := range doc.Operations {
		t := pathTree{}
		m.paths(op.SelectionSet, t)
		most = max(most, t.mostRepeated())
		pairs = max(pairs, t.pairs())
	}
	for _, f := range doc.Fragments {
		t := m.fragmentPaths(f.Name)
		most = max(most, t.mostRepeated())
		pairs = max(pairs, t.pairs())
	}
	return most, pairs
}

// paths adds set's response paths to into.
func (m *measurer) paths(set ast.SelectionSet, into pathTree) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			key := sel.Alias
			if key == "" {
				key = sel.Name
			}
			n := into[key]
			if n == nil {
				n = &pathNode{}
				into[key] = n
			}
			n.count = add(n.count, 1)
			if len(sel.SelectionSet) > 0 {
				if n.children == nil {
					n.children = pathTree{}
				}
				m.paths(sel.SelectionSet, n.children)
			}
		case *ast.InlineFragment:
			m.paths(sel.SelectionSet, into)
		case *ast.FragmentSpread:
			into.merge(m.fragmentPaths(sel.Name))
		}
	}
}

// fragmentPaths returns the named fragment's path tree, built on first
// use; a cyclic or unknown spread adds nothing.
func (m *measurer) fragmentPaths(name string) pathTree {
	f := m.fragments[name]
	if f == nil || f.pathState == inProgress {
		return nil
	}
	if f.pathState == done {
		return f.paths
	}
	f.pathState = inProgress
	f.paths = pathTree{}
	m.paths(f.def.SelectionSet, f.paths)
	f.pathState = done
	m.pathsBuilt++
	return f.paths
}

// merge adds src's paths and counts to t (src is left untouched: it is a
// fragment's memo).
func (t pathTree) merge(src pathTree) {
	for key, s := range src {
		n := t[key]
		if n == nil {
			n = &pathNode{}
			t[key] = n
		}
		n.count = add(n.count, s.count)
		if len(s.children) > 0 {
			if n.children == nil {
				n.children = pathTree{}
			}
			n.children.merge(s.children)
		}
	}
}

// pairs sums, over every path, the pairs among its selections.
func (t pathTree) pairs() int {
	sum := 0
	for _, n := range t {
		sum = add(sum, add(mul(n.count, n.count-1)/2, n.children.pairs()))
	}
	return sum
}

func (t pathTree) mostRepeated() int {
	most := 0
	for _, n := range t {
		most = max(most, n.count, n.children.mostRepeated())
	}
	return most
}
