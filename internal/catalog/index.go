// Package catalog answers lookups the SERPI API cannot (by id, by NIT, by
// code, by text) from an in-memory index over whole collections, and pages
// through the results with keyset cursors.
package catalog

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

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
	// sortKeys holds, per sort field, each position's sort key; rank holds
	// each position's place in that field's ascending (key, id) order, so
	// a query sorts its matches by comparing ints.
	sortKeys map[string][]string
	rank     map[string][]int
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
	// Sort returns, per sort field name, a record's sort key: strings whose
	// byte order is the field's order (see SortText, SortDecimal). Ties
	// are broken by id.
	Sort map[string]func(T) string
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
	ix.buildSorts(spec.Sort)
	return ix
}

// buildSorts computes every sort field's keys and ranks.
func (ix *Index[T]) buildSorts(sorts map[string]func(T) string) {
	ix.sortKeys = make(map[string][]string, len(sorts))
	ix.rank = make(map[string][]int, len(sorts))
	for name, fn := range sorts {
		keys := make([]string, len(ix.items))
		order := make([]int, len(ix.items))
		for i, it := range ix.items {
			keys[i] = fn(it)
			order[i] = i
		}
		// Positions are in id order, so a stable sort by key alone orders
		// ties by id.
		slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
		rank := make([]int, len(ix.items))
		for r, i := range order {
			rank[i] = r
		}
		ix.sortKeys[name], ix.rank[name] = keys, rank
	}
}

// Sorts reports whether the index can order by field ("" is id order).
func (ix *Index[T]) Sorts(field string) bool {
	if field == "" {
		return true
	}
	_, ok := ix.rank[field]
	return ok
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
	// Range keeps the records whose sort key for Range.Field lies within
	// the bounds (see KeyRange).
	Range *KeyRange
	// Order is the order of the matches: by id when Order.Field is "".
	Order Order
}

// KeyRange bounds a sort field's keys; an empty bound is open.
type KeyRange struct {
	Field    string
	Min, Max string
}

// Order is a sort order: a sort field of the Spec (or "" for the id) and
// a direction. Ties are broken by id in the same direction, so the
// descending order is exactly the ascending one reversed.
type Order struct {
	Field string
	Desc  bool
}

// Matches are the records a query selected, in the query's order.
type Matches[T any] struct {
	Items []T
	IDs   []int64
	// Keys are the matches' sort keys (empty strings in id order).
	Keys  []string
	Order Order
}

// Find returns the matching records in the query's order, with their ids
// and sort keys. An Order or Range naming a field the Spec does not sort
// by matches nothing.
func (ix *Index[T]) Find(q Query[T]) Matches[T] {
	m := Matches[T]{Order: q.Order}
	matched, keys := ix.match(q)
	if matched == nil {
		return m
	}
	m.Items = make([]T, len(matched))
	m.IDs = make([]int64, len(matched))
	m.Keys = make([]string, len(matched))
	for j, i := range matched {
		m.Items[j], m.IDs[j] = ix.items[i], ix.ids[i]
		if keys != nil {
			m.Keys[j] = keys[i]
		}
	}
	return m
}

// FindWindow returns what Find(q).Window(w) returns, copying only the
// page's records: request paths use it, since a search matching most of
// a collection would otherwise copy the whole collection per request.
func (ix *Index[T]) FindWindow(q Query[T], w Window) Page[T] {
	matched, keys := ix.match(q)
	key := func(j int) string {
		if keys == nil {
			return ""
		}
		return keys[matched[j]]
	}
	start, end := w.bounds(len(matched), q.Order, key, func(j int) int64 { return ix.ids[matched[j]] })
	p := Page[T]{HasNext: end < len(matched), HasPrev: start > 0, TotalCount: len(matched)}
	if n := end - start; n > 0 {
		p.Items, p.IDs, p.Keys = make([]T, n), make([]int64, n), make([]string, n)
		for k := range n {
			i := matched[start+k]
			p.Items[k], p.IDs[k], p.Keys[k] = ix.items[i], ix.ids[i], key(start+k)
		}
	}
	return p
}

// match returns the positions of the records q selects, in q's order,
// and the sort keys of q's order by position (nil in id order); nil
// positions when q can match nothing.
func (ix *Index[T]) match(q Query[T]) (matched []int, keys []string) {
	if !ix.Sorts(q.Order.Field) || (q.Range != nil && (q.Range.Field == "" || !ix.Sorts(q.Range.Field))) {
		return nil, nil
	}
	candidates := ix.candidates(q.Equal)
	words := strings.Fields(Normalize(q.Search))
	if len(words) > 0 && ix.text == nil {
		// An index without text cannot match a text search.
		return nil, nil
	}
	matched = make([]int, 0, len(candidates))
	for _, i := range candidates {
		if len(words) > 0 && !containsAll(ix.text[i], words) {
			continue
		}
		if q.Range != nil && !q.Range.holds(ix.sortKeys[q.Range.Field][i]) {
			continue
		}
		if q.Where != nil && !q.Where(ix.items[i]) {
			continue
		}
		matched = append(matched, i)
	}
	if f := q.Order.Field; f != "" {
		rank := ix.rank[f]
		slices.SortFunc(matched, func(a, b int) int { return rank[a] - rank[b] })
		keys = ix.sortKeys[f]
	}
	if q.Order.Desc {
		slices.Reverse(matched)
	}
	return matched, keys
}

func (r *KeyRange) holds(key string) bool {
	return (r.Min == "" || key >= r.Min) && (r.Max == "" || key <= r.Max)
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
		// Nothing to strip: most of SERPI's texts take this path, which
		// spares building a transformer per call.
		return strings.ToLower(s)
	}
	// Decompose, drop the combining marks, compose again: what a
	// transform.Chain of the three does, without the chain's buffers
	// (allocated per call, they cost more than the work itself).
	decomposed := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(decomposed))
	for _, r := range decomposed {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	out := norm.NFC.String(b.String())
	return strings.ToLower(out)
}

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
	Keys       []string
	HasNext    bool
	HasPrev    bool
	TotalCount int
}

// Position is a place in an ordered result: the sort key and id of a
// record (a cursor's content). The record need not still match, or exist.
type Position struct {
	Key string
	ID  int64
}

// Window selects a page the Relay way: the matches strictly after After
// and strictly before Before (nil: unbounded), then the First of them, or
// the Last of them (nil: not given; First wins when both are given).
type Window struct {
	After, Before *Position
	First, Last   *int
}

// Page returns up to first matches after the match with id after (0: from
// the start); for results in id order.
func (m Matches[T]) Page(after int64, first int) Page[T] {
	w := Window{First: &first}
	if after != 0 {
		w.After = &Position{ID: after}
	}
	return m.Window(w)
}

// Window cuts the page w selects. HasPrev and HasNext say whether matches
// precede or follow the page in this order, cursors or not.
func (m Matches[T]) Window(w Window) Page[T] {
	if len(m.Keys) != len(m.Items) {
		// Built by hand in id order: every key is "".
		m.Keys = make([]string, len(m.Items))
	}
	start, end := w.bounds(len(m.Items), m.Order, func(j int) string { return m.Keys[j] }, func(j int) int64 { return m.IDs[j] })
	return Page[T]{
		Items:      m.Items[start:end],
		IDs:        m.IDs[start:end],
		Keys:       m.Keys[start:end],
		HasNext:    end < len(m.Items),
		HasPrev:    start > 0,
		TotalCount: len(m.Items),
	}
}

// bounds is the page w selects among n matches in order, the j-th with
// sort key key(j) and id id(j): matches [start, end).
func (w Window) bounds(n int, order Order, key func(int) string, id func(int) int64) (start, end int) {
	// search returns the first match beyond p in this order (past: p's
	// own record excluded), or the first match not before p. A search
	// for a position, never After's id + 1, which would overflow at the
	// top of the int64 range.
	search := func(p Position, past bool) int {
		return sort.Search(n, func(j int) bool {
			c := strings.Compare(key(j), p.Key)
			if c == 0 {
				c = cmpInt(id(j), p.ID)
			}
			if order.Desc {
				c = -c
			}
			if past {
				return c > 0
			}
			return c >= 0
		})
	}
	start, end = 0, n
	if w.After != nil {
		start = search(*w.After, true)
	}
	if w.Before != nil {
		end = max(start, search(*w.Before, false))
	}
	switch {
	case w.First != nil:
		end = min(end, start+max(*w.First, 0))
	case w.Last != nil:
		start = max(start, end-max(*w.Last, 0))
	}
	return start, end
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
