package catalog

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

type rec struct {
	ID   int64
	Name string
	City string
	NIT  string
	Tags []string
}

var recSpec = Spec[rec]{
	ID:   func(r rec) int64 { return r.ID },
	Text: func(r rec) []string { return []string{r.Name, r.City} },
	Keys: map[string]func(rec) []string{
		"city": func(r rec) []string { return []string{r.City} },
		"nit":  func(r rec) []string { return []string{r.NIT} },
		"tag":  func(r rec) []string { return r.Tags },
	},
}

// Deliberately unsorted, with a duplicate id (7) whose later copy wins.
var recs = []rec{
	{ID: 30, Name: "Sede Norte", City: "Medellín", NIT: "900", Tags: []string{"a", "b"}},
	{ID: 7, Name: "Old name", City: "Cali", NIT: "800"},
	{ID: 10, Name: "Principal Bogotá", City: "Bogotá", NIT: "900", Tags: []string{"b"}},
	{ID: 20, Name: "Sucursal ÁREA Industrial", City: "MEDELLÍN", NIT: "800", Tags: []string{" a ", ""}},
	{ID: 7, Name: "Bodega Cali", City: "Cali", NIT: "700", Tags: []string{"c"}},
	{ID: 40, Name: "Punto Pereira", City: "Pereira", NIT: " 900 "},
}

func TestNewIndex(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	if ix.Len() != 5 {
		t.Errorf("Len = %d, want 5", ix.Len())
	}
	all := ix.Find(Query[rec]{})
	if want := []int64{7, 10, 20, 30, 40}; !slices.Equal(all.IDs, want) {
		t.Errorf("ids = %v, want %v", all.IDs, want)
	}
	for i, r := range all.Items {
		if r.ID != all.IDs[i] {
			t.Errorf("item %d has id %d, ids[%d] = %d", i, r.ID, i, all.IDs[i])
		}
	}
	if r, _ := ix.Get(7); r.Name != "Bodega Cali" {
		t.Errorf("duplicate id 7 kept %q, want the last (Bodega Cali)", r.Name)
	}
	// The replaced record's keys are gone too.
	if m := ix.Find(Query[rec]{Equal: map[string][]string{"nit": {"700"}}}); !slices.Equal(m.IDs, []int64{7}) {
		t.Errorf("nit 700 = %v, want [7]", m.IDs)
	}
	if m := ix.Find(Query[rec]{Equal: map[string][]string{"nit": {"800"}}}); !slices.Equal(m.IDs, []int64{20}) {
		t.Errorf("nit 800 = %v, want [20] (the replaced record must not be indexed)", m.IDs)
	}
	if m := ix.Find(Query[rec]{Search: "old"}); len(m.IDs) != 0 {
		t.Errorf("search for the replaced record's text = %v", m.IDs)
	}
}

func TestNewIndexEmpty(t *testing.T) {
	for _, items := range [][]rec{nil, {}} {
		ix := NewIndex(items, recSpec)
		if ix.Len() != 0 {
			t.Errorf("Len = %d", ix.Len())
		}
		if _, ok := ix.Get(1); ok {
			t.Error("Get found a record")
		}
		m := ix.Find(Query[rec]{Search: "x", Equal: map[string][]string{"city": {"Cali"}}})
		if len(m.Items) != 0 {
			t.Errorf("Find = %v", m.IDs)
		}
		p := ix.Find(Query[rec]{}).Page(0, 10)
		if len(p.Items) != 0 || p.HasNext || p.HasPrev || p.TotalCount != 0 {
			t.Errorf("Page = %+v", p)
		}
	}
}

func TestGet(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	tests := []struct {
		id       int64
		wantOK   bool
		wantName string
	}{
		{7, true, "Bodega Cali"},
		{10, true, "Principal Bogotá"},
		{40, true, "Punto Pereira"},
		{0, false, ""},
		{8, false, ""},
		{-10, false, ""},
		{1 << 62, false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.id), func(t *testing.T) {
			r, ok := ix.Get(tt.id)
			if ok != tt.wantOK || r.Name != tt.wantName {
				t.Errorf("Get(%d) = %+v, %v; want %q, %v", tt.id, r, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

// findCases are queries over recs with the ids they match, in order.
var findCases = []struct {
	name string
	q    Query[rec]
	want []int64
}{
	{"everything", Query[rec]{}, []int64{7, 10, 20, 30, 40}},
	{"equal one key", Query[rec]{Equal: map[string][]string{"nit": {"900"}}}, []int64{10, 30, 40}},
	{"equal trims query and record values", Query[rec]{Equal: map[string][]string{"nit": {" 900"}}}, []int64{10, 30, 40}},
	{"equal is exact, not normalized", Query[rec]{Equal: map[string][]string{"city": {"Medellín"}}}, []int64{30}},
	{"equal no match", Query[rec]{Equal: map[string][]string{"nit": {"123"}}}, nil},
	{"equal unknown key", Query[rec]{Equal: map[string][]string{"zip": {"900"}}}, nil},
	{"equal empty value list ignored", Query[rec]{Equal: map[string][]string{"nit": {}}}, []int64{7, 10, 20, 30, 40}},
	{"equal empty string matches nothing", Query[rec]{Equal: map[string][]string{"tag": {""}}}, nil},
	{"equal two keys intersect", Query[rec]{Equal: map[string][]string{"nit": {"900"}, "tag": {"b"}}}, []int64{10, 30}},
	{"equal two keys disjoint", Query[rec]{Equal: map[string][]string{"nit": {"700"}, "tag": {"b"}}}, nil},
	{"equal two keys, one empty list", Query[rec]{Equal: map[string][]string{"nit": {"800"}, "tag": nil}}, []int64{20}},
	{"values list is a union", Query[rec]{Equal: map[string][]string{"nit": {"700", "800"}}}, []int64{7, 20}},
	{"union with duplicates and misses", Query[rec]{Equal: map[string][]string{"city": {"Cali", "Cali", "Nowhere", "Pereira"}}}, []int64{7, 40}},
	{"multi-valued key", Query[rec]{Equal: map[string][]string{"tag": {"a"}}}, []int64{20, 30}},
	{"multi-valued union no duplicates", Query[rec]{Equal: map[string][]string{"tag": {"a", "b"}}}, []int64{10, 20, 30}},
	{"union then intersect", Query[rec]{Equal: map[string][]string{"tag": {"a", "c"}, "nit": {"700", "900"}}}, []int64{7, 30}},
	{"search accent-insensitive", Query[rec]{Search: "medellin"}, []int64{20, 30}},
	{"search case-insensitive", Query[rec]{Search: "SEDE"}, []int64{30}},
	{"search accented query", Query[rec]{Search: "Bogotá"}, []int64{10}},
	{"search accented uppercase record", Query[rec]{Search: "area"}, []int64{20}},
	{"search multi-word all must match", Query[rec]{Search: "medellin industrial"}, []int64{20}},
	{"search multi-word any order, extra spaces", Query[rec]{Search: "  industrial   MEDELLÍN "}, []int64{20}},
	{"search one word missing", Query[rec]{Search: "medellin pereira"}, nil},
	{"search substring", Query[rec]{Search: "bod"}, []int64{7}},
	{"search across fields", Query[rec]{Search: "punto pereira"}, []int64{40}},
	{"search blank is no criterion", Query[rec]{Search: "   "}, []int64{7, 10, 20, 30, 40}},
	{"search and equal", Query[rec]{Search: "medellin", Equal: map[string][]string{"nit": {"900"}}}, []int64{30}},
	{"where", Query[rec]{Where: func(r rec) bool { return r.ID%20 == 0 }}, []int64{20, 40}},
	{"where rejects all", Query[rec]{Where: func(rec) bool { return false }}, nil},
	{"where and search and equal", Query[rec]{
		Equal:  map[string][]string{"nit": {"800", "900"}},
		Search: "medellin",
		Where:  func(r rec) bool { return r.ID > 20 },
	}, []int64{30}},
}

func TestFind(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	tests := findCases
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ix.Find(tt.q)
			if !slices.Equal(m.IDs, tt.want) {
				t.Errorf("ids = %v, want %v", m.IDs, tt.want)
			}
			if len(m.Items) != len(m.IDs) {
				t.Fatalf("%d items for %d ids", len(m.Items), len(m.IDs))
			}
			for i := range m.Items {
				if m.Items[i].ID != m.IDs[i] {
					t.Errorf("item %d id %d != %d", i, m.Items[i].ID, m.IDs[i])
				}
			}
		})
	}
}

// The intersection must not depend on the order keys are visited in
// (Go randomizes map iteration); run it often.
func TestFindIntersectionStable(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	q := Query[rec]{Equal: map[string][]string{"nit": {"900", "800"}, "tag": {"a", "b"}, "city": {"Medellín", "MEDELLÍN", "Bogotá"}}}
	for range 100 {
		if got := ix.Find(q).IDs; !slices.Equal(got, []int64{10, 20, 30}) {
			t.Fatalf("ids = %v, want [10 20 30]", got)
		}
	}
}

// FindWindow must answer exactly what Find followed by Window does, for
// every query, direction, cursor pair and page size.
func TestFindWindowIsFindThenWindow(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	ints := func(vs ...int) []*int {
		out := []*int{nil}
		for _, v := range vs {
			out = append(out, &v)
		}
		return out
	}
	for _, tt := range findCases {
		for _, desc := range []bool{false, true} {
			q := tt.q
			q.Order = Order{Desc: desc}
			positions := []*Position{nil}
			for _, id := range []int64{0, 5, 7, 10, 15, 20, 30, 40, 99, math.MaxInt64} {
				positions = append(positions, &Position{ID: id})
			}
			for _, after := range positions {
				for _, before := range positions {
					for _, first := range ints(0, 1, 2, 5, 100) {
						for _, last := range ints(0, 1, 3) {
							if first != nil && last != nil {
								continue
							}
							w := Window{After: after, Before: before, First: first, Last: last}
							want := ix.Find(q).Window(w)
							got := ix.FindWindow(q, w)
							if !slices.Equal(got.IDs, want.IDs) || !slices.Equal(got.Keys, want.Keys) || len(got.Items) != len(want.Items) ||
								got.HasNext != want.HasNext || got.HasPrev != want.HasPrev || got.TotalCount != want.TotalCount {
								t.Fatalf("%s, %+v: FindWindow = %+v, Find().Window = %+v", tt.name, w, got, want)
							}
							for i := range got.Items {
								if got.Items[i].ID != got.IDs[i] {
									t.Fatalf("%s: item %d has id %d, ids say %d", tt.name, i, got.Items[i].ID, got.IDs[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestFindWithoutKeysOrText(t *testing.T) {
	ix := NewIndex([]rec{{ID: 2}, {ID: 1}}, Spec[rec]{ID: func(r rec) int64 { return r.ID }})
	if got := ix.Find(Query[rec]{}).IDs; !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("ids = %v", got)
	}
	if got := ix.Find(Query[rec]{Equal: map[string][]string{"nit": {"1"}}}).IDs; len(got) != 0 {
		t.Errorf("ids = %v", got)
	}
}

func TestPage(t *testing.T) {
	// ids 10, 20, ..., 100
	var items []rec
	for i := int64(10); i <= 100; i += 10 {
		items = append(items, rec{ID: i})
	}
	m := NewIndex(items, recSpec).Find(Query[rec]{})
	tests := []struct {
		name      string
		after     int64
		first     int
		wantIDs   []int64
		wantNext  bool
		wantPrev  bool
		wantTotal int
	}{
		{"first page", 0, 3, []int64{10, 20, 30}, true, false, 10},
		{"first page, all", 0, 10, []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, false, false, 10},
		{"first page larger than all", 0, 100, []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, false, false, 10},
		{"after existing id", 30, 3, []int64{40, 50, 60}, true, true, 10},
		{"after existing id, to the end", 70, 3, []int64{80, 90, 100}, false, true, 10},
		{"after missing id between ids", 35, 2, []int64{40, 50}, true, true, 10},
		{"after missing id below the first", 5, 2, []int64{10, 20}, true, false, 10},
		{"after the last id", 100, 5, nil, false, true, 10},
		{"after beyond the last id", 1000, 5, nil, false, true, 10},
		{"after the largest int64 (crafted cursor)", math.MaxInt64, 5, nil, false, true, 10},
		{"after the second to last", 90, 5, []int64{100}, false, true, 10},
		{"negative after is the start", -5, 2, []int64{10, 20}, true, false, 10},
		{"first zero", 0, 0, nil, true, false, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := m.Page(tt.after, tt.first)
			if !slices.Equal(p.IDs, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", p.IDs, tt.wantIDs)
			}
			if len(p.Items) != len(p.IDs) {
				t.Errorf("%d items for %d ids", len(p.Items), len(p.IDs))
			}
			for i := range p.Items {
				if p.Items[i].ID != p.IDs[i] {
					t.Errorf("item %d id %d != %d", i, p.Items[i].ID, p.IDs[i])
				}
			}
			if p.HasNext != tt.wantNext || p.HasPrev != tt.wantPrev || p.TotalCount != tt.wantTotal {
				t.Errorf("HasNext %v HasPrev %v TotalCount %d, want %v %v %d", p.HasNext, p.HasPrev, p.TotalCount, tt.wantNext, tt.wantPrev, tt.wantTotal)
			}
		})
	}
}

// Walking page by page with the last id as the cursor visits every record
// once, in order, and the page flags agree with the position.
func TestPageWalk(t *testing.T) {
	ix := NewIndex(recs, recSpec)
	m := ix.Find(Query[rec]{Equal: map[string][]string{"nit": {"800", "900"}}})
	for size := 1; size <= 5; size++ {
		var seen []int64
		var after int64
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
			p := m.Page(after, size)
			if p.TotalCount != len(m.IDs) {
				t.Errorf("TotalCount %d, want %d", p.TotalCount, len(m.IDs))
			}
			if p.HasPrev != (after != 0) {
				t.Errorf("size %d after %d: HasPrev %v", size, after, p.HasPrev)
			}
			seen = append(seen, p.IDs...)
			if !p.HasNext {
				break
			}
			after = p.IDs[len(p.IDs)-1]
		}
		if !slices.Equal(seen, m.IDs) {
			t.Errorf("size %d: walked %v, want %v", size, seen, m.IDs)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Medellín", "medellin"},
		{"MEDELLÍN", "medellin"},
		{"Bogotá D.C.", "bogota d.c."},
		{"Peña Ñandú", "pena nandu"},
		{"Medelli\u0301n", "medellin"}, // decomposed accent
		{"Çüé", "cue"},
		{"", ""},
		{"abc 123", "abc 123"},
		{"İstanbul", "istanbul"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeConcurrent(t *testing.T) {
	inputs := map[string]string{
		"Medellín":               "medellin",
		"SUCURSAL ÁREA":          "sucursal area",
		"Peña":                   "pena",
		strings.Repeat("é", 300): strings.Repeat("e", 300),
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for in, want := range inputs {
					if got := Normalize(in); got != want {
						select {
						case errs <- fmt.Sprintf("goroutine %d: Normalize(%.20q) = %.20q", g, in, got):
						default:
						}
						return
					}
				}
			}
		}()
	}
	// Concurrent searches on one shared index, too.
	ix := NewIndex(recs, recSpec)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := ix.Find(Query[rec]{Search: "Medellín"}).IDs; !slices.Equal(got, []int64{20, 30}) {
					select {
					case errs <- fmt.Sprintf("concurrent Find = %v", got):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSearchWithoutTextMatchesNothing(t *testing.T) {
	ix := NewIndex([]rec{{ID: 1}, {ID: 2}}, Spec[rec]{ID: func(r rec) int64 { return r.ID }})
	if m := ix.Find(Query[rec]{Search: "anything"}); len(m.Items) != 0 {
		t.Fatalf("search over an index without text matched %v", m.IDs)
	}
	if m := ix.Find(Query[rec]{}); len(m.Items) != 2 {
		t.Fatalf("no criteria should match everything, got %v", m.IDs)
	}
}

func TestCanonicalNIT(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"900985549", "900985549"},
		{"900.985.549", "900985549"},
		{" 900 985 549 ", "900985549"},
		{"900\u00a0985\u00a0549", "900985549"},
		{"900.985.549-2", "900985549"}, // 2 is DIAN's check digit of 900985549
		{"900985549-2", "900985549"},
		{"900985549-3", "900985549-3"}, // not its check digit: kept as written
		{"9009855492", "9009855492"},   // without a hyphen the last digit is part of the number
		{"900985549-", "900985549-"},
		{"900985549-22", "900985549-22"},
		{"-2", "-2"},
		{"", ""},
	} {
		if got := CanonicalNIT(tc.in); got != tc.want {
			t.Errorf("CanonicalNIT(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBranchesMatchNITsHoweverWritten(t *testing.T) {
	branch := func(id int64, nit string) serpi.Sucursal {
		return serpi.Sucursal{ID: wire.NewInt(id), NitTercero: wire.Text(nit)}
	}
	ix := NewIndex([]serpi.Sucursal{
		branch(1, "900985549"),
		branch(2, "900.985.549-2"),
		branch(3, "900 985 549"),
		branch(4, "900985549-3"), // a wrong check digit: another text
		branch(5, "800123456"),
	}, BranchSpec)
	for _, tc := range []struct {
		asked string
		want  []int64
	}{
		{"900985549", []int64{1, 2, 3}},
		{"900.985.549-2", []int64{1, 2, 3}},
		{" 900.985.549 ", []int64{1, 2, 3}},
		{"900985549-3", []int64{4}},
		{"90098554", nil},
	} {
		got := ix.Find(Query[serpi.Sucursal]{Equal: map[string][]string{KeyNIT: {tc.asked}}}).IDs
		if !slices.Equal(got, tc.want) {
			t.Errorf("NIT %q found %v, want %v", tc.asked, got, tc.want)
		}
	}
}
