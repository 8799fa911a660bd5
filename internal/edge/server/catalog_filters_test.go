package server_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
)

// simCatalog is the simulator's catalog read straight through the client:
// the ground truth the gateway's answers are compared with.
type simCatalog struct {
	branches []serpi.Sucursal
	taxes    []serpi.Impuesto
	articles []serpi.Articulo
}

func readSimCatalog(t *testing.T, e *env) simCatalog {
	t.Helper()
	cl := serpi.NewClient(e.upstream.URL)
	cred := serpi.Credential{SecretKey: simSecret, Token: simToken}
	var c simCatalog
	var err error
	c.branches, err = serpi.WalkAll(t.Context(), 50, func(b serpi.Sucursal) int64 { return b.ID.Value }, func(ctx ctxT, q serpi.PageQuery) (serpi.Page[serpi.Sucursal], error) {
		return cl.SucursalesPage(ctx, cred, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.taxes, err = serpi.WalkAll(t.Context(), 50, func(x serpi.Impuesto) int64 { return x.ID.Value }, func(ctx ctxT, q serpi.PageQuery) (serpi.Page[serpi.Impuesto], error) {
		return cl.ImpuestosPage(ctx, cred, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.articles, err = serpi.WalkAll(t.Context(), 50, func(a serpi.Articulo) int64 { return a.ID.Value }, func(ctx ctxT, q serpi.PageQuery) (serpi.Page[serpi.Articulo], error) {
		return cl.ArticulosPage(ctx, cred, serpi.ArticuloQuery{PageQuery: q})
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countOf[T any](items []T, pred func(T) bool) int {
	n := 0
	for _, it := range items {
		if pred(it) {
			n++
		}
	}
	return n
}

// warmCatalog loads the three collections into the gateway's index.
func warmCatalog(t *testing.T, e *env) {
	t.Helper()
	var out any
	e.do(`{ branches(first: 1) { totalCount } taxes(first: 1) { totalCount } articles(first: 1) { totalCount } }`, nil, key(testKey)).ok(t, &out)
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not a decimal", s)
	}
	return r
}

func TestCatalogIntegratorFiltersAreAnsweredFromTheIndex(t *testing.T) {
	e := newEnv(t)
	c := readSimCatalog(t, e)
	warmCatalog(t, e)
	e.resetStats()

	// Branches: owner, seller and the two address flags.
	b0 := c.branches[5]
	tp, seller := b0.IDTercero.Value, b0.IDVendedor.Value
	var br struct {
		Owner, Seller, Billing, NotShipping, All struct{ TotalCount int }
	}
	e.do(fmt.Sprintf(`{
	  owner: branches(filter: {thirdPartyId: %d}) { totalCount }
	  seller: branches(filter: {sellerId: %d}) { totalCount }
	  billing: branches(filter: {isBillingAddress: true}) { totalCount }
	  notShipping: branches(filter: {isShippingAddress: false}) { totalCount }
	  all: branches(filter: {thirdPartyId: %d, sellerId: %d, isBillingAddress: %v, isShippingAddress: %v}) { totalCount }
	}`, tp, seller, tp, seller, bool(b0.EsDireccionCobro), bool(b0.EsDireccionDespacho)), nil, key(testKey)).ok(t, &br)
	wantBranches := map[string][2]int{
		"thirdPartyId": {br.Owner.TotalCount, countOf(c.branches, func(b serpi.Sucursal) bool { return b.IDTercero.Value == tp })},
		"sellerId":     {br.Seller.TotalCount, countOf(c.branches, func(b serpi.Sucursal) bool { return b.IDVendedor.Value == seller })},
		"billing":      {br.Billing.TotalCount, countOf(c.branches, func(b serpi.Sucursal) bool { return bool(b.EsDireccionCobro) })},
		"notShipping":  {br.NotShipping.TotalCount, countOf(c.branches, func(b serpi.Sucursal) bool { return !bool(b.EsDireccionDespacho) })},
		"all": {br.All.TotalCount, countOf(c.branches, func(b serpi.Sucursal) bool {
			return b.IDTercero.Value == tp && b.IDVendedor.Value == seller && b.EsDireccionCobro == b0.EsDireccionCobro && b.EsDireccionDespacho == b0.EsDireccionDespacho
		})},
	}
	for name, got := range wantBranches {
		if got[0] != got[1] || got[1] == 0 || got[1] == len(c.branches) && name != "all" {
			t.Errorf("branches by %s: %d, want %d (of %d)", name, got[0], got[1], len(c.branches))
		}
	}

	// Taxes: what they apply to, and a rate range compared by value.
	var tx struct {
		Sales, Range, Point struct {
			TotalCount int
			Edges      []struct{ Node struct{ Rate string } }
		}
	}
	e.do(`{
	  sales: taxes(first: 100, filter: {appliesTo: 2}) { totalCount }
	  range: taxes(first: 100, filter: {rateMin: "1", rateMax: 10.5}) { totalCount edges { node { rate } } }
	  point: taxes(first: 100, filter: {rateMin: "19.000", rateMax: "19"}) { totalCount }
	}`, nil, key(testKey)).ok(t, &tx)
	lo, hi, nineteen := rat(t, "1"), rat(t, "10.5"), rat(t, "19")
	if want := countOf(c.taxes, func(x serpi.Impuesto) bool { return x.Aplica.Value == 2 }); tx.Sales.TotalCount != want || want == 0 || want == len(c.taxes) {
		t.Errorf("taxes appliesTo 2: %d, want %d", tx.Sales.TotalCount, want)
	}
	inRange := func(x serpi.Impuesto) bool { r := rat(t, string(x.Valor)); return r.Cmp(lo) >= 0 && r.Cmp(hi) <= 0 }
	if want := countOf(c.taxes, inRange); tx.Range.TotalCount != want || want == 0 || want == len(c.taxes) {
		t.Errorf("taxes with a rate from 1 to 10.5: %d, want %d", tx.Range.TotalCount, want)
	}
	for _, edge := range tx.Range.Edges {
		if r := rat(t, edge.Node.Rate); r.Cmp(lo) < 0 || r.Cmp(hi) > 0 {
			t.Errorf("rate %s outside [1, 10.5]", edge.Node.Rate)
		}
	}
	if want := countOf(c.taxes, func(x serpi.Impuesto) bool { return rat(t, string(x.Valor)).Cmp(nineteen) == 0 }); tx.Point.TotalCount != want || want == 0 {
		t.Errorf("taxes at exactly 19%%: %d, want %d", tx.Point.TotalCount, want)
	}

	// Articles: barcode, reference, line, category, brand, keyword, custom field.
	a := c.articles[10]
	var fields map[string]any
	if err := json.Unmarshal(a.CamposPersonalizados, &fields); err != nil || fields["COLOR"] == nil {
		t.Fatalf("article %d has no COLOR custom field: %s", a.ID.Value, a.CamposPersonalizados)
	}
	color := fields["COLOR"].(string)
	garantia := fmt.Sprint(fields["GARANTIA_MESES"])
	kw := strings.Split(string(a.PalabrasClave), ",")[0]
	var ar struct {
		Barcode, Reference, Line, Category, Brand, Keyword, Color, Garantia, Combined struct {
			TotalCount int
			Edges      []struct{ Node struct{ SerpiID int } }
		}
	}
	e.do(fmt.Sprintf(`{
	  barcode: articles(filter: {barcode: %q}) { totalCount edges { node { serpiId } } }
	  reference: articles(filter: {reference: %q}) { totalCount edges { node { serpiId } } }
	  line: articles(filter: {lineId: %d}) { totalCount }
	  category: articles(filter: {categoryId: %d}) { totalCount }
	  brand: articles(filter: {brandId: %d}) { totalCount }
	  keyword: articles(filter: {keyword: %q}) { totalCount }
	  color: articles(filter: {customField: {key: "COLOR", value: %q}}) { totalCount }
	  garantia: articles(filter: {customField: {key: "GARANTIA_MESES", value: %q}}) { totalCount }
	  combined: articles(filter: {brandId: %d, customField: {key: "COLOR", value: %q}, active: %v}) { totalCount }
	}`, a.Barras, a.Referencia, a.IDLinea.Value, a.IDCategoria.Value, a.IDMarca.Value, strings.ToUpper(kw), color, garantia,
		a.IDMarca.Value, color, bool(a.Activo)), nil, key(testKey)).ok(t, &ar)
	custom := func(x serpi.Articulo, name, value string) bool {
		var m map[string]any
		_ = json.Unmarshal(x.CamposPersonalizados, &m)
		return m[name] != nil && fmt.Sprint(m[name]) == value
	}
	hasKeyword := func(x serpi.Articulo) bool {
		return slices.ContainsFunc(strings.Split(string(x.PalabrasClave), ","), func(w string) bool { return strings.EqualFold(strings.TrimSpace(w), kw) })
	}
	checks := []struct {
		name      string
		got       int
		pred      func(serpi.Articulo) bool
		selective bool
	}{
		{"barcode", ar.Barcode.TotalCount, func(x serpi.Articulo) bool { return x.Barras == a.Barras }, true},
		{"reference", ar.Reference.TotalCount, func(x serpi.Articulo) bool { return x.Referencia == a.Referencia }, true},
		{"lineId", ar.Line.TotalCount, func(x serpi.Articulo) bool { return x.IDLinea.Value == a.IDLinea.Value }, true},
		{"categoryId", ar.Category.TotalCount, func(x serpi.Articulo) bool { return x.IDCategoria.Value == a.IDCategoria.Value }, true},
		{"brandId", ar.Brand.TotalCount, func(x serpi.Articulo) bool { return x.IDMarca.Value == a.IDMarca.Value }, true},
		{"keyword", ar.Keyword.TotalCount, hasKeyword, true},
		{"customField COLOR", ar.Color.TotalCount, func(x serpi.Articulo) bool { return custom(x, "COLOR", color) }, true},
		{"customField GARANTIA_MESES (a number)", ar.Garantia.TotalCount, func(x serpi.Articulo) bool { return custom(x, "GARANTIA_MESES", garantia) }, true},
		{"combined", ar.Combined.TotalCount, func(x serpi.Articulo) bool {
			return x.IDMarca.Value == a.IDMarca.Value && custom(x, "COLOR", color) && x.Activo == a.Activo
		}, false},
	}
	for _, ck := range checks {
		want := countOf(c.articles, ck.pred)
		if ck.got != want || want == 0 || ck.selective && want == len(c.articles) {
			t.Errorf("articles by %s: %d, want %d (of %d)", ck.name, ck.got, want, len(c.articles))
		}
	}
	if len(ar.Barcode.Edges) == 0 || ar.Barcode.Edges[0].Node.SerpiID != int(a.ID.Value) {
		t.Errorf("barcode %s found %+v, want article %d", a.Barras, ar.Barcode.Edges, a.ID.Value)
	}

	if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
		t.Fatalf("filters over loaded collections made %d SERPI calls: %v", n, e.stats().Calls)
	}
}

// articleEdge is an article connection's edge as these tests read it.
type articleEdge struct {
	Cursor string
	Node   struct {
		SerpiID     int
		Code        string
		Description string
		Cost        *string
	}
}

type articlePage struct {
	Articles struct {
		TotalCount int
		Edges      []articleEdge
		PageInfo   pageInfo
	}
}

func TestCatalogSortsAndPagesBackwardsFromTheIndex(t *testing.T) {
	e := newEnv(t)
	c := readSimCatalog(t, e)
	warmCatalog(t, e)
	e.resetStats()

	// Ground truth: descriptions compared case-insensitively (the
	// simulator's are ASCII), ties by id in the same direction; costs by
	// value (none is 0).
	type orderCase struct {
		orderBy string
		cmp     func(a, b serpi.Articulo) int
	}
	byID := func(a, b serpi.Articulo) int { return cmp.Compare(a.ID.Value, b.ID.Value) }
	cost := func(a serpi.Articulo) *big.Rat {
		if a.Costo == "" {
			return new(big.Rat)
		}
		return rat(t, string(a.Costo))
	}
	cases := []orderCase{
		{`{field: DESCRIPTION}`, func(a, b serpi.Articulo) int {
			return cmp.Or(strings.Compare(strings.ToLower(strings.TrimSpace(string(a.Descripcion))), strings.ToLower(strings.TrimSpace(string(b.Descripcion)))), byID(a, b))
		}},
		{`{field: COST, direction: DESC}`, func(a, b serpi.Articulo) int { return -cmp.Or(cost(a).Cmp(cost(b)), byID(a, b)) }},
		{`{field: ID, direction: DESC}`, func(a, b serpi.Articulo) int { return -byID(a, b) }},
		{`{field: CODE, direction: ASC}`, func(a, b serpi.Articulo) int {
			return cmp.Or(strings.Compare(strings.ToLower(string(a.Codigo)), strings.ToLower(string(b.Codigo))), byID(a, b))
		}},
	}
	for _, oc := range cases {
		t.Run(oc.orderBy, func(t *testing.T) {
			want := slices.Clone(c.articles)
			slices.SortFunc(want, oc.cmp)
			wantIDs := make([]int, len(want))
			for i, a := range want {
				wantIDs[i] = int(a.ID.Value)
			}
			q := `query($first: Int, $after: String, $last: Int, $before: String) {
			  articles(first: $first, after: $after, last: $last, before: $before, orderBy: ` + oc.orderBy + `) {
			    totalCount edges { cursor node { serpiId code description cost } }
			    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

			// Forwards, 40 at a time.
			var forward []int
			vars := map[string]any{"first": 40}
			for pages := 0; ; pages++ {
				var p articlePage
				e.do(q, vars, key(testKey)).ok(t, &p)
				for _, edge := range p.Articles.Edges {
					forward = append(forward, edge.Node.SerpiID)
				}
				if (pages > 0) != p.Articles.PageInfo.HasPreviousPage {
					t.Fatalf("forward page %d: hasPreviousPage %v", pages, p.Articles.PageInfo.HasPreviousPage)
				}
				if !p.Articles.PageInfo.HasNextPage || pages > 10 {
					break
				}
				vars = map[string]any{"first": 40, "after": *p.Articles.PageInfo.EndCursor}
			}
			// Backwards, 33 at a time, from the end.
			var backward []int
			var firstPage articlePage
			vars = map[string]any{"last": 33}
			for pages := 0; ; pages++ {
				var p articlePage
				e.do(q, vars, key(testKey)).ok(t, &p)
				ids := make([]int, len(p.Articles.Edges))
				for i, edge := range p.Articles.Edges {
					ids[i] = edge.Node.SerpiID
				}
				backward = append(ids, backward...)
				if (pages > 0) != p.Articles.PageInfo.HasNextPage {
					t.Fatalf("backward page %d: hasNextPage %v", pages, p.Articles.PageInfo.HasNextPage)
				}
				if !p.Articles.PageInfo.HasPreviousPage || pages > 10 {
					firstPage = p
					break
				}
				vars = map[string]any{"last": 33, "before": *p.Articles.PageInfo.StartCursor}
			}
			if !slices.Equal(forward, wantIDs) || !slices.Equal(backward, wantIDs) {
				t.Fatalf("order %s:\n forward  %v\n backward %v\n want     %v", oc.orderBy, forward, backward, wantIDs)
			}
			// A cursor of this order read forwards again from a backward page.
			var again articlePage
			e.do(q, map[string]any{"first": 2, "after": firstPage.Articles.Edges[0].Cursor}, key(testKey)).ok(t, &again)
			if len(again.Articles.Edges) != 2 || again.Articles.Edges[0].Node.SerpiID != wantIDs[1] {
				t.Fatalf("after the first edge: %+v, want from %d", again.Articles.Edges, wantIDs[1])
			}
		})
	}
	if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
		t.Fatalf("sorting and paging loaded collections made %d SERPI calls: %v", n, e.stats().Calls)
	}
}

func TestCatalogCursorsBelongToTheirOrder(t *testing.T) {
	e := newEnv(t)
	var byCode, byID articlePage
	e.do(`{ articles(first: 2, orderBy: {field: CODE}) { edges { cursor } pageInfo { endCursor } } }`, nil, key(testKey)).ok(t, &byCode)
	e.do(`{ articles(first: 2) { edges { cursor } pageInfo { endCursor } } }`, nil, key(testKey)).ok(t, &byID)
	codeCursor, idCursor := *byCode.Articles.PageInfo.EndCursor, *byID.Articles.PageInfo.EndCursor
	if strings.Contains(codeCursor, "code") || codeCursor == idCursor {
		t.Fatalf("cursors are not opaque or not distinct: %q, %q", codeCursor, idCursor)
	}
	refused := []string{
		fmt.Sprintf(`articles(after: %q) { totalCount }`, codeCursor),                                           // code order read in id order
		fmt.Sprintf(`articles(before: %q, orderBy: {field: CODE, direction: DESC}) { totalCount }`, codeCursor), // other direction
		fmt.Sprintf(`articles(after: %q, orderBy: {field: DESCRIPTION}) { totalCount }`, idCursor),
		fmt.Sprintf(`branches(after: %q, orderBy: {field: CODE}) { totalCount }`, codeCursor), // another connection
		`articles(first: 1, last: 1) { totalCount }`,
		`articles(last: 0) { totalCount }`,
		`articles(last: 101) { totalCount }`,
		`taxes(before: "!!") { totalCount }`,
	}
	for _, q := range refused {
		e.resetStats()
		e.do("{ "+q+" }", nil, key(testKey)).wantCode(t, "BAD_USER_INPUT")
		if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
			t.Errorf("%s: refused query made %d SERPI calls", q, n)
		}
	}
	// The same cursor in its own order works, and the default order's
	// cursors keep their form (cursors handed out before orderBy existed).
	var next articlePage
	e.do(fmt.Sprintf(`{ articles(first: 1, after: %q, orderBy: {field: CODE, direction: ASC}) { edges { cursor } } }`, codeCursor), nil, key(testKey)).ok(t, &next)
	e.do(fmt.Sprintf(`{ articles(first: 1, after: %q, orderBy: {field: ID}) { edges { cursor } } }`, idCursor), nil, key(testKey)).ok(t, &next)
}

func TestCatalogFilterInputsAreBounded(t *testing.T) {
	e := newEnv(t)
	long51, long201 := strings.Repeat("x", 51), strings.Repeat("é", 201)
	refused := map[string]string{
		`articles(filter: {barcode: "` + long51 + `"}) { totalCount }`:                             "filter.barcode",
		`articles(filter: {reference: "` + long51 + `"}) { totalCount }`:                           "filter.reference",
		`articles(filter: {keyword: "` + long51 + `"}) { totalCount }`:                             "filter.keyword",
		`articles(filter: {code: "` + long51 + `"}) { totalCount }`:                                "filter.code",
		`articles(filter: {codes: ["a", "` + long51 + `"]}) { totalCount }`:                        "filter.codes[1]",
		`articles(filter: {search: "` + long201 + `"}) { totalCount }`:                             "filter.search",
		`articles(filter: {customField: {key: "", value: "x"}}) { totalCount }`:                    "filter.customField.key",
		`articles(filter: {customField: {key: "` + long51 + `", value: "x"}}) { totalCount }`:      "filter.customField.key",
		`articles(filter: {customField: {key: "COLOR", value: "` + long201 + `"}}) { totalCount }`: "filter.customField.value",
		`branches(filter: {nit: "` + long51 + `"}) { totalCount }`:                                 "filter.nit",
		`branches(filter: {cityCode: "` + long51 + `"}) { totalCount }`:                            "filter.cityCode",
		`branches(filter: {search: "` + long201 + `"}) { totalCount }`:                             "filter.search",
		`taxes(filter: {search: "` + long201 + `"}) { totalCount }`:                                "filter.search",
		`taxes(filter: {rateMin: "10", rateMax: "9.99999"}) { totalCount }`:                        "filter.rateMax",
	}
	for q, field := range refused {
		e.resetStats()
		got := e.do("{ "+q+" }", nil, key(testKey)).wantCode(t, "BAD_USER_INPUT")
		if got.Extensions["field"] != field {
			t.Errorf("%.60s: field %v, want %s", q, got.Extensions["field"], field)
		}
		if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
			t.Errorf("%.60s: refused query made %d SERPI calls", q, n)
		}
	}
	// At the bounds: accepted.
	var out any
	e.do(`{ articles(filter: {barcode: "`+strings.Repeat("x", 50)+`", search: "`+strings.Repeat("é", 200)+`"}) { totalCount } }`, nil, key(testKey)).ok(t, &out)
}
