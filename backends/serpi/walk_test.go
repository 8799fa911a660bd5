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

func TestWalkAllStopsOnShortOrEmptyPage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total int
		size  int
		calls int
	}{
		{"short last page", 23, 10, 3},
		{"exact multiple ends on empty page", 20, 10, 3},
		{"nothing", 0, 10, 1},
		{"default size", 120, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got, err := WalkAll(context.Background(), tc.size, func(_ context.Context, q PageQuery) ([]int, error) {
				calls++
				var page []int
				for i := (q.Page - 1) * q.Limit; i < min(q.Page*q.Limit, tc.total); i++ {
					page = append(page, i)
				}
				return page, nil
			})
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

func TestWalkAllGivesUpOnEndlessUpstream(t *testing.T) {
	calls := 0
	_, err := WalkAll(context.Background(), 2, func(context.Context, PageQuery) ([]int, error) {
		calls++
		return []int{1, 2}, nil
	})
	wantKind(t, err, upstream.KindServer)
	if calls != MaxWalkPages {
		t.Fatalf("fetched %d pages, want the cap %d", calls, MaxWalkPages)
	}
}

func TestWalkAllPropagatesErrorsAndCancellation(t *testing.T) {
	boom := &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindServer}
	got, err := WalkAll(context.Background(), 1, func(_ context.Context, q PageQuery) ([]int, error) {
		if q.Page == 3 {
			return nil, boom
		}
		return []int{q.Page}, nil
	})
	if got != nil || err != boom {
		t.Fatalf("got %v, %v; want nil and fetch's error", got, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = WalkAll(ctx, 1, func(_ context.Context, q PageQuery) ([]int, error) {
		if q.Page == 2 {
			cancel()
		}
		return []int{q.Page}, nil
	})
	wantKind(t, err, upstream.KindUnavailable)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
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
