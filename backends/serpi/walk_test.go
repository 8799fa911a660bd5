package serpi

import (
	"context"
	"errors"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

func faultAll(status int) simkit.Fault {
	return simkit.Fault{Upstream: upstream.Serpi, Status: status, Rate: 1}
}

func intID(v int) int64 { return int64(v) }

// pagesOf serves total records 0..total-1 in pages of at most honoured
// records (a SERPI capping "limite"), counting calls.
func pagesOf(total, honoured int, calls *int) func(context.Context, PageQuery) (Page[int], error) {
	return func(_ context.Context, q PageQuery) (Page[int], error) {
		*calls++
		size := q.Limit
		if honoured > 0 {
			size = min(size, honoured)
		}
		var items []int
		for i := (q.Page - 1) * size; i < min(q.Page*size, total); i++ {
			items = append(items, i)
		}
		return Page[int]{Items: items, Reported: -1}, nil
	}
}

func TestWalkAllStopsOnlyOnAnEmptyPage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		total    int
		size     int
		honoured int
		calls    int
	}{
		{"short last page, then the empty one", 23, 10, 0, 4},
		{"exact multiple ends on empty page", 20, 10, 0, 3},
		{"nothing", 0, 10, 0, 1},
		{"default size", 120, 0, 0, 4},
		{"SERPI caps the page size", 120, 500, 50, 4},
		{"SERPI caps below the default", 7, 0, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got, err := WalkAll(context.Background(), tc.size, intID, pagesOf(tc.total, tc.honoured, &calls))
			if err != nil || len(got) != tc.total || calls != tc.calls {
				t.Fatalf("got %d items in %d calls (err %v), want %d in %d", len(got), calls, err, tc.total, tc.calls)
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("order broken at %d", i)
				}
			}
		})
	}
}

func TestWalkAllRefusesInconsistentPages(t *testing.T) {
	page := func(ids ...int) Page[int] { return Page[int]{Items: ids, Reported: -1} }
	reported := func(n int, ids ...int) Page[int] { return Page[int]{Items: ids, Reported: n} }
	for _, tc := range []struct {
		name  string
		pages []Page[int] // page i+1; past the end: empty
	}{
		{"a page repeats the previous one", []Page[int]{page(1, 2), page(3, 4), page(3, 4)}},
		{"a page repeats one record", []Page[int]{page(1, 2), page(2, 3)}},
		{"records after a short page", []Page[int]{page(1, 2, 3), page(4), page(5, 6, 7)}},
		{"a page larger than page 1", []Page[int]{page(1, 2), page(3, 4, 5)}},
		{"totals disagree between pages", []Page[int]{reported(9, 1, 2), reported(8, 3, 4)}},
		{"fewer records than the reported total", []Page[int]{reported(5, 1, 2), reported(5, 3, 4)}},
		{"more records than the reported total", []Page[int]{reported(3, 1, 2), reported(3, 3, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WalkAll(context.Background(), 10, intID, func(_ context.Context, q PageQuery) (Page[int], error) {
				if q.Page > len(tc.pages) {
					return page(), nil
				}
				return tc.pages[q.Page-1], nil
			})
			wantKind(t, err, upstream.KindServer)
			if got != nil || !errors.Is(err, ErrInconsistentWalk) {
				t.Fatalf("got %v, %v; want no records and ErrInconsistentWalk", got, err)
			}
		})
	}
}

func TestWalkAllAcceptsCountsItCanReconcile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages []Page[int]
	}{
		{"per-page counts", []Page[int]{{Items: []int{1, 2}, Reported: 2}, {Items: []int{3}, Reported: 1}}},
		{"the collection total on every page", []Page[int]{{Items: []int{1, 2}, Reported: 3}, {Items: []int{3}, Reported: 3}}},
		{"no counts", []Page[int]{{Items: []int{1, 2}, Reported: -1}, {Items: []int{3}, Reported: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := WalkAll(context.Background(), 2, intID, func(_ context.Context, q PageQuery) (Page[int], error) {
				if q.Page > len(tc.pages) {
					return Page[int]{Reported: -1}, nil
				}
				return tc.pages[q.Page-1], nil
			})
			if err != nil || len(got) != 3 {
				t.Fatalf("got %v, %v; want 3 records", got, err)
			}
		})
	}
}

func TestWalkAllGivesUpOnEndlessUpstream(t *testing.T) {
	calls := 0
	_, err := WalkAll(context.Background(), 2, intID, func(_ context.Context, q PageQuery) (Page[int], error) {
		calls++
		return Page[int]{Items: []int{2 * q.Page, 2*q.Page + 1}, Reported: -1}, nil
	})
	wantKind(t, err, upstream.KindServer)
	if calls != MaxWalkPages {
		t.Fatalf("fetched %d pages, want the cap %d", calls, MaxWalkPages)
	}
}

func TestWalkAllPropagatesErrorsAndCancellation(t *testing.T) {
	boom := &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindServer}
	got, err := WalkAll(context.Background(), 1, intID, func(_ context.Context, q PageQuery) (Page[int], error) {
		if q.Page == 3 {
			return Page[int]{}, boom
		}
		return Page[int]{Items: []int{q.Page}, Reported: -1}, nil
	})
	if got != nil || err != boom {
		t.Fatalf("got %v, %v; want nil and fetch's error", got, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = WalkAll(ctx, 1, intID, func(_ context.Context, q PageQuery) (Page[int], error) {
		if q.Page == 2 {
			cancel()
		}
		return Page[int]{Items: []int{q.Page}, Reported: -1}, nil
	})
	wantKind(t, err, upstream.KindUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
}

func TestReportedCount(t *testing.T) {
	for msg, want := range map[string]int{
		"1 registro(s) encontrados":           1,
		"x registro(s) encontrados":           -1,
		"  120 registros encontrados":         120,
		"50 Registro(s) Encontrados":          50,
		"No se encontraron registros":         -1,
		"registro creado exitosamente":        -1,
		"":                                    -1,
		"99999999999 registro(s) encontrados": -1,
		"-3 registro(s) encontrados":          -1,
		"12 registro(s) encontrados en total": 12,
		"Se encontraron 3 registro(s)":        -1,
	} {
		if got := ReportedCount(msg); got != want {
			t.Errorf("ReportedCount(%q) = %d, want %d", msg, got, want)
		}
	}
}

func TestParseItemErrors(t *testing.T) {
	items, other := ParseItemErrors([]string{
		"Articulo 3: El campo codigo es obligatorio",
		"artículo 10:Ya existe un articulo con el codigo X",
		"Articulo 0: fuera de rango",
		"Error general",
	})
	if len(items) != 2 || items[0] != (ItemError{2, "El campo codigo es obligatorio"}) || items[1] != (ItemError{9, "Ya existe un articulo con el codigo X"}) {
		t.Fatalf("items = %+v", items)
	}
	if len(other) != 2 {
		t.Fatalf("other = %q", other)
	}
}

func TestRepairJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"a\": true\n\"b\": 1}", "{\"a\": true\n,\"b\": 1}"},
		{`{"a": [1, 2,], "b": {"c": "x",},}`, `{"a": [1, 2], "b": {"c": "x"}}`},
		{"[{\"a\":1}\n{\"a\":2}]", "[{\"a\":1}\n,{\"a\":2}]"},
		{`{"s": "keep, }{ \"as\" is,"}`, `{"s": "keep, }{ \"as\" is,"}`},
		{`{"n": -12.5e3, "m": null}`, `{"n": -12.5e3, "m": null}`},
	} {
		if got := string(repairJSON([]byte(tc.in))); got != tc.want {
			t.Errorf("repairJSON(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
