package catalog

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// SortDecimal's byte order is the numbers' order, exactly, whatever their
// digits: checked against math/big on every pair of a varied set.
func TestSortDecimalOrdersLikeTheNumbers(t *testing.T) {
	values := []string{
		"0", "0.0", "-0", "00.000", "1", "1.0", "01.50", "1.5", "1.55", "1.05", "9", "10", "10.00001", "99.99999",
		"100", "5", "5.0000000000000001", "4.9999999999999999", "-1", "-1.5", "-1.55", "-10", "-9.99", "-0.001",
		"0.001", "19.00000", "123456789012345678901234567890", "-123456789012345678901234567890", ".5", "-.5", "+2",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		v := r.IntN(2_000_000) - 1_000_000
		values = append(values, big.NewRat(int64(v), int64(1+r.IntN(1000))).FloatString(r.IntN(6)))
	}
	for _, a := range values {
		ka, ok := SortDecimal(a)
		if !ok {
			t.Fatalf("SortDecimal(%q) not ok", a)
		}
		ra, _ := new(big.Rat).SetString(strings.TrimPrefix(a, "+"))
		for _, b := range values {
			kb, _ := SortDecimal(b)
			rb, _ := new(big.Rat).SetString(strings.TrimPrefix(b, "+"))
			if got, want := strings.Compare(ka, kb), ra.Cmp(rb); got != want {
				t.Errorf("%q vs %q: keys compare %d, numbers %d (keys %q, %q)", a, b, got, want, ka, kb)
			}
		}
	}
	for _, bad := range []string{"", "abc", "1e5", "1.2.3", "-", ".", "--1"} {
		k, ok := SortDecimal(bad)
		if ok {
			t.Errorf("SortDecimal(%q) ok", bad)
		}
		if big, _ := SortDecimal("999999999"); k <= big {
			t.Errorf("non-number %q sorts before numbers", bad)
		}
	}
}

type item struct {
	ID    int64
	Name  string
	Price string
}

var itemSpec = Spec[item]{
	ID: func(i item) int64 { return i.ID },
	Sort: map[string]func(item) string{
		"name":  func(i item) string { return SortText(i.Name) },
		"price": func(i item) string { k, _ := SortDecimal(i.Price); return k },
	},
}

var items = []item{
	{ID: 5, Name: "beta", Price: "10"},
	{ID: 1, Name: "Álamo", Price: "2.5"},
	{ID: 3, Name: "beta", Price: "9.99"},
	{ID: 4, Name: "alamo", Price: "100"},
	{ID: 2, Name: "Gamma", Price: "2.50"},
	{ID: 6, Name: " zeta", Price: "0"},
}

func TestFindOrders(t *testing.T) {
	ix := NewIndex(items, itemSpec)
	tests := []struct {
		order Order
		want  []int64
	}{
		{Order{}, []int64{1, 2, 3, 4, 5, 6}},
		{Order{Desc: true}, []int64{6, 5, 4, 3, 2, 1}},
		// Accents and case do not count; ties by id in the same direction.
		{Order{Field: "name"}, []int64{1, 4, 3, 5, 2, 6}},
		{Order{Field: "name", Desc: true}, []int64{6, 2, 5, 3, 4, 1}},
		{Order{Field: "price"}, []int64{6, 1, 2, 3, 5, 4}},
		{Order{Field: "price", Desc: true}, []int64{4, 5, 3, 2, 1, 6}},
		{Order{Field: "unknown"}, nil},
	}
	for _, tt := range tests {
		if got := ix.Find(Query[item]{Order: tt.order}).IDs; !slices.Equal(got, tt.want) {
			t.Errorf("order %+v: %v, want %v", tt.order, got, tt.want)
		}
	}
}

func TestFindKeyRange(t *testing.T) {
	ix := NewIndex(items, itemSpec)
	key := func(s string) string { k, _ := SortDecimal(s); return k }
	tests := []struct {
		r    KeyRange
		want []int64
	}{
		{KeyRange{Field: "price", Min: key("2.5"), Max: key("10.000")}, []int64{1, 2, 3, 5}},
		{KeyRange{Field: "price", Min: key("2.51")}, []int64{3, 4, 5}},
		{KeyRange{Field: "price", Max: key("0")}, []int64{6}},
		{KeyRange{Field: "price", Min: key("1000")}, nil},
		{KeyRange{Field: "nope", Min: key("1")}, nil},
	}
	for _, tt := range tests {
		if got := ix.Find(Query[item]{Range: &tt.r}).IDs; !slices.Equal(got, tt.want) {
			t.Errorf("range %+v: %v, want %v", tt.r, got, tt.want)
		}
	}
}

func intp(n int) *int { return &n }

// Pages in any order, forwards with first/after and backwards with
// last/before, visit every match once; the flags agree with the position.
func TestWindowWalksBothWays(t *testing.T) {
	ix := NewIndex(items, itemSpec)
	for _, order := range []Order{{}, {Desc: true}, {Field: "name"}, {Field: "name", Desc: true}, {Field: "price", Desc: true}} {
		m := ix.Find(Query[item]{Order: order})
		for size := 1; size <= 7; size++ {
			var forward []int64
			var after *Position
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("forward pagination does not end")
				}
				p := m.Window(Window{After: after, First: intp(size)})
				if p.HasPrev != (after != nil) {
					t.Errorf("%+v size %d: HasPrev %v", order, size, p.HasPrev)
				}
				forward = append(forward, p.IDs...)
				if !p.HasNext {
					break
				}
				after = &Position{Key: p.Keys[len(p.Keys)-1], ID: p.IDs[len(p.IDs)-1]}
			}
			var backward []int64
			var before *Position
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("backward pagination does not end")
				}
				p := m.Window(Window{Before: before, Last: intp(size)})
				if p.HasNext != (before != nil) {
					t.Errorf("%+v size %d: HasNext %v", order, size, p.HasNext)
				}
				backward = append(slices.Clone(p.IDs), backward...)
				if !p.HasPrev {
					break
				}
				before = &Position{Key: p.Keys[0], ID: p.IDs[0]}
			}
			if !slices.Equal(forward, m.IDs) || !slices.Equal(backward, m.IDs) {
				t.Errorf("%+v size %d: forward %v, backward %v, want %v", order, size, forward, backward, m.IDs)
			}
		}
	}
}

func TestWindowBetweenCursors(t *testing.T) {
	m := NewIndex(items, itemSpec).Find(Query[item]{Order: Order{Field: "price"}}) // 6 1 2 3 5 4
	pos := func(j int) *Position { return &Position{Key: m.Keys[j], ID: m.IDs[j]} }
	tests := []struct {
		name           string
		w              Window
		want           []int64
		wantPrev, next bool
	}{
		{"after and before", Window{After: pos(0), Before: pos(4)}, []int64{1, 2, 3}, true, true},
		{"after and before, first", Window{After: pos(0), Before: pos(4), First: intp(2)}, []int64{1, 2}, true, true},
		{"after and before, last", Window{After: pos(0), Before: pos(4), Last: intp(2)}, []int64{2, 3}, true, true},
		{"before the first", Window{Before: pos(0), Last: intp(3)}, nil, false, true},
		{"before not after after", Window{After: pos(3), Before: pos(1)}, nil, true, true},
		{"last larger than all", Window{Last: intp(50)}, []int64{6, 1, 2, 3, 5, 4}, false, false},
		// A position whose record changed or left still splits the order.
		{"after a vanished position", Window{After: &Position{Key: m.Keys[2], ID: 0}, First: intp(2)}, []int64{1, 2}, true, true},
	}
	for _, tt := range tests {
		p := m.Window(tt.w)
		if !slices.Equal(p.IDs, tt.want) || p.HasPrev != tt.wantPrev || p.HasNext != tt.next {
			t.Errorf("%s: %v prev %v next %v, want %v %v %v", tt.name, p.IDs, p.HasPrev, p.HasNext, tt.want, tt.wantPrev, tt.next)
		}
	}
}

func TestCustomFieldKeys(t *testing.T) {
	raw := json.RawMessage(`{"COLOR":" BLANCO ","GARANTIA":12,"PRECIO":1.50,"NUEVO":true,"X":null,"O":{"a":1},"L":[1]}`)
	got := customFieldKeys(raw)
	slices.Sort(got)
	want := []string{
		CustomFieldKey("COLOR", "BLANCO"), CustomFieldKey("GARANTIA", "12"), CustomFieldKey("NUEVO", "true"), CustomFieldKey("PRECIO", "1.50"),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys %q, want %q", got, want)
	}
	for _, bad := range []string{"", "null", "[1]", "{", `"x"`} {
		if k := customFieldKeys(json.RawMessage(bad)); len(k) != 0 {
			t.Errorf("%q indexed as %q", bad, k)
		}
	}
}

// FuzzSortDecimal feeds decimals as clients send them (rateMin, rateMax)
// and as SERPI stores them: never a panic, and for any two numbers the
// keys compare as the numbers do.
func FuzzSortDecimal(f *testing.F) {
	for _, seed := range [][2]string{{"19.00000", "19"}, {"-1.5", "-1.55"}, {"0", "-0.000"}, {".5", "0.49999"}, {"abc", "1"}, {"", "-"}, {"1e5", "100000"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, okA := SortDecimal(a)
		kb, okB := SortDecimal(b)
		ra, parsedA := new(big.Rat).SetString(strings.TrimPrefix(strings.TrimSpace(a), "+"))
		rb, parsedB := new(big.Rat).SetString(strings.TrimPrefix(strings.TrimSpace(b), "+"))
		if !okA || !okB || !parsedA || !parsedB {
			return // big.Rat reads forms (exponents, fractions) SortDecimal refuses
		}
		if got, want := strings.Compare(ka, kb), ra.Cmp(rb); got != want {
			t.Fatalf("%q vs %q: keys compare %d, numbers %d", a, b, got, want)
		}
	})
}
