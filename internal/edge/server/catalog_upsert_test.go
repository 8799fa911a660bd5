package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/internal/catalog/catalogwrite"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

const upsertArticlesM = `mutation($in: [UpsertArticleInput!]!) { upsertArticles(input: $in) {
  requested created updated messages errors { index field message }
  results { index code status errors { index field message } article { ` + articleFields + ` reference brandId } } } }`

type upsertOut struct {
	Requested, Created, Updated int
	Messages                    []string
	Errors                      []struct {
		Index   *int
		Field   *string
		Message string
	}
	Results []struct {
		Index  int
		Code   *string
		Status string
		Errors []struct {
			Index   *int
			Field   *string
			Message string
		}
		Article *struct {
			articleOut
			Reference *string
			BrandID   *int
		}
	}
}

func (u upsertOut) statuses() []string {
	out := make([]string, len(u.Results))
	for i, r := range u.Results {
		out[i] = r.Status
	}
	return out
}

func getArticleCalls(e *env) int64 { return e.stats().Calls["GET "+serpi.PathArticulo] }

func TestUpsertArticlesCreatesNewCodesAndMergesExistingOnes(t *testing.T) {
	e := newEnv(t)
	c := readSimCatalog(t, e)
	existing := c.articles[7]
	e.resetStats()
	in := []any{
		// An existing code: only the description changes; the rest is kept.
		map[string]any{"code": string(existing.Codigo), "description": "CAMBIADO POR CODIGO"},
		articleInput("UPSERT-NEW"),
		// A new code without the fields a create requires: refused, not sent.
		map[string]any{"code": "UPSERT-INCOMPLETE", "description": "SIN MARCA"},
		// Null on a required field: refused whatever SERPI holds.
		map[string]any{"code": "UPSERT-NULL", "description": nil},
	}
	var out struct{ UpsertArticles upsertOut }
	e.do(upsertArticlesM, map[string]any{"in": in}, key(testKey)).ok(t, &out)
	u := out.UpsertArticles
	if got := u.statuses(); !slices.Equal(got, []string{"UPDATED", "CREATED", "REFUSED", "REFUSED"}) {
		t.Fatalf("statuses %v: %+v", got, u)
	}
	if u.Requested != 4 || u.Created != 1 || u.Updated != 1 || len(u.Messages) != 2 {
		t.Fatalf("counts: %+v", u)
	}
	up := u.Results[0].Article
	if up == nil || up.SerpiID != int(existing.ID.Value) || up.Description != "CAMBIADO POR CODIGO" ||
		up.Reference == nil || *up.Reference != string(existing.Referencia) || up.BrandID == nil || *up.BrandID != int(existing.IDMarca.Value) {
		t.Fatalf("updated article read back as %+v", up)
	}
	if created := u.Results[1].Article; created == nil || created.Code != "UPSERT-NEW" || created.SerpiID == 0 {
		t.Fatalf("created article read back as %+v", created)
	}
	var fields []string
	for _, e := range u.Results[2].Errors {
		fields = append(fields, *e.Field)
	}
	slices.Sort(fields)
	if want := []string{"input[2].accountingGroupId", "input[2].active", "input[2].brandId", "input[2].categoryId", "input[2].lineId", "input[2].presentationId", "input[2].unitOfMeasureId"}; !slices.Equal(fields, want) {
		t.Errorf("incomplete new code refused for %v, want %v", fields, want)
	}
	if errs := u.Results[3].Errors; len(errs) != 1 || *errs[0].Field != "input[3].description" || u.Results[3].Article != nil {
		t.Errorf("null description: %+v", u.Results[3])
	}

	// The fewest calls: a ?codigo= look-up per code that passed the
	// first checks (3), one POST, one PUT, a ?codigo= read-back per
	// article written (2).
	s := e.stats()
	if s.Calls["POST "+serpi.PathArticulo] != 1 || s.Calls["PUT "+serpi.PathArticulo] != 1 || writes(s) != 2 {
		t.Fatalf("want one bulk POST and one bulk PUT, got %v", s.Calls)
	}
	if n := getArticleCalls(e); n != 3+2 {
		t.Fatalf("%d article GETs, want 5 (3 look-ups, 2 read-backs)", n)
	}

	// The reads see the write at once (the cached collection was
	// invalidated).
	var check struct {
		Articles struct {
			Edges []struct {
				Node struct{ Code, Description string }
			}
		}
	}
	e.do(fmt.Sprintf(`{ articles(filter: {codes: [%q, "UPSERT-NEW", "UPSERT-INCOMPLETE"]}, orderBy: {field: CODE}) { edges { node { code description } } } }`, existing.Codigo), nil, key(testKey)).ok(t, &check)
	if len(check.Articles.Edges) != 2 || check.Articles.Edges[0].Node.Description != "CAMBIADO POR CODIGO" && check.Articles.Edges[1].Node.Description != "CAMBIADO POR CODIGO" {
		t.Fatalf("reads after the upsert: %+v", check.Articles.Edges)
	}

	// The same call again is safe: the code it created is now updated.
	var again struct{ UpsertArticles upsertOut }
	e.do(upsertArticlesM, map[string]any{"in": in[:2]}, key(testKey)).ok(t, &again)
	if got := again.UpsertArticles.statuses(); !slices.Equal(got, []string{"UPDATED", "UPDATED"}) || again.UpsertArticles.Created != 0 {
		t.Fatalf("second run: %v %+v", got, again.UpsertArticles)
	}
	if a := again.UpsertArticles.Results[1].Article; a == nil || a.SerpiID != u.Results[1].Article.SerpiID {
		t.Fatalf("second run updated %+v, want article %d", a, u.Results[1].Article.SerpiID)
	}
}

// More codes than MaxCodeReadBacks are looked up, and read back, with one
// walk of the collection each instead of one GET per code.
func TestLargeUpsertWalksOnceBeforeAndOnceAfter(t *testing.T) {
	e := newEnv(t) // 150 articles: a walk is 4 GETs at the default page size
	c := readSimCatalog(t, e)
	var in []any
	for i := range catalogwrite.MaxCodeReadBacks + 3 {
		if i%2 == 0 {
			in = append(in, map[string]any{"code": string(c.articles[20+i].Codigo), "cost": "1234.5"})
		} else {
			in = append(in, articleInput(fmt.Sprintf("UPSERT-WALK-%d", i)))
		}
	}
	e.resetStats()
	var out struct{ UpsertArticles upsertOut }
	e.do(upsertArticlesM, map[string]any{"in": in}, key(testKey)).ok(t, &out)
	u := out.UpsertArticles
	if u.Created != 4 || u.Updated != 4 {
		t.Fatalf("created %d updated %d: %v", u.Created, u.Updated, u.statuses())
	}
	for i, r := range u.Results {
		want := "CREATED"
		if i%2 == 0 {
			want = "UPDATED"
		}
		if r.Status != want || r.Article == nil || r.Article.Code != *r.Code {
			t.Fatalf("item %d: %+v, want %s with its article", i, r, want)
		}
		if want == "UPDATED" && (r.Article.Cost == nil || *r.Article.Cost != "1234.50000" && *r.Article.Cost != "1234.5") {
			t.Errorf("item %d: cost %v", i, r.Article.Cost)
		}
	}
	walk := int64(150/serpi.DefaultPageSize + 1 + 1) // full pages, the short one, the empty one that ends it
	if n := getArticleCalls(e); n > 2*walk {
		t.Fatalf("%d article GETs for %d items, want two walks (at most %d)", n, len(in), 2*walk)
	}
	if s := e.stats(); writes(s) != 2 {
		t.Fatalf("want one POST and one PUT, got %v", s.Calls)
	}
}

func TestUpsertRefusalsNeverReachSerpi(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct {
		in     []any
		fields []string
	}{
		"no code":         {[]any{map[string]any{"description": "X"}}, []string{"input[0].code"}},
		"invalid value":   {[]any{map[string]any{"code": "A", "cost": "-1"}}, []string{"input[0].cost"}},
		"duplicate codes": {[]any{articleInput("DUP"), articleInput(" DUP ")}, []string{"input[0].code", "input[1].code"}},
		"empty list":      {[]any{}, []string{"input"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e.resetStats()
			r := e.do(upsertArticlesM, map[string]any{"in": tc.in}, key(testKey))
			if got := fieldsOf(t, r); !slices.Equal(got, tc.fields) {
				t.Fatalf("fields %v, want %v: %s", got, tc.fields, r.raw)
			}
			if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
				t.Fatalf("%d SERPI calls", n)
			}
		})
	}
	// catalog:read is not enough.
	e.do(upsertArticlesM, map[string]any{"in": []any{articleInput("RO")}}, key(testReadOnlyKey)).wantCode(t, "FORBIDDEN")
}

// When the PUT gets no clear answer after the POST was applied, the
// created items are reported as such and the updated ones as uncertain;
// when the only write gets none, the call fails saying so.
func TestUpsertReportsAWriteWithoutAnswerPerItem(t *testing.T) {
	e := newEnv(t)
	c := readSimCatalog(t, e)
	failPut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		e.sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(failPut.Close)
	h := newGateway(t, e, func(cfg *server.Config) { cfg.SerpiURL = failPut.URL })

	existing := string(c.articles[3].Codigo)
	r := post(t, h, upsertArticlesM, map[string]any{"in": []any{
		articleInput("UPSERT-OK"), map[string]any{"code": existing, "description": "NUNCA"},
	}}, key(testKey))
	var out struct{ UpsertArticles upsertOut }
	r.ok(t, &out)
	u := out.UpsertArticles
	if got := u.statuses(); !slices.Equal(got, []string{"CREATED", "UNCERTAIN"}) || u.Created != 1 || u.Updated != 0 {
		t.Fatalf("statuses %v: %+v", got, u)
	}
	if errs := u.Results[1].Errors; len(errs) != 1 || !strings.Contains(errs[0].Message, "may or may not have been applied") {
		t.Fatalf("uncertain item's errors: %+v", errs)
	}

	only := post(t, h, upsertArticlesM, map[string]any{"in": []any{map[string]any{"code": existing, "description": "NUNCA"}}}, key(testKey))
	if got := only.wantCode(t, "UPSTREAM_UNAVAILABLE", "serpi"); !strings.Contains(got.Message, "may or may not have been applied") {
		t.Fatalf("message %q", got.Message)
	}
}
