package catalogwrite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

func ptr[T any](v T) *T { return &v }

// set is an update input field given with value v.
func set[T any](v T) graphql.Omittable[*T] { return graphql.OmittableOf(&v) }

func dec(s string) *model.Decimal { d := model.Decimal(s); return &d }

func fields(p Problems) []string {
	out := make([]string, len(p))
	for i, pr := range p {
		out[i] = pr.Field
	}
	return out
}

func validTax() model.CreateTaxInput {
	return model.CreateTaxInput{Description: ptr("IVA PRUEBA 7%"), Rate: dec("7.00"), AppliesTo: ptr(1), Base: dec("0"), AccountID: ptr(2659)}
}

func validBranch() model.CreateBranchInput {
	return model.CreateBranchInput{
		ThirdPartyID: ptr(1804), ThirdPartyNit: ptr("900985549"), Code: ptr("7"), Description: ptr("BODEGA NORTE"),
		Address: ptr("cra 22 # 4-44"), CityID: ptr(5001), CityCode: ptr("05001"), DepartmentID: ptr(5), DepartmentCode: ptr("05"),
		CountryID: ptr(1), CountryCode: ptr("57"), SellerID: ptr(3418), IsBillingAddress: ptr(true), IsShippingAddress: ptr(false),
	}
}

func validArticle(code string) *model.ArticleInput {
	return &model.ArticleInput{
		Code: ptr(code), Description: ptr("ARTICULO " + code), Active: ptr(true), AccountingGroupID: ptr(2), LineID: ptr(1),
		CategoryID: ptr(2), PresentationID: ptr(5), BrandID: ptr(1), UnitOfMeasureID: ptr(3),
	}
}

func TestTaxValidationReportsEveryProblemAtOnce(t *testing.T) {
	long := strings.Repeat("ñ", MaxTextLen+1) // 51 runes, 102 bytes
	tests := []struct {
		name string
		in   model.CreateTaxInput
		want []string
	}{
		{"valid", validTax(), nil},
		{"nothing given", model.CreateTaxInput{}, []string{"input.description", "input.rate", "input.appliesTo", "input.base", "input.accountId"}},
		{"51 characters", func() model.CreateTaxInput { in := validTax(); in.Description = &long; return in }(), []string{"input.description"}},
		{"50 characters pass", func() model.CreateTaxInput {
			in := validTax()
			in.Description = ptr(strings.Repeat("ñ", MaxTextLen))
			return in
		}(), nil},
		{"blank is missing", func() model.CreateTaxInput { in := validTax(); in.Description = ptr("   "); return in }(), []string{"input.description"}},
		{"line break", func() model.CreateTaxInput { in := validTax(); in.Description = ptr("IVA\n5"); return in }(), []string{"input.description"}},
		{"negative decimals and bad ids", func() model.CreateTaxInput {
			in := validTax()
			in.Rate, in.Base, in.AccountID, in.RefundAccountID, in.AppliesTo = dec("-5"), dec("-0.01"), ptr(0), ptr(-3), ptr(-1)
			return in
		}(), []string{"input.rate", "input.appliesTo", "input.base", "input.accountId", "input.refundAccountId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := TaxForCreate(tt.in)
			if got := fields(problems); !slices.Equal(got, tt.want) {
				t.Fatalf("problem fields = %v, want %v (%v)", got, tt.want, problems)
			}
		})
	}
}

func TestTaxMapsToTheSeedsWireRecord(t *testing.T) {
	in := validTax()
	in.Description = ptr("  IVA PRUEBA 7%  ")
	in.BonusAccountID = ptr(2365)
	rec, problems := TaxForCreate(in)
	if problems != nil {
		t.Fatal(problems)
	}
	raw, _ := json.Marshal(rec)
	want := `{"descripcion":"IVA PRUEBA 7%","valor":7.00,"aplica":1,"_base":0,"cuenta_impuesto":2659,"cuenta_impuesto_devolucion":null,"cuenta_impuesto_bonificado":2365}`
	if string(raw) != want {
		t.Fatalf("wire record\n got %s\nwant %s", raw, want)
	}
	up, problems := TaxForUpdate(model.UpdateTaxInput{ID: "VGF4OjEy", Description: set(*in.Description), Rate: set(*in.Rate),
		AppliesTo: set(*in.AppliesTo), Base: set(*in.Base), AccountID: set(*in.AccountID)}, serpi.Impuesto{})
	if problems != nil || up.ID != wire.NewInt(12) {
		t.Fatalf("update by global ID Tax:12: id %v, problems %v", up.ID, problems)
	}
	for _, id := range []string{"12x", "0", "-4", "QnJhbmNoOjE=", ""} { // QnJhbmNoOjE= is Branch:1
		if _, problems := TaxForUpdate(model.UpdateTaxInput{ID: id}, serpi.Impuesto{}); !slices.Contains(fields(problems), "input.id") {
			t.Errorf("id %q accepted", id)
		}
	}
}

func TestBranchValidation(t *testing.T) {
	rec, problems := BranchForCreate(validBranch())
	if problems != nil {
		t.Fatal(problems)
	}
	raw, _ := json.Marshal(rec)
	// The fields that must be present but may be empty travel as "".
	for _, member := range []string{`"referencia_sucursal":""`, `"telefono":""`, `"id_cobrador":null`, `"es_direccionDespacho":false`} {
		if !strings.Contains(string(raw), member) {
			t.Errorf("wire record lacks %s: %s", member, raw)
		}
	}

	bad := validBranch()
	bad.ThirdPartyID, bad.SellerID, bad.CollectorID = ptr(0), ptr(-1), ptr(-2)
	bad.Phone, bad.ThirdPartyNit, bad.Description, bad.IsBillingAddress = ptr("301 555"), ptr("90098-5549"), nil, nil
	bad.Address = ptr(strings.Repeat("a", 51))
	_, problems = BranchForCreate(bad)
	want := []string{"input.thirdPartyId", "input.thirdPartyNit", "input.description", "input.address", "input.phone",
		"input.sellerId", "input.collectorId", "input.isBillingAddress"}
	if got := fields(problems); !slices.Equal(got, want) {
		t.Fatalf("problem fields = %v, want %v", got, want)
	}

	// An update may leave out what SERPI derives from the ids.
	_, problems = BranchForUpdate(model.UpdateBranchInput{
		ID: "2317", ThirdPartyID: set(1804), Code: set("0"), Description: set("PRUEBA CAMBIO"), Address: set("cra 22 #4-44"),
		CityID: set(5001), DepartmentID: set(5), CountryID: set(1), SellerID: set(3418),
		IsBillingAddress: set(false), IsShippingAddress: set(false),
	}, serpi.Sucursal{})
	if problems != nil {
		t.Fatalf("seed's PUT example refused: %v", problems)
	}
	_, problems = BranchForCreate(model.CreateBranchInput{})
	if len(problems) != 14 {
		t.Fatalf("empty branch: %d problems, want the 14 required fields: %v", len(problems), fields(problems))
	}
}

func TestArticleValidation(t *testing.T) {
	in := validArticle("A-1")
	in.Keywords = []string{" casa ", "hogar"}
	in.CustomFields = model.JSON(`{"PAGINAS": 50}`)
	in.PlanningType = ptr(model.PlanningTypeCustom)
	in.MaxDays = ptr(30)
	a, problems := articleForCreate("input[0]", in)
	if problems != nil {
		t.Fatal(problems)
	}
	if a.PalabrasClave != "casa,hogar" || string(a.CamposPersonalizados) != `{"PAGINAS": 50}` || a.TipoPlaneacion != wire.NewInt(1) {
		t.Fatalf("mapped %q %s %v", a.PalabrasClave, a.CamposPersonalizados, a.TipoPlaneacion)
	}

	bad := validArticle("A-2")
	bad.Keywords = []string{"ok", "", "a,b", strings.Repeat("k", 51)}
	bad.CustomFields = model.JSON(`[1,2]`)
	bad.MaxDays, bad.Cost, bad.LineID, bad.Active = ptr(40000), dec("-1"), ptr(0), nil
	_, problems = articleForCreate("input[3]", bad)
	want := []string{"input[3].lineId", "input[3].cost", "input[3].active", "input[3].maxDays",
		"input[3].keywords[1]", "input[3].keywords[2]", "input[3].keywords[3]", "input[3].customFields"}
	if got := fields(problems); !slices.Equal(got, want) {
		t.Fatalf("problem fields = %v, want %v", got, want)
	}
}

// fakeWriter answers writes as scripted and records what was sent.
type fakeWriter struct {
	onWrite  func() // runs as SERPI applies a write
	calls    int
	sent     []serpi.Articulo
	result   *serpi.WriteResult
	err      error
	impuesto serpi.Impuesto
}

func (f *fakeWriter) write(items []serpi.Articulo) (*serpi.WriteResult, error) {
	f.calls++
	f.sent = append(f.sent, items...)
	if f.onWrite != nil && f.err == nil {
		f.onWrite()
	}
	return f.result, f.err
}

func (f *fakeWriter) CreateSucursal(context.Context, serpi.Credential, serpi.Sucursal) (*serpi.WriteResult, error) {
	return f.write(nil)
}
func (f *fakeWriter) UpdateSucursal(context.Context, serpi.Credential, serpi.Sucursal) (*serpi.WriteResult, error) {
	return f.write(nil)
}
func (f *fakeWriter) CreateImpuesto(_ context.Context, _ serpi.Credential, i serpi.Impuesto) (*serpi.WriteResult, error) {
	f.impuesto = i
	return f.write(nil)
}
func (f *fakeWriter) UpdateImpuesto(_ context.Context, _ serpi.Credential, i serpi.Impuesto) (*serpi.WriteResult, error) {
	f.impuesto = i
	return f.write(nil)
}
func (f *fakeWriter) CreateArticulos(_ context.Context, _ serpi.Credential, items []serpi.Articulo) (*serpi.WriteResult, error) {
	return f.write(items)
}
func (f *fakeWriter) UpdateArticulos(_ context.Context, _ serpi.Credential, items []serpi.Articulo) (*serpi.WriteResult, error) {
	return f.write(items)
}

// fakeCatalog serves fixed collections and counts invalidations.
type fakeCatalog struct {
	invalidated []string
	taxes       []serpi.Impuesto
	articles    []serpi.Articulo
}

func (f *fakeCatalog) Invalidate(_ context.Context, _ serpi.Credential, collections ...string) error {
	f.invalidated = append(f.invalidated, collections...)
	return nil
}
func (f *fakeCatalog) Branches(context.Context, serpi.Credential) (*catalog.Index[serpi.Sucursal], error) {
	return catalog.NewIndex(nil, catalog.BranchSpec), nil
}
func (f *fakeCatalog) Taxes(context.Context, serpi.Credential) (*catalog.Index[serpi.Impuesto], error) {
	return catalog.NewIndex(f.taxes, catalog.TaxSpec), nil
}
func (f *fakeCatalog) Articles(context.Context, serpi.Credential) (*catalog.Index[serpi.Articulo], error) {
	return catalog.NewIndex(f.articles, catalog.ArticleSpec), nil
}

func TestCreateTaxReadsBackTheNewRecordWithEveryFieldWritten(t *testing.T) {
	existing := []serpi.Impuesto{
		{ID: wire.NewInt(3), Descripcion: "IVA PRUEBA 7%", Valor: "7.00000", Aplica: wire.NewInt(1), Base: "0", CuentaImpuesto: wire.NewInt(2659)},
		{ID: wire.NewInt(5), Descripcion: "OTRO"},
	}
	mine := serpi.Impuesto{Descripcion: "iva prueba 7%", Valor: "7.00000", Aplica: wire.NewInt(1), Base: "0.00000", CuentaImpuesto: wire.NewInt(2659)}
	theirs := mine
	theirs.Valor = "8" // created by someone else at the same moment
	tests := []struct {
		name      string
		appear    []serpi.Impuesto // what the collection gains during the write
		wantID    int64            // 0: not identified
		wantPhase string
	}{
		{"own record among another client's", []serpi.Impuesto{withID(theirs, 9), withID(mine, 10)}, 10, ""},
		{"identical twin created at the same moment", []serpi.Impuesto{withID(mine, 9), withID(mine, 10)}, 0, "2 records"},
		{"nothing new", nil, 0, "no new record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := &fakeCatalog{taxes: slices.Clone(existing)}
			w := &fakeWriter{result: &serpi.WriteResult{Code: 201, Message: "registro creado exitosamente"},
				onWrite: func() { cat.taxes = append(cat.taxes, tt.appear...) }}
			res, err := (&Service{Writer: w, Catalog: cat}).CreateTax(t.Context(), serpi.Credential{}, validTax())
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantID != 0 && (res.Record == nil || res.Record.ID.Value != tt.wantID):
				t.Fatalf("record %+v, want id %d", res.Record, tt.wantID)
			case tt.wantID == 0 && (res.Record != nil || res.Unresolved == nil || !strings.Contains(res.Unresolved.Message, tt.wantPhase)):
				t.Fatalf("record %+v, unresolved %v; want none and %q", res.Record, res.Unresolved, tt.wantPhase)
			}
			if !slices.Equal(cat.invalidated, []string{catalog.CollectionTaxes}) {
				t.Fatalf("invalidated %v", cat.invalidated)
			}
		})
	}
}

func withID(t serpi.Impuesto, id int64) serpi.Impuesto { t.ID = wire.NewInt(id); return t }

func TestWriteFailures(t *testing.T) {
	serpiErr := func(kind upstream.Kind, status int, cause error) error {
		return &upstream.Error{Upstream: upstream.Serpi, Op: "POST /api/v1/Impuesto", Kind: kind, Status: status, Err: cause}
	}
	tests := []struct {
		name           string
		err            error
		wantInvalidate bool
		wantNote       string
	}{
		{"timed out", serpiErr(upstream.KindUnavailable, 0, context.DeadlineExceeded), true, noteUncertain},
		{"5xx", serpiErr(upstream.KindServer, 500, nil), true, noteUncertain},
		{"never sent: token busy too long", serpiErr(upstream.KindUnavailable, 0, fmt.Errorf("wait: %w", serializer.ErrWaitTimeout)), false, noteNotSent},
		{"refused", serpiErr(upstream.KindBadRequest, 400, nil), false, ""},
		{"missing id", serpiErr(upstream.KindNotFound, 200, nil), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{err: tt.err}
			cat := &fakeCatalog{}
			_, err := (&Service{Writer: w, Catalog: cat}).CreateTax(t.Context(), serpi.Credential{}, validTax())
			ue, ok := upstream.As(err)
			if !ok || ue.Kind != tt.err.(*upstream.Error).Kind {
				t.Fatalf("err = %v, want the upstream error's kind", err)
			}
			if w.calls != 1 {
				t.Fatalf("%d calls, want exactly 1 (no retry)", w.calls)
			}
			if (len(cat.invalidated) > 0) != tt.wantInvalidate {
				t.Fatalf("invalidated %v, want invalidation %v", cat.invalidated, tt.wantInvalidate)
			}
			if hasNote := tt.wantNote != "" && slices.Contains(ue.Details, tt.wantNote); hasNote != (tt.wantNote != "") {
				t.Fatalf("details %v, want note %q", ue.Details, tt.wantNote)
			}
			if !errors.Is(err, tt.err.(*upstream.Error).Err) && tt.err.(*upstream.Error).Err != nil {
				t.Fatal("the cause was lost")
			}
		})
	}
	// Invalid input never reaches the writer.
	w := &fakeWriter{}
	_, err := (&Service{Writer: w, Catalog: &fakeCatalog{}}).CreateTax(t.Context(), serpi.Credential{}, model.CreateTaxInput{})
	if p, ok := AsProblems(err); !ok || len(p) != 5 || w.calls != 0 {
		t.Fatalf("empty input: %v, %d calls", err, w.calls)
	}
}

func TestBulkMapsSerpiItemErrorsToOriginalIndexes(t *testing.T) {
	in := []*model.ArticleInput{
		validArticle("A"),
		{Code: ptr("B")}, // invalid at the gateway: not sent
		validArticle("C"),
		validArticle("D"), // SERPI refuses it: sent 3rd, "Articulo 3"
		validArticle("E"),
	}
	w := &fakeWriter{result: &serpi.WriteResult{Code: 201, Message: "Se crearon 3 de 4 articulos",
		Errors: []string{"Articulo 3: Ya existe un articulo con el codigo D"}}}
	cat := &fakeCatalog{articles: []serpi.Articulo{
		{ID: wire.NewInt(10), Codigo: "A"}, {ID: wire.NewInt(11), Codigo: "C"}, {ID: wire.NewInt(2), Codigo: "D"}, {ID: wire.NewInt(12), Codigo: "E"},
	}}
	res, err := (&Service{Writer: w, Catalog: cat}).CreateArticles(t.Context(), serpi.Credential{}, in)
	if err != nil {
		t.Fatal(err)
	}
	var sentCodes []string
	for _, a := range w.sent {
		sentCodes = append(sentCodes, string(a.Codigo))
	}
	if w.calls != 1 || !slices.Equal(sentCodes, []string{"A", "C", "D", "E"}) {
		t.Fatalf("sent %v in %d calls", sentCodes, w.calls)
	}
	if res.Requested != 5 || res.Created != 3 || res.Updated != 0 {
		t.Fatalf("counts %+v", res)
	}
	type ie struct {
		index int
		field string
	}
	var got []ie
	for _, e := range res.Errors {
		got = append(got, ie{*e.Index, e.Field})
	}
	want := []ie{{1, "input[1].description"}, {1, "input[1].accountingGroupId"}, {1, "input[1].lineId"}, {1, "input[1].categoryId"},
		{1, "input[1].presentationId"}, {1, "input[1].brandId"}, {1, "input[1].unitOfMeasureId"}, {1, "input[1].active"},
		{3, "input[3].code"}}
	if !slices.Equal(got, want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
	var ids []int64
	for _, a := range res.Articles {
		ids = append(ids, a.ID.Value)
	}
	if !slices.Equal(ids, []int64{10, 11, 12}) {
		t.Fatalf("articles read back %v, want A, C, E (10, 11, 12)", ids)
	}
	if !slices.Equal(cat.invalidated, []string{catalog.CollectionArticles}) {
		t.Fatalf("invalidated %v", cat.invalidated)
	}
}

func TestBulkWhenSerpiRefusesEveryItem(t *testing.T) {
	w := &fakeWriter{err: &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindBadRequest, Status: 400,
		Message: "Se crearon 0 de 2 articulos", Details: []string{
			"Articulo 1: Ya existe un articulo con el codigo X", "Articulo 2: El campo idmarca es obligatorio", "algo general"}}}
	cat := &fakeCatalog{}
	in := []*model.ArticleInput{{}, validArticle("X"), validArticle("Y")} // item 0 is invalid here
	res, err := (&Service{Writer: w, Catalog: cat}).CreateArticles(t.Context(), serpi.Credential{}, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 0 || len(cat.invalidated) != 0 || res.Message == nil || *res.Message != "Se crearon 0 de 2 articulos" {
		t.Fatalf("result %+v, invalidated %v", res, cat.invalidated)
	}
	last := res.Errors[len(res.Errors)-1]
	x, y := res.Errors[len(res.Errors)-3], res.Errors[len(res.Errors)-2]
	if *x.Index != 1 || x.Field != "input[1].code" || *y.Index != 2 || y.Field != "input[2].brandId" || last.Index != nil || last.Message != "algo general" {
		t.Fatalf("SERPI's errors mapped to %+v %+v %+v", x, y, last)
	}
}

func TestBulkRefusesTheWholeListWhenNothingIsValid(t *testing.T) {
	s := &Service{Writer: &fakeWriter{}, Catalog: &fakeCatalog{}, MaxArticles: 3}
	cases := map[string][]*model.ArticleInput{
		"empty":     {},
		"too many":  {validArticle("1"), validArticle("2"), validArticle("3"), validArticle("4")},
		"all bad":   {{}, {Code: ptr("x")}},
		"duplicate": {validArticle("Z"), validArticle(" Z ")},
	}
	wantFields := map[string][]string{
		"empty":     {"input"},
		"too many":  {"input"},
		"duplicate": {"input[0].code", "input[1].code"},
	}
	for name, in := range cases {
		_, err := s.CreateArticles(t.Context(), serpi.Credential{}, in)
		p, ok := AsProblems(err)
		if !ok {
			t.Fatalf("%s: err %v, want Problems", name, err)
		}
		if want, ok := wantFields[name]; ok && !slices.Equal(fields(p), want) {
			t.Errorf("%s: fields %v, want %v", name, fields(p), want)
		}
	}
	if s.Writer.(*fakeWriter).calls != 0 {
		t.Fatal("a refused list reached SERPI")
	}
	// Updates: the same id twice is refused on both items.
	_, err := s.UpdateArticles(t.Context(), serpi.Credential{}, []*model.UpdateArticleInput{
		{ID: "5", Code: set("P"), Description: set("p")},
		{ID: "QXJ0aWNsZTo1", Code: set("Q")},
	})
	if p, _ := AsProblems(err); !slices.Equal(fields(p), []string{"input[0].id", "input[1].id"}) {
		t.Fatalf("duplicate ids: %v", err)
	}
}

func TestUpdatesMergeIntoTheCurrentRecord(t *testing.T) {
	cur := serpi.Impuesto{ID: wire.NewInt(12), Descripcion: "IVA 5%", Valor: "5.00000", Aplica: wire.NewInt(1), Base: "0",
		CuentaImpuesto: wire.NewInt(2659), CuentaImpuestoDevolucion: wire.NewInt(2400), CuentaImpuestoBonificado: wire.NewInt(2365)}
	tests := []struct {
		name       string
		in         model.UpdateTaxInput
		want       serpi.Impuesto
		wantFields []string
	}{
		{"nothing named keeps everything", model.UpdateTaxInput{ID: "12"}, cur, nil},
		{"a value replaces", model.UpdateTaxInput{ID: "12", Rate: set(model.Decimal("8"))},
			func() serpi.Impuesto { t := cur; t.Valor = "8"; return t }(), nil},
		{"null clears an optional field", model.UpdateTaxInput{ID: "12", BonusAccountID: graphql.OmittableOf[*int](nil)},
			func() serpi.Impuesto { t := cur; t.CuentaImpuestoBonificado = wire.Int{}; return t }(), nil},
		{"null on a required field is refused", model.UpdateTaxInput{ID: "12", Description: graphql.OmittableOf[*string](nil),
			AccountID: graphql.OmittableOf[*int](nil)}, cur, []string{"input.description", "input.accountId"}},
		{"given values are checked", model.UpdateTaxInput{ID: "12", Rate: set(model.Decimal("-1"))}, cur, []string{"input.rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems := TaxForUpdate(tt.in, cur)
			if !slices.Equal(fields(problems), tt.wantFields) {
				t.Fatalf("problems %v, want %v", fields(problems), tt.wantFields)
			}
			if tt.wantFields == nil && got != tt.want {
				t.Fatalf("merged\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestBranchGeography(t *testing.T) {
	tests := []struct {
		name         string
		cityID       int
		city, depart string
		want         []string
	}{
		{"seed's city", 5001, "05001", "05", nil},
		{"leading zero missing", 5001, "5001", "05", []string{"input.cityCode"}},
		{"another department's city", 8001, "08001", "05", []string{"input.cityCode"}},
		{"not cityId's code", 5001, "05002", "05", []string{"input.cityCode"}},
		{"department code of one digit", 5001, "05001", "5", []string{"input.departmentCode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validBranch()
			in.CityID, in.CityCode, in.DepartmentCode = ptr(tt.cityID), ptr(tt.city), ptr(tt.depart)
			_, problems := BranchForCreate(in)
			if !slices.Equal(fields(problems), tt.want) {
				t.Fatalf("problems %v, want %v", problems, tt.want)
			}
		})
	}
}

// TestDecimalFitsSerpi: decimals are bounded to SERPI's decimal(18,5),
// refused (never rounded) past it, and the messages never repeat the
// number.
func TestDecimalFitsSerpi(t *testing.T) {
	tests := []struct {
		in       string
		want     wire.Decimal // sent to SERPI when accepted
		problems int
	}{
		{"19.5", "19.5", 0},
		{"5.00000", "5.00000", 0},
		{"19.500000000", "19.50000", 0},
		{"0.00001", "0.00001", 0},
		{"9999999999999.99999", "9999999999999.99999", 0},
		{"0009999999999999", "9999999999999", 0},
		{"0.30000000000000004", "", 1},
		{"0.000001", "", 1},
		{"12345678901234567890.123456789", "", 1},
		{"10000000000000", "", 1},
		{"-1", "", 1},
		{"-0.0000001", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := &checker{prefix: "input"}
			v := model.Decimal(tt.in)
			got := c.decimal("rate", &v, true)
			if len(c.problems) != tt.problems {
				t.Fatalf("problems %v, want %d", c.problems, tt.problems)
			}
			for _, p := range c.problems {
				if p.Field != "input.rate" || strings.Contains(p.Message, strings.TrimLeft(tt.in, "-0.")) {
					t.Fatalf("problem %+v", p)
				}
			}
			if tt.problems == 0 && got != tt.want {
				t.Fatalf("sent %q, want %q", got, tt.want)
			}
		})
	}
}
