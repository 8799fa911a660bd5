package server_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
)

type pageInfo struct {
	HasNextPage, HasPreviousPage bool
	StartCursor, EndCursor       *string
}

func TestCatalogNeedsAKeyWithScope(t *testing.T) {
	e := newEnv(t)
	fields := []string{
		`branches { totalCount }`, `taxes { totalCount }`, `articles { totalCount }`,
		`branch(id: "QnJhbmNoOjE=") { id }`, `tax(id: "VGF4OjE=") { id }`, `article(id: "QXJ0aWNsZTox") { id }`,
		`node(id: "VGF4OjE=") { id }`,
	}
	for _, f := range fields {
		t.Run(f, func(t *testing.T) {
			e.resetStats()
			e.do("{ "+f+" }", nil).wantCode(t, "UNAUTHENTICATED")
			e.do("{ "+f+" }", nil, key("not-a-key")).wantCode(t, "UNAUTHENTICATED")
			if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
				t.Errorf("refused query made %d SERPI calls", n)
			}
			r := e.do("{ "+f+" }", nil, key(testReadOnlyKey))
			if len(r.Errors) > 0 {
				t.Errorf("read-only key refused: %s", r.raw)
			}
		})
	}
}

func totalCalls(s simkit.Snapshot, prefix string) int64 {
	var n int64
	for k, v := range s.Calls {
		if strings.Contains(k, prefix) {
			n += v
		}
	}
	return n
}

func TestBranchesPaginateWithoutOverlap(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	var after any
	pages, total := 0, -1
	for {
		var out struct {
			Branches struct {
				TotalCount int
				Edges      []struct {
					Cursor string
					Node   struct {
						ID      string
						SerpiID int
					}
				}
				PageInfo pageInfo
			}
		}
		e.do(`query($after: String) { branches(first: 7, after: $after) {
		  totalCount edges { cursor node { id serpiId } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
			map[string]any{"after": after}, key(testKey)).ok(t, &out)
		c := out.Branches
		pages++
		if total == -1 {
			total = c.TotalCount
		} else if c.TotalCount != total {
			t.Fatalf("totalCount changed across pages: %d then %d", total, c.TotalCount)
		}
		prev := 0
		for _, edge := range c.Edges {
			if seen[edge.Node.ID] {
				t.Fatalf("branch %s on two pages", edge.Node.ID)
			}
			seen[edge.Node.ID] = true
			if edge.Node.SerpiID <= prev {
				t.Fatalf("page not in ascending id order")
			}
			prev = edge.Node.SerpiID
		}
		if (pages > 1) != c.PageInfo.HasPreviousPage {
			t.Fatalf("page %d: hasPreviousPage = %v", pages, c.PageInfo.HasPreviousPage)
		}
		if !c.PageInfo.HasNextPage {
			break
		}
		if len(c.Edges) != 7 || *c.PageInfo.EndCursor != c.Edges[6].Cursor {
			t.Fatalf("full page expected with endCursor = last cursor")
		}
		after = *c.PageInfo.EndCursor
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
	}
	if total != 120 || len(seen) != total {
		t.Fatalf("saw %d distinct branches over %d pages, totalCount %d, simulator has 120", len(seen), pages, total)
	}

	for _, bad := range []string{`first: 0`, `first: 101`, `after: "bm90LWEtY3Vyc29y"`, `after: "!!"`} {
		e.do("{ branches("+bad+") { totalCount } }", nil, key(testKey)).wantCode(t, "BAD_USER_INPUT")
	}
	// A tax cursor is not a branch cursor.
	var taxes struct{ Taxes struct{ PageInfo pageInfo } }
	e.do(`{ taxes(first: 1) { pageInfo { endCursor } } }`, nil, key(testKey)).ok(t, &taxes)
	e.do(fmt.Sprintf(`{ branches(after: %q) { totalCount } }`, *taxes.Taxes.PageInfo.EndCursor), nil, key(testKey)).wantCode(t, "BAD_USER_INPUT")
}

func TestCatalogFilters(t *testing.T) {
	e := newEnv(t)
	// Ground truth straight from the simulator through the client.
	cl := serpi.NewClient(e.upstream.URL)
	cred := serpi.Credential{SecretKey: simSecret, Token: simToken}
	ctx := t.Context()
	branches, err := serpi.WalkAll(ctx, 50, func(b serpi.Sucursal) int64 { return b.ID.Value }, func(ctx2 ctxT, q serpi.PageQuery) (serpi.Page[serpi.Sucursal], error) {
		return cl.SucursalesPage(ctx2, cred, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	articles, err := serpi.WalkAll(ctx, 50, func(a serpi.Articulo) int64 { return a.ID.Value }, func(ctx2 ctxT, q serpi.PageQuery) (serpi.Page[serpi.Articulo], error) {
		return cl.ArticulosPage(ctx2, cred, serpi.ArticuloQuery{PageQuery: q})
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(pred func(serpi.Sucursal) bool) int {
		n := 0
		for _, b := range branches {
			if pred(b) {
				n++
			}
		}
		return n
	}
	city := string(branches[0].CodigoCiudad)
	nit := "123456789"

	var out struct {
		ByNIT, ByCity, Both, Text struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					Description string
					City        struct{ Code string }
					ThirdParty  struct{ Nit string }
				}
			}
		}
	}
	word := strings.Fields(string(branches[3].Descripcion))[0]
	e.do(fmt.Sprintf(`{
	  byNIT: branches(first: 100, filter: {nit: %q}) { totalCount edges { node { thirdParty { nit } } } }
	  byCity: branches(first: 100, filter: {cityCode: %q}) { totalCount edges { node { city { code } } } }
	  both: branches(first: 100, filter: {nit: %q, cityCode: %q}) { totalCount }
	  text: branches(first: 100, filter: {search: %q}) { totalCount edges { node { description } } }
	}`, nit, city, nit, city, strings.ToUpper(word)), nil, key(testKey)).ok(t, &out)
	if want := count(func(b serpi.Sucursal) bool { return string(b.NitTercero) == nit }); out.ByNIT.TotalCount != want || want == 0 {
		t.Errorf("nit filter: %d, want %d", out.ByNIT.TotalCount, want)
	}
	if want := count(func(b serpi.Sucursal) bool { return string(b.CodigoCiudad) == city }); out.ByCity.TotalCount != want {
		t.Errorf("city filter: %d, want %d", out.ByCity.TotalCount, want)
	}
	if want := count(func(b serpi.Sucursal) bool { return string(b.CodigoCiudad) == city && string(b.NitTercero) == nit }); out.Both.TotalCount != want {
		t.Errorf("nit+city filter: %d, want %d", out.Both.TotalCount, want)
	}
	if out.Text.TotalCount == 0 {
		t.Errorf("search %q found nothing", word)
	}

	// Articles: code, codes, active, search; an explicit empty list selects nothing.
	a0, a1 := articles[0], articles[1]
	active := 0
	for _, a := range articles {
		if a.Activo {
			active++
		}
	}
	var arts struct {
		Code, Codes, Empty, Active, Inactive, Both struct {
			TotalCount int
			Edges      []struct{ Node struct{ Code string } }
		}
	}
	e.do(fmt.Sprintf(`{
	  code: articles(filter: {code: %q}) { totalCount edges { node { code } } }
	  codes: articles(filter: {codes: [%q, %q, "no-such-code"]}) { totalCount }
	  empty: articles(filter: {codes: []}) { totalCount }
	  active: articles(filter: {active: true}) { totalCount }
	  inactive: articles(filter: {active: false}) { totalCount }
	  both: articles(filter: {code: %q, codes: [%q]}) { totalCount }
	}`, a0.Codigo, a0.Codigo, a1.Codigo, a0.Codigo, a1.Codigo), nil, key(testKey)).ok(t, &arts)
	if arts.Code.TotalCount != 1 || arts.Code.Edges[0].Node.Code != string(a0.Codigo) {
		t.Errorf("code filter: %+v", arts.Code)
	}
	if arts.Codes.TotalCount != 2 || arts.Empty.TotalCount != 0 || arts.Both.TotalCount != 0 {
		t.Errorf("codes filters: codes %d empty %d both %d", arts.Codes.TotalCount, arts.Empty.TotalCount, arts.Both.TotalCount)
	}
	if arts.Active.TotalCount != active || arts.Inactive.TotalCount != len(articles)-active || active == len(articles) {
		t.Errorf("active filter: %d/%d, want %d/%d", arts.Active.TotalCount, arts.Inactive.TotalCount, active, len(articles)-active)
	}

	// Taxes by description, accent- and case-insensitive.
	var taxes struct {
		Taxes struct {
			Edges []struct {
				Node struct{ Description, Rate string }
			}
		}
	}
	e.do(`{ taxes(first: 100, filter: {search: "iva"}) { edges { node { description rate } } } }`, nil, key(testKey)).ok(t, &taxes)
	if len(taxes.Taxes.Edges) == 0 {
		t.Fatal("no IVA tax found")
	}
	for _, edge := range taxes.Taxes.Edges {
		if !strings.Contains(strings.ToLower(edge.Node.Description), "iva") {
			t.Errorf("search iva matched %q", edge.Node.Description)
		}
		if strings.ContainsAny(edge.Node.Rate, "eE") || edge.Node.Rate == "" {
			t.Errorf("rate %q is not an exact decimal string", edge.Node.Rate)
		}
	}
}

func TestCatalogLookupsByID(t *testing.T) {
	e := newEnv(t)
	gid := func(typ string, id int) string {
		return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s:%d", typ, id)))
	}
	var first struct {
		Branches struct {
			Edges []struct {
				Node struct {
					ID      string
					SerpiID int
				}
			}
		}
		Taxes struct {
			Edges []struct {
				Node struct {
					ID      string
					SerpiID int
				}
			}
		}
		Articles struct {
			Edges []struct {
				Node struct {
					ID      string
					SerpiID int
				}
			}
		}
	}
	e.do(`{ branches(first: 1) { edges { node { id serpiId } } } taxes(first: 1) { edges { node { id serpiId } } }
	        articles(first: 1) { edges { node { id serpiId } } } }`, nil, key(testKey)).ok(t, &first)
	b, tx, a := first.Branches.Edges[0].Node, first.Taxes.Edges[0].Node, first.Articles.Edges[0].Node
	if b.ID != gid("Branch", b.SerpiID) || tx.ID != gid("Tax", tx.SerpiID) || a.ID != gid("Article", a.SerpiID) {
		t.Fatalf("ids are not base64(Type:serpiId): %+v %+v %+v", b, tx, a)
	}

	var out struct {
		Branch, Tax, Article, Plain *struct{ ID string }
		NodeB, NodeT, NodeA         *struct{ ID string }
		Missing, WrongType          *struct{ ID string }
	}
	e.do(fmt.Sprintf(`{
	  branch(id: %q) { id } tax(id: %q) { id } article(id: %q) { id } plain: branch(id: "%d") { id }
	  nodeB: node(id: %q) { id } nodeT: node(id: %q) { id } nodeA: node(id: %q) { id }
	  missing: tax(id: %q) { id } wrongType: tax(id: %q) { id }
	}`, b.ID, tx.ID, a.ID, b.SerpiID, b.ID, tx.ID, a.ID, gid("Tax", 999999), b.ID), nil, key(testReadOnlyKey)).ok(t, &out)
	for name, got := range map[string]*struct{ ID string }{"branch": out.Branch, "tax": out.Tax, "article": out.Article, "plain": out.Plain, "nodeB": out.NodeB, "nodeT": out.NodeT, "nodeA": out.NodeA} {
		if got == nil {
			t.Errorf("%s not found", name)
		}
	}
	if out.Missing != nil || out.WrongType != nil {
		t.Errorf("missing/wrong-type ids resolved: %+v %+v", out.Missing, out.WrongType)
	}
	// Two operations, twelve reads over three collections: each collection
	// walked once (pages of 50 up to SERPI's empty page), then served from
	// the cache.
	calls, cfg := e.stats().Calls, e.sim.Serpi.Config()
	for p, n := range map[string]int{serpi.PathSucursales: cfg.Branches, serpi.PathImpuesto: cfg.Taxes, serpi.PathArticulo: cfg.Articles} {
		if want := int64((n+49)/50 + 1); calls["GET "+p] != want {
			t.Errorf("GET %s called %d times, want %d", p, calls["GET "+p], want)
		}
	}
	e.do(`{ tax(id: "@@@") { id } }`, nil, key(testKey)).wantCode(t, "BAD_USER_INPUT")
}

// SERPI refuses a token used by two calls at once; the gateway's
// serializer keeps concurrent operations from ever doing that.
func TestConcurrentCatalogQueriesNeverShareASerpiTokenAtOnce(t *testing.T) {
	e := newEnvWith(t, sim.Config{Latency: 3 * time.Millisecond, Serpi: serpi.SimConfig{Branches: 60, Taxes: 20, Articles: 40}})
	const clients = 24
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(`{ branches(first: 5) { totalCount } taxes(first: 5) { totalCount } articles(first: 5) { totalCount } }`, nil, key(testKey))
			if len(r.Errors) > 0 {
				errs <- fmt.Sprintf("client %d: %s", i, r.raw)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	s := e.stats()
	if s.ConcurrencyRejections != 0 || s.MaxConcurrentPerToken[simToken] != 1 {
		t.Fatalf("SERPI saw concurrent use of the token: rejections %d, max concurrent %d", s.ConcurrencyRejections, s.MaxConcurrentPerToken[simToken])
	}
}
