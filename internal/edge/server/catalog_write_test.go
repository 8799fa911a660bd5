package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/catalog/catalogwrite"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

const (
	createTaxMutation = `mutation($in: CreateTaxInput!) { createTax(input: $in) {
	  message tax { id serpiId description rate appliesTo base accountId refundAccountId bonusAccountId } } }`
	updateTaxMutation = `mutation($in: UpdateTaxInput!) { updateTax(input: $in) {
	  message tax { id serpiId description rate appliesTo base accountId refundAccountId bonusAccountId } } }`
	branchFields         = `id serpiId code reference description address address2 phone mobile city { id code } department { id code } country { id code } thirdParty { id nit } sellerId collectorId isBillingAddress isShippingAddress`
	createBranchMutation = `mutation($in: CreateBranchInput!) { createBranch(input: $in) { message branch { ` + branchFields + ` } } }`
	updateBranchMutation = `mutation($in: UpdateBranchInput!) { updateBranch(input: $in) { message branch { ` + branchFields + ` } } }`
	articleFields        = `id serpiId code description active cost keywords customFields planningType maxDays`
	bulkFields           = `requested created updated message errors { index field message } articles { ` + articleFields + ` }`
	createArticlesM      = `mutation($in: [ArticleInput!]!) { createArticles(input: $in) { ` + bulkFields + ` } }`
	updateArticlesM      = `mutation($in: [UpdateArticleInput!]!) { updateArticles(input: $in) { ` + bulkFields + ` } }`
)

type taxOut struct {
	ID, Description, Rate, Base                string
	SerpiID, AppliesTo                         int
	AccountID, RefundAccountID, BonusAccountID *int
}

type branchOut struct {
	ID, Description, Address string
	SerpiID                  int
	Code, Reference, Phone   *string
	City                     struct{ ID int }
	ThirdParty               struct {
		ID  int
		Nit string
	}
	SellerID                            int
	CollectorID                         *int
	IsBillingAddress, IsShippingAddress bool
}

type articleOut struct {
	ID, Code, Description string
	SerpiID               int
	Active                bool
	Cost                  *string
	Keywords              []string
	CustomFields          map[string]any
	PlanningType          *string
	MaxDays               *int
}

type bulkOut struct {
	Requested, Created, Updated int
	Message                     *string
	Errors                      []struct {
		Index   *int
		Field   *string
		Message string
	}
	Articles []articleOut
}

func taxInput(desc string) map[string]any {
	return map[string]any{"description": desc, "rate": "7.50", "appliesTo": 1, "base": "1000", "accountId": 2659, "bonusAccountId": 2365}
}

func branchInput(code string) map[string]any {
	return map[string]any{
		"thirdPartyId": 1804, "thirdPartyNit": "900985549", "code": code, "description": "BODEGA GATEWAY",
		"address": "cra 22 # 4-44", "phone": "6045551234", "cityId": 5001, "cityCode": "05001", "departmentId": 5,
		"departmentCode": "05", "countryId": 1, "countryCode": "57", "sellerId": 3418, "isBillingAddress": true, "isShippingAddress": false,
	}
}

func articleInput(code string) map[string]any {
	return map[string]any{
		"code": code, "description": "ARTICULO " + code, "active": true, "accountingGroupId": 2, "lineId": 1,
		"categoryId": 2, "presentationId": 5, "brandId": 1, "unitOfMeasureId": 3,
	}
}

// explicitNull, given to with, sends the field as null (a nil leaves it out).
type explicitNull struct{}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		if _, ok := kv[i+1].(explicitNull); ok {
			out[kv[i].(string)] = nil
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// writes counts the SERPI POST and PUT calls.
func writes(s simkit.Snapshot) int64 {
	var n int64
	for k, v := range s.Calls {
		if strings.HasPrefix(k, "POST /api/v1/") || strings.HasPrefix(k, "PUT /api/v1/") {
			n += v
		}
	}
	return n
}

// fieldsOf lists every error's extensions.field, sorted, after checking
// that every error is BAD_USER_INPUT.
func fieldsOf(t *testing.T, r result) []string {
	t.Helper()
	var out []string
	for _, e := range r.Errors {
		if e.code() != "BAD_USER_INPUT" {
			t.Fatalf("want only BAD_USER_INPUT errors: %s", r.raw)
		}
		f, _ := e.Extensions["field"].(string)
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func TestCatalogWritesRoundTripThroughTheReads(t *testing.T) {
	e := newEnv(t)

	// createTax, then the tax by TaxFilter.search and by id.
	var created struct {
		CreateTax struct {
			Message string
			Tax     *taxOut
		}
	}
	e.do(createTaxMutation, map[string]any{"in": taxInput("IVA Gateway Prueba 7,5%")}, key(testKey)).ok(t, &created)
	tax := created.CreateTax.Tax
	if tax == nil || tax.Description != "IVA Gateway Prueba 7,5%" || tax.Rate != "7.50" || tax.Base != "1000" || tax.AppliesTo != 1 ||
		*tax.AccountID != 2659 || tax.RefundAccountID != nil || *tax.BonusAccountID != 2365 || created.CreateTax.Message != "registro creado exitosamente" {
		t.Fatalf("createTax answered %+v", created.CreateTax)
	}
	var found struct {
		Taxes struct {
			TotalCount int
			Edges      []struct{ Node taxOut }
		}
	}
	e.do(`query($s: String) { taxes(filter: {search: $s}) { totalCount edges { node { id description rate } } } }`,
		map[string]any{"s": "gateway prueba"}, key(testReadOnlyKey)).ok(t, &found)
	if found.Taxes.TotalCount != 1 || found.Taxes.Edges[0].Node.ID != tax.ID {
		t.Fatalf("taxes(search) after createTax: %+v", found.Taxes)
	}

	var updated struct {
		UpdateTax struct {
			Message string
			Tax     *taxOut
		}
	}
	e.do(updateTaxMutation, map[string]any{"in": with(taxInput("IVA Gateway Prueba 8%"), "id", tax.ID, "rate", "8", "bonusAccountId", explicitNull{})},
		key(testKey)).ok(t, &updated)
	if u := updated.UpdateTax.Tax; u == nil || u.ID != tax.ID || u.Rate != "8" || u.BonusAccountID != nil || updated.UpdateTax.Message != "registro modificado exitosamente" {
		t.Fatalf("updateTax answered %+v", updated.UpdateTax)
	}
	var byID struct{ Tax taxOut }
	e.do(fmt.Sprintf(`{ tax(id: %q) { id description rate } }`, tax.ID), nil, key(testKey)).ok(t, &byID)
	if byID.Tax.Description != "IVA Gateway Prueba 8%" || byID.Tax.Rate != "8" {
		t.Fatalf("tax(id) after updateTax: %+v", byID.Tax)
	}

	// createBranch, then the branch under its NIT; updateBranch by plain id.
	var cb struct{ CreateBranch struct{ Branch *branchOut } }
	e.do(createBranchMutation, map[string]any{"in": branchInput("77")}, key(testKey)).ok(t, &cb)
	b := cb.CreateBranch.Branch
	if b == nil || *b.Code != "77" || b.ThirdParty.Nit != "900985549" || b.ThirdParty.ID != 1804 || b.City.ID != 5001 ||
		*b.Phone != "6045551234" || b.Reference != nil || !b.IsBillingAddress || b.SellerID != 3418 {
		t.Fatalf("createBranch answered %+v", cb.CreateBranch)
	}
	var byNIT struct {
		Branches struct{ Edges []struct{ Node branchOut } }
	}
	e.do(`{ branches(first: 100, filter: {nit: "900985549"}) { edges { node { id code } } } }`, nil, key(testKey)).ok(t, &byNIT)
	if !slices.ContainsFunc(byNIT.Branches.Edges, func(x struct{ Node branchOut }) bool { return x.Node.ID == b.ID }) {
		t.Fatalf("branches(nit) does not list the new branch %s", b.ID)
	}
	var ub struct{ UpdateBranch struct{ Branch *branchOut } }
	e.do(updateBranchMutation, map[string]any{"in": with(branchInput("77"), "id", fmt.Sprint(b.SerpiID),
		"description", "BODEGA CAMBIADA", "thirdPartyNit", nil, "cityCode", nil, "collectorId", 42)}, key(testKey)).ok(t, &ub)
	if u := ub.UpdateBranch.Branch; u == nil || u.Description != "BODEGA CAMBIADA" || *u.CollectorID != 42 || u.ThirdParty.Nit != "900985549" {
		t.Fatalf("updateBranch answered %+v", ub.UpdateBranch)
	}

	// createArticles, then the articles by code; updateArticles by id.
	first := with(articleInput("GW-NEW-1"), "keywords", []string{"gas", " estufa "}, "customFields", map[string]any{"AUTOR": "Juan", "PAGINAS": 50},
		"planningType", "CUSTOM", "cost", "1500.50", "maxDays", 30)
	var ca struct{ CreateArticles bulkOut }
	e.do(createArticlesM, map[string]any{"in": []any{first, articleInput("GW-NEW-2")}}, key(testKey)).ok(t, &ca)
	if r := ca.CreateArticles; r.Requested != 2 || r.Created != 2 || r.Updated != 0 || len(r.Errors) != 0 || len(r.Articles) != 2 ||
		r.Articles[0].Code != "GW-NEW-1" || *r.Message != "Se crearon 2 de 2 articulos" {
		t.Fatalf("createArticles answered %+v", r)
	}
	var byCode struct {
		Articles struct {
			TotalCount int
			Edges      []struct{ Node articleOut }
		}
	}
	e.do(`{ articles(filter: {codes: ["GW-NEW-1", "GW-NEW-2"]}) { totalCount edges { node { `+articleFields+` } } } }`, nil, key(testKey)).ok(t, &byCode)
	if byCode.Articles.TotalCount != 2 {
		t.Fatalf("articles(codes) after createArticles: %+v", byCode.Articles)
	}
	a := byCode.Articles.Edges[0].Node
	if a.Code != "GW-NEW-1" || *a.Cost != "1500.50" || !slices.Equal(a.Keywords, []string{"gas", "estufa"}) || a.CustomFields["AUTOR"] != "Juan" ||
		*a.PlanningType != "CUSTOM" || *a.MaxDays != 30 {
		t.Fatalf("article read back: %+v", a)
	}
	var ua struct{ UpdateArticles bulkOut }
	e.do(updateArticlesM, map[string]any{"in": []any{with(articleInput("GW-NEW-1"), "id", a.ID, "active", false, "description", "RENOMBRADO")}},
		key(testKey)).ok(t, &ua)
	if r := ua.UpdateArticles; r.Updated != 1 || r.Created != 0 || len(r.Articles) != 1 || r.Articles[0].Description != "RENOMBRADO" || r.Articles[0].Active {
		t.Fatalf("updateArticles answered %+v", r)
	}
	var one struct{ Article articleOut }
	e.do(fmt.Sprintf(`{ article(id: %q) { description active keywords } }`, a.ID), nil, key(testKey)).ok(t, &one)
	// Keywords were left out of the update: kept.
	if one.Article.Description != "RENOMBRADO" || one.Article.Active || !slices.Equal(one.Article.Keywords, []string{"gas", "estufa"}) {
		t.Fatalf("article(id) after updateArticles: %+v", one.Article)
	}
}

func TestCatalogWriteRefusalsNeverReachSerpi(t *testing.T) {
	e := newEnv(t)
	tooMany := make([]any, 201)
	for i := range tooMany {
		tooMany[i] = articleInput(fmt.Sprintf("MANY-%d", i))
	}
	tests := []struct {
		name, query string
		in          any
		headers     []string
		code        string
		fields      []string // BAD_USER_INPUT: every error's field, sorted
	}{
		{"51-character description", createTaxMutation, taxInput(strings.Repeat("d", 51)), nil, "BAD_USER_INPUT", []string{"input.description"}},
		{"51-character branch description (runes)", createBranchMutation, with(branchInput("1"), "description", strings.Repeat("á", 51)), nil,
			"BAD_USER_INPUT", []string{"input.description"}},
		{"missing required fields", createTaxMutation, map[string]any{"description": "SOLO"}, nil, "BAD_USER_INPUT",
			[]string{"input.accountId", "input.appliesTo", "input.base", "input.rate"}},
		{"zero and negative ids", createBranchMutation, with(branchInput("1"), "thirdPartyId", 0, "sellerId", -5, "cityId", -1), nil,
			"BAD_USER_INPUT", []string{"input.cityId", "input.sellerId", "input.thirdPartyId"}},
		{"negative decimal", createTaxMutation, with(taxInput("X"), "rate", "-7", "base", "-0.5"), nil, "BAD_USER_INPUT",
			[]string{"input.base", "input.rate"}},
		{"malformed decimal", createTaxMutation, with(taxInput("X"), "rate", "7,5"), nil, "BAD_USER_INPUT", nil},
		{"wrong type of id", updateTaxMutation, with(taxInput("X"), "id", "QnJhbmNoOjE="), nil, "BAD_USER_INPUT", []string{"input.id"}},
		{"too many articles", createArticlesM, tooMany, nil, "BAD_USER_INPUT", []string{"input"}},
		{"no articles", createArticlesM, []any{}, nil, "BAD_USER_INPUT", []string{"input"}},
		{"duplicate codes in one request", createArticlesM, []any{articleInput("DUP"), articleInput("DUP")}, nil, "BAD_USER_INPUT",
			[]string{"input[0].code", "input[1].code"}},
		{"every article invalid", createArticlesM, []any{with(articleInput("A1"), "description", nil), with(articleInput("A2"), "customFields", []int{1})}, nil,
			"BAD_USER_INPUT", []string{"input[0].description", "input[1].customFields"}},
		{"read-only key", createTaxMutation, taxInput("X"), []string{key(testReadOnlyKey)}, "FORBIDDEN", nil},
		{"read-only key, bulk", createArticlesM, []any{articleInput("RO")}, []string{key(testReadOnlyKey)}, "FORBIDDEN", nil},
		{"read-only key, update", updateBranchMutation, with(branchInput("1"), "id", "1"), []string{key(testReadOnlyKey)}, "FORBIDDEN", nil},
		{"anonymous", createTaxMutation, taxInput("X"), []string{}, "UNAUTHENTICATED", nil},
		{"anonymous, bulk update", updateArticlesM, []any{with(articleInput("X"), "id", "1")}, []string{}, "UNAUTHENTICATED", nil},
		{"unknown key", createBranchMutation, branchInput("1"), []string{key("not-a-key")}, "UNAUTHENTICATED", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := tt.headers
			if headers == nil {
				headers = []string{key(testKey)}
			}
			e.resetStats()
			r := e.do(tt.query, map[string]any{"in": tt.in}, headers...)
			r.wantCode(t, tt.code)
			if tt.fields != nil {
				if got := fieldsOf(t, r); !slices.Equal(got, tt.fields) {
					t.Fatalf("error fields %v, want %v: %s", got, tt.fields, r.raw)
				}
			}
			if string(r.Data) != "null" {
				t.Fatalf("refused write has data: %s", r.raw)
			}
			if n := totalCalls(e.stats(), "/api/v1/"); n != 0 {
				t.Fatalf("refused write made %d SERPI calls: %v", n, e.stats().Calls)
			}
		})
	}
}

func TestCatalogWriteReportsEveryProblemOfAnInputAtOnce(t *testing.T) {
	e := newEnv(t)
	in := map[string]any{
		"thirdPartyId": 0, "thirdPartyNit": "NIT-1", "code": strings.Repeat("c", 60), "description": "",
		"phone": "301 555 1234", "cityId": 5001, "departmentId": -5, "countryId": 1, "countryCode": "57", "sellerId": 3418,
		"collectorId": 0, "isShippingAddress": true,
	}
	r := e.do(createBranchMutation, map[string]any{"in": in}, key(testKey))
	want := []string{"input.address", "input.cityCode", "input.code", "input.collectorId", "input.departmentCode", "input.departmentId",
		"input.description", "input.isBillingAddress", "input.phone", "input.thirdPartyId", "input.thirdPartyNit"}
	if got := fieldsOf(t, r); !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v: %s", got, want, r.raw)
	}
	for _, e := range r.Errors {
		if e.Message == "" || strings.Contains(e.Message, "input.") {
			t.Errorf("message %q should name the field plainly", e.Message)
		}
	}
}

func TestCatalogUpdateOfAMissingIDIsNotFound(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, query, path string
		in                map[string]any
	}{
		{"tax", updateTaxMutation, "PUT " + serpi.PathImpuesto, with(taxInput("NO EXISTE"), "id", "VGF4Ojk5OTk5OQ==")}, // Tax:999999
		{"branch", updateBranchMutation, "PUT " + serpi.PathSucursales, with(branchInput("1"), "id", "999999")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.resetStats()
			e.do(tc.query, map[string]any{"in": tc.in}, key(testKey)).wantCode(t, "NOT_FOUND", "serpi")
			// The current record is read first, to merge into: an id SERPI
			// does not hold is known before any PUT.
			if s := e.stats(); writes(s) != 0 {
				t.Fatalf("want no PUT, got %v", s.Calls)
			}
		})
	}
}

func TestBulkArticleWritesApplyTheValidItemsAndReportTheOthers(t *testing.T) {
	e := newEnv(t)
	e.resetStats()
	in := []any{
		articleInput("BULK-A"),
		with(articleInput("BULK-BAD"), "description", strings.Repeat("x", 51)), // refused by the gateway
		articleInput("BULK-B"),
		articleInput("12345"), // the simulator's existing code: refused by SERPI
		articleInput("BULK-C"),
	}
	var out struct{ CreateArticles bulkOut }
	e.do(createArticlesM, map[string]any{"in": in}, key(testKey)).ok(t, &out)
	r := out.CreateArticles
	if r.Requested != 5 || r.Created != 3 || len(r.Errors) != 2 {
		t.Fatalf("createArticles answered %+v", r)
	}
	if e0 := r.Errors[0]; *e0.Index != 1 || *e0.Field != "input[1].description" {
		t.Errorf("gateway refusal reported as %+v", e0)
	}
	if e1 := r.Errors[1]; *e1.Index != 3 || *e1.Field != "input[3].code" || !strings.Contains(e1.Message, "12345") {
		t.Errorf("SERPI refusal reported as %+v", e1)
	}
	var codes []string
	for _, a := range r.Articles {
		codes = append(codes, a.Code)
	}
	if !slices.Equal(codes, []string{"BULK-A", "BULK-B", "BULK-C"}) {
		t.Errorf("articles read back: %v", codes)
	}
	if s := e.stats(); s.Calls["POST "+serpi.PathArticulo] != 1 || writes(s) != 1 {
		t.Fatalf("want exactly one bulk POST, got %v", s.Calls)
	}
	var check struct{ Articles struct{ TotalCount int } }
	e.do(`{ articles(filter: {codes: ["BULK-A", "BULK-B", "BULK-C", "BULK-BAD"]}) { totalCount } }`, nil, key(testKey)).ok(t, &check)
	if check.Articles.TotalCount != 3 {
		t.Fatalf("%d of the bulk's articles readable, want 3", check.Articles.TotalCount)
	}

	// An update with one unknown id: the others are applied.
	var up struct{ UpdateArticles bulkOut }
	e.do(updateArticlesM, map[string]any{"in": []any{
		with(articleInput("BULK-A"), "id", r.Articles[0].ID, "description", "A CAMBIADO"),
		with(articleInput("BULK-Z"), "id", "999999"),
	}}, key(testKey)).ok(t, &up)
	if u := up.UpdateArticles; u.Updated != 1 || len(u.Errors) != 1 || *u.Errors[0].Index != 1 || *u.Errors[0].Field != "input[1].id" ||
		len(u.Articles) != 1 || u.Articles[0].Description != "A CAMBIADO" {
		t.Fatalf("updateArticles answered %+v", u)
	}

	// SERPI refusing every item it was sent is a payload, not an error.
	var none struct{ CreateArticles bulkOut }
	e.do(createArticlesM, map[string]any{"in": []any{articleInput("BULK-A")}}, key(testKey)).ok(t, &none)
	if n := none.CreateArticles; n.Created != 0 || len(n.Errors) != 1 || *n.Errors[0].Index != 0 || len(n.Articles) != 0 {
		t.Fatalf("all refused by SERPI: %+v", n)
	}
}

func TestTimedOutWriteIsReportedAndNotRepeated(t *testing.T) {
	e := newEnv(t)
	// Only the POST's answer is late (SERPI applied it): the reads around
	// it, in the same turn of the token, answer in time.
	slowPost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			e.sim.Handler().ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		e.sim.Handler().ServeHTTP(rec, r)
		time.Sleep(600 * time.Millisecond)
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(slowPost.Close)
	h := newGateway(t, e, func(c *server.Config) { c.UpstreamTimeout = 150 * time.Millisecond; c.SerpiURL = slowPost.URL })
	e.resetStats()
	r := post(t, h, createTaxMutation, map[string]any{"in": taxInput("LENTO 1%")}, key(testKey))
	got := r.wantCode(t, "UPSTREAM_UNAVAILABLE", "serpi")
	if !strings.Contains(got.Message, "may or may not have been applied") {
		t.Fatalf("message %q does not say the write's outcome is unknown", got.Message)
	}
	// Later requests work once SERPI has let go of the token (it notices
	// the abandoned call when the connection closes), and the POST was
	// made exactly once.
	testutil.WaitUntil(t, "a read to succeed after the timed-out write", func() bool {
		return len(post(t, h, `{ taxes(filter: {search: "lento"}) { totalCount } }`, nil, key(testKey)).Errors) == 0
	})
	if n := e.stats().Calls["POST "+serpi.PathImpuesto]; n != 1 {
		t.Fatalf("%d POSTs reached SERPI, want exactly 1", n)
	}
}

func TestCatalogWriteUsesTheKeysOwnSerpiCredential(t *testing.T) {
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 20, Taxes: 10, Articles: 10,
		Credentials: map[string][]string{simSecret: {simToken, "writer-token"}}}})
	h := newGateway(t, e, func(c *server.Config) {
		c.APIKeys = append(c.APIKeys, auth.KeyConfig{Name: "own", SHA256: auth.HashKey("own-key"),
			Scopes: []string{"catalog:read", "catalog:write"}, SerpiToken: "writer-token"})
	})
	e.resetStats()
	var out struct{ CreateTax struct{ Tax *taxOut } }
	post(t, h, createTaxMutation, map[string]any{"in": taxInput("PROPIO 2%")}, key("own-key")).ok(t, &out)
	if out.CreateTax.Tax == nil {
		t.Fatal("tax not read back")
	}
	tokens := e.stats().MaxConcurrentPerToken
	if tokens["writer-token"] == 0 || tokens[simToken] != 0 {
		t.Fatalf("SERPI calls per token %v: want only the key's own token", tokens)
	}
}

func TestCreatedTaxIsVisibleAtOnceOnAnotherReplica(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "")
	search := `query($s: String) { taxes(filter: {search: $s}) { totalCount edges { node { id description rate } } } }`
	read := func(i int, s string) (n int, node taxOut) {
		var out struct {
			Taxes struct {
				TotalCount int
				Edges      []struct{ Node taxOut }
			}
		}
		post(t, c.replicas[i], search, map[string]any{"s": s}, key(testKey)).ok(t, &out)
		if out.Taxes.TotalCount > 0 {
			node = out.Taxes.Edges[0].Node
		}
		return out.Taxes.TotalCount, node
	}
	for round := range 4 {
		writer, reader := round%2, (round+1)%2
		desc := fmt.Sprintf("REPLICADO %d", round)
		// The reader holds an index built before the write.
		if n, _ := read(reader, desc); n != 0 {
			t.Fatalf("round %d: %q exists before it was created", round, desc)
		}
		var out struct{ CreateTax struct{ Tax *taxOut } }
		post(t, c.replicas[writer], createTaxMutation, map[string]any{"in": taxInput(desc)}, key(testKey)).ok(t, &out)
		// No sleep: the write's response left after every replica dropped
		// its index.
		n, node := read(reader, desc)
		if n != 1 || node.ID != out.CreateTax.Tax.ID {
			t.Fatalf("round %d: replica %d sees %d taxes %q right after replica %d created it", round, reader, n, desc, writer)
		}
		// An update is as visible.
		var up struct{ UpdateTax struct{ Tax *taxOut } }
		post(t, c.replicas[reader], updateTaxMutation, map[string]any{"in": with(taxInput(desc), "id", node.ID, "rate", "9.25")}, key(testKey)).ok(t, &up)
		if _, again := read(writer, desc); again.Rate != "9.25" {
			t.Fatalf("round %d: replica %d still sees rate %s after replica %d's update", round, writer, again.Rate, reader)
		}
	}
}

// A small bulk write reads its articles back with SERPI's ?codigo= (one
// call per article) instead of walking the whole collection; a large one
// walks once.
func TestSmallArticleWritesReadBackByCode(t *testing.T) {
	e := newEnv(t) // 150 articles: a walk is 4 GETs at the default page size
	getArticles := func() int64 { return e.stats().Calls["GET "+serpi.PathArticulo] }

	e.resetStats()
	var small struct{ CreateArticles bulkOut }
	e.do(createArticlesM, map[string]any{"in": []any{articleInput("BYCODE-A"), articleInput("BYCODE-B")}}, key(testKey)).ok(t, &small)
	if got := len(small.CreateArticles.Articles); got != 2 || small.CreateArticles.Articles[1].Code != "BYCODE-B" {
		t.Fatalf("read back %+v", small.CreateArticles.Articles)
	}
	if n := getArticles(); n != 2 {
		t.Fatalf("two created articles read back with %d GETs, want 2 (one ?codigo= each)", n)
	}

	e.resetStats()
	var large struct{ CreateArticles bulkOut }
	var in []any
	for i := range catalogwrite.MaxCodeReadBacks + 1 {
		in = append(in, articleInput(fmt.Sprintf("BYWALK-%d", i)))
	}
	e.do(createArticlesM, map[string]any{"in": in}, key(testKey)).ok(t, &large)
	if got := len(large.CreateArticles.Articles); got != len(in) {
		t.Fatalf("read back %d of %d", got, len(in))
	}
	if n, pages := getArticles(), int64((150+2+len(in))/serpi.DefaultPageSize+1+1); n > pages {
		t.Fatalf("%d created articles read back with %d GETs, want one walk (at most %d)", len(in), n, pages)
	}
}
