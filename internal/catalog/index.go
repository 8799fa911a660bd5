// Package catalog answers lookups the SERPI API cannot (by id, by NIT, by
// code, by text) from an in-memory index over whole collections, and pages
// through the results with keyset cursors.
package catalog

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Index is an immutable view of a collection sorted by upstream id, with
// exact-match keys and normalized search text. It is safe for concurrent
// reads, so one index can serve every request until the collection is
// refreshed.
type Index[T any] struct {
	items []T
	ids   []int64
	pos   map[int64]int
	text  []string
	keys  map[string]map[string][]int
	// canon holds Spec.Canonical.
	canon map[string]func(string) string
}

// Spec says how to index records of type T.
type Spec[T any] struct {
	// ID returns the record's upstream id.
	ID func(T) int64
	// Text returns the strings free-text search looks into.
	Text func(T) []string
	// Keys returns, per key name, the exact values a record is found by
	// (e.g. "nit" -> {"900985549"}).
	Keys map[string]func(T) []string
	// Canonical, per key name, rewrites a value to the form records are
	// found by; it applies to the record's values and to the values asked
	// for alike (e.g. a NIT with dots and a check digit to its digits).
	// Values of a key without one are compared as they are, trimmed.
	Canonical map[string]func(string) string
}

// NewIndex builds an index over items. Records with a duplicate id keep the
// last one, as a later page reflects a later state.
func NewIndex[T any](items []T, spec Spec[T]) *Index[T] {
	byID := make(map[int64]T, len(items))
	for _, it := range items {
		byID[spec.ID(it)] = it
	}
	ix := &Index[T]{pos: make(map[int64]int, len(byID)), keys: map[string]map[string][]int{}, canon: spec.Canonical}
	for id := range byID {
		ix.ids = append(ix.ids, id)
	}
	slices.Sort(ix.ids)
	for i, id := range ix.ids {
		it := byID[id]
		ix.items = append(ix.items, it)
		ix.pos[id] = i
		if spec.Text != nil {
			ix.text = append(ix.text, Normalize(strings.Join(spec.Text(it), " ")))
		}
		for name, fn := range spec.Keys {
			m := ix.keys[name]
			if m == nil {
				m = map[string][]int{}
				ix.keys[name] = m
			}
			for _, v := range fn(it) {
				v = ix.canonical(name, v)
				if v != "" {
					m[v] = append(m[v], i)
				}
			}
		}
	}
	return ix
}

// Len is the number of records.
func (ix *Index[T]) Len() int { return len(ix.items) }

// Get returns the record with upstream id.
func (ix *Index[T]) Get(id int64) (T, bool) {
	i, ok := ix.pos[id]
	if !ok {
		var zero T
		return zero, false
	}
	return ix.items[i], true
}

// Query selects records. Every non-empty criterion must hold.
type Query[T any] struct {
	// Equal maps a key name to accepted values (any of them matches).
	Equal map[string][]string
	// Search holds words that must all appear in the record's text.
	Search string
	// Where is an extra predicate.
	Where func(T) bool
}

// Matches are the records a query selected, in ascending id order.
type Matches[T any] struct {
	Items []T
	IDs   []int64
}

// Find returns the matching records in id order, with their ids.
func (ix *Index[T]) Find(q Query[T]) Matches[T] {
	candidates := ix.candidates(q.Equal)
	words := strings.Fields(Normalize(q.Search))
	var m Matches[T]
	if len(words) > 0 && ix.text == nil {
		// An index without text cannot match a text search.
		return Matches[T]{}
	}
	for _, i := range candidates {
		if len(words) > 0 && !containsAll(ix.text[i], words) {
			continue
		}
		if q.Where != nil && !q.Where(ix.items[i]) {
			continue
		}
		m.Items = append(m.Items, ix.items[i])
		m.IDs = append(m.IDs, ix.ids[i])
	}
	return m
}

// FindPage returns what Find(q).Page(after, first) returns, without
// copying the matches that fall outside the page: it counts every match
// but keeps only the page's records. Request paths use it; a search that
// matches most of a collection would otherwise copy the whole collection
// per request.
func (ix *Index[T]) FindPage(q Query[T], after int64, first int) Page[T] {
	words := strings.Fields(Normalize(q.Search))
	if len(words) > 0 && ix.text == nil {
		return Page[T]{}
	}
	var p Page[T]
	visit := func(i int) {
		if len(words) > 0 && !containsAll(ix.text[i], words) {
			return
		}
		if q.Where != nil && !q.Where(ix.items[i]) {
			return
		}
		p.TotalCount++
		switch {
		case ix.ids[i] <= after:
			p.HasPrev = true
		case len(p.Items) < first:
			if p.Items == nil {
				n := min(first, len(ix.items))
				p.Items, p.IDs = make([]T, 0, n), make([]int64, 0, n)
			}
			p.Items = append(p.Items, ix.items[i])
			p.IDs = append(p.IDs, ix.ids[i])
		default:
			p.HasNext = true
		}
	}
	if hasCriteria(q.Equal) {
		for _, i := range ix.candidates(q.Equal) {
			visit(i)
		}
	} else {
		for i := range ix.items { // positions are in id order
			visit(i)
		}
	}
	return p
}

func hasCriteria(equal map[string][]string) bool {
	for _, values := range equal {
		if len(values) > 0 {
			return true
		}
	}
	return false
}

// candidates intersects the positions matching every key criterion; with
// no criteria every position is a candidate. Positions come back sorted.
func (ix *Index[T]) candidates(equal map[string][]string) []int {
	var result []int
	first := true
	for name, values := range equal {
		if len(values) == 0 {
			continue
		}
		set := map[int]bool{}
		for _, v := range values {
			for _, i := range ix.keys[name][ix.canonical(name, v)] {
				set[i] = true
			}
		}
		var matched []int
		if first {
			for i := range set {
				matched = append(matched, i)
			}
		} else {
			for _, i := range result {
				if set[i] {
					matched = append(matched, i)
				}
			}
		}
		result, first = matched, false
	}
	if first {
		result = make([]int, len(ix.items))
		for i := range result {
			result[i] = i
		}
	}
	slices.Sort(result)
	return result
}

// canonical is the form of value v of key name that the index holds.
func (ix *Index[T]) canonical(name, v string) string {
	v = strings.TrimSpace(v)
	if c := ix.canon[name]; c != nil {
		v = c(v)
	}
	return v
}

func containsAll(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// Normalize lowercases s and removes accents, so "Medellín" matches
// "medellin".
func Normalize(s string) string {
	if isASCII(s) {
		return strings.ToLower(s) // no accents to strip: the common case
	}
	// A transformer chain keeps state: each call takes one from the pool
	// and resets it, instead of building its own (about 9 KB a call).
	t := stripMarksPool.Get().(transform.Transformer)
	t.Reset()
	out, _, err := transform.String(t, s)
	stripMarksPool.Put(t)
	if err != nil {
		out = s
	}
	return strings.ToLower(out)
}

// stripMarksPool holds transformers that decompose, drop combining marks
// and recompose.
var stripMarksPool = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// isASCII reports whether s is all ASCII, which decomposition leaves as it
// is.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Page is one page of a keyset-paginated result.
type Page[T any] struct {
	Items      []T
	IDs        []int64
	HasNext    bool
	HasPrev    bool
	TotalCount int
}

// Page returns up to first matches whose id is greater than after (0:
// from the start).
func (m Matches[T]) Page(after int64, first int) Page[T] {
	// The first id greater than after; written without after+1, which
	// would overflow for a crafted cursor at the top of the int64 range.
	start, found := slices.BinarySearch(m.IDs, after)
	if found {
		start++
	}
	end := min(start+first, len(m.Items))
	return Page[T]{
		Items:      m.Items[start:end],
		IDs:        m.IDs[start:end],
		HasNext:    end < len(m.Items),
		HasPrev:    start > 0,
		TotalCount: len(m.Items),
	}
}
