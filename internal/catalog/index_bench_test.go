package catalog

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

func benchArticles(n int) []serpi.Articulo {
	out := make([]serpi.Articulo, n)
	for i := range out {
		out[i] = serpi.Articulo{
			ID: wire.NewInt(int64(i + 1)), Codigo: wire.Text(fmt.Sprintf("ART-%06d", i)), Referencia: wire.Text(fmt.Sprintf("REF-%04d", i%9973)),
			Barras: wire.Text(fmt.Sprintf("770%010d", i*7919)), Descripcion: wire.Text(fmt.Sprintf("NEVERA Ñ %d ACERO INOXIDABLE", i)),
			IDLinea: wire.NewInt(int64(i % 12)), IDCategoria: wire.NewInt(int64(i % 30)), IDMarca: wire.NewInt(int64(i % 8)),
			Costo: wire.Decimal(fmt.Sprintf("%d.%05d", i%100000, i%7)), PalabrasClave: "cocina,hogar,acero",
			CamposPersonalizados: json.RawMessage(fmt.Sprintf(`{"COLOR":"GRIS","GARANTIA_MESES":%d}`, 6*(i%3+1))),
		}
	}
	return out
}

// BenchmarkNewArticleIndex measures building the article index with every
// key and sort field, against the keys the index had before integrators'
// filters and sorting (code only, no sorts): the extra work is paid once
// per collection version, not per request.
func BenchmarkNewArticleIndex(b *testing.B) {
	items := benchArticles(10_000)
	before := ArticleSpec
	before.Keys = map[string]func(serpi.Articulo) []string{KeyCode: ArticleSpec.Keys[KeyCode]}
	before.Sort = nil
	for name, spec := range map[string]Spec[serpi.Articulo]{"all": ArticleSpec, "codeOnly": before} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				NewIndex(items, spec)
			}
		})
	}
}

// BenchmarkSortedPage measures one sorted, filtered page from a built
// index: the per-request work.
func BenchmarkSortedPage(b *testing.B) {
	ix := NewIndex(benchArticles(10_000), ArticleSpec)
	first := 20
	for b.Loop() {
		ix.Find(Query[serpi.Articulo]{Equal: map[string][]string{KeyBrandID: {"3"}}, Order: Order{Field: SortDescription, Desc: true}}).
			Window(Window{First: &first})
	}
}
