package catalog

import (
	"slices"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

func TestKeywords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a, b,,c ", []string{"a", "b", "c"}},
		{"", []string{}},
		{" , ,", []string{}},
		{"gas", []string{"gas"}},
		{"  estufa a gas , horno ", []string{"estufa a gas", "horno"}},
		{"a,a", []string{"a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Keywords(tt.in)
			if got == nil {
				t.Fatalf("Keywords(%q) = nil, want a non-nil slice", tt.in)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Keywords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSpecs(t *testing.T) {
	branches := NewIndex([]serpi.Sucursal{
		{ID: wire.NewInt(2), Descripcion: "Sede Medellín", NitTercero: "900", CodigoCiudad: "05001"},
		{ID: wire.NewInt(1), Descripcion: "Sede Bogotá", NitTercero: "800", CodigoCiudad: "11001"},
	}, BranchSpec)
	if got := branches.Find(Query[serpi.Sucursal]{Equal: map[string][]string{KeyNIT: {"900"}}}).IDs; !slices.Equal(got, []int64{2}) {
		t.Errorf("branches by nit = %v", got)
	}
	if got := branches.Find(Query[serpi.Sucursal]{Equal: map[string][]string{KeyCityCode: {"11001"}}}).IDs; !slices.Equal(got, []int64{1}) {
		t.Errorf("branches by city = %v", got)
	}
	if got := branches.Find(Query[serpi.Sucursal]{Search: "medellin"}).IDs; !slices.Equal(got, []int64{2}) {
		t.Errorf("branches by text = %v", got)
	}

	taxes := NewIndex([]serpi.Impuesto{{ID: wire.NewInt(5), Descripcion: "IVA 19%"}, {ID: wire.NewInt(3), Descripcion: "Retención"}}, TaxSpec)
	if got := taxes.Find(Query[serpi.Impuesto]{Search: "retencion"}).IDs; !slices.Equal(got, []int64{3}) {
		t.Errorf("taxes by text = %v", got)
	}

	articles := NewIndex([]serpi.Articulo{
		{ID: wire.NewInt(9), Codigo: "EST-01", Descripcion: "Estufa", PalabrasClave: "cocina, gas"},
		{ID: wire.NewInt(8), Codigo: "HOR-02", Descripcion: "Horno"},
	}, ArticleSpec)
	if got := articles.Find(Query[serpi.Articulo]{Equal: map[string][]string{KeyCode: {"HOR-02", "EST-01"}}}).IDs; !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("articles by code = %v", got)
	}
	if got := articles.Find(Query[serpi.Articulo]{Search: "gas estufa"}).IDs; !slices.Equal(got, []int64{9}) {
		t.Errorf("articles by keywords = %v", got)
	}
}
