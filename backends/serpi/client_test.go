package serpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

func TestListHappyPaths(t *testing.T) {
	_, _, c := startSim(t, SimConfig{})
	ctx := context.Background()

	branches, err := c.ListSucursales(ctx, demo, PageQuery{Limit: 10, Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(branches) != 10 || branches[0].ID.Value != firstBranchID {
		t.Fatalf("got %d branches starting at %v, want 10 from %d", len(branches), branches[0].ID, firstBranchID)
	}
	for _, b := range branches {
		if b.NitTercero == "" || b.Descripcion == "" || b.CodigoPais != "57" || !b.IDCiudad.Valid {
			t.Fatalf("incomplete branch %+v", b)
		}
	}

	taxes, err := c.ListImpuestos(ctx, demo, PageQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(taxes) != 5 || taxes[0].Descripcion != "IVA COMPRA 5%" || taxes[0].Valor != "5.00000" || taxes[0].Base != "0.00000" {
		t.Fatalf("first tax = %+v, want the seed's IVA COMPRA 5%%", taxes[0])
	}

	arts, err := c.ListArticulos(ctx, demo, ArticuloQuery{PageQuery: PageQuery{Limit: 3, Page: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 3 || arts[0].Codigo != "123" || arts[0].Costo != "1000.00" || !bool(arts[0].Activo) {
		t.Fatalf("first article = %+v, want the seed's article 123", arts[0])
	}
	if string(arts[0].CamposPersonalizados) == "" {
		t.Fatal("camposPersonalizados lost")
	}

	// Zero PageQuery: the simulator's default page size.
	def, err := c.ListSucursales(ctx, demo, PageQuery{})
	if err != nil || len(def) != DefaultPageSize {
		t.Fatalf("default page: %d records, err %v", len(def), err)
	}
}

func TestPagingAndWalkAll(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{})
	ctx := context.Background()
	cfg := sim.Config()

	// Consecutive pages do not overlap and continue each other.
	p1, err := c.ListSucursales(ctx, demo, PageQuery{Limit: 7, Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.ListSucursales(ctx, demo, PageQuery{Limit: 7, Page: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p1[6].ID.Value+1 != p2[0].ID.Value {
		t.Fatalf("page 2 starts at %d after page 1 ended at %d", p2[0].ID.Value, p1[6].ID.Value)
	}

	for _, size := range []int{7, 50} {
		t.Run(fmt.Sprintf("branches/size=%d", size), func(t *testing.T) {
			all, err := WalkAll(ctx, size, sucursalID, func(ctx context.Context, q PageQuery) (Page[Sucursal], error) {
				return c.SucursalesPage(ctx, demo, q)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != cfg.Branches {
				t.Fatalf("walked %d branches, want %d", len(all), cfg.Branches)
			}
			seen := map[int64]bool{}
			for i, b := range all {
				if seen[b.ID.Value] {
					t.Fatalf("branch %d served twice", b.ID.Value)
				}
				seen[b.ID.Value] = true
				if i > 0 && b.ID.Value <= all[i-1].ID.Value {
					t.Fatalf("ids out of order at %d", i)
				}
			}
		})
	}
	taxes, err := WalkAll(ctx, 50, impuestoID, func(ctx context.Context, q PageQuery) (Page[Impuesto], error) {
		return c.ImpuestosPage(ctx, demo, q)
	})
	if err != nil || len(taxes) != cfg.Taxes {
		t.Fatalf("walked %d taxes (err %v), want %d", len(taxes), err, cfg.Taxes)
	}
	arts, err := WalkAll(ctx, 100, articuloID, func(ctx context.Context, q PageQuery) (Page[Articulo], error) {
		return c.ArticulosPage(ctx, demo, ArticuloQuery{PageQuery: q})
	})
	if err != nil || len(arts) != cfg.Articles {
		t.Fatalf("walked %d articles (err %v), want %d", len(arts), err, cfg.Articles)
	}
	// Calls: 300/7 -> 44 pages (42 full + short + empty: a short page
	// does not end a walk), 300/50 -> 7 pages (6 full + empty).
	calls := sim.Control().Stats.Snapshot().Calls["GET /api/v1/Sucursales"]
	if want := int64(2 + 44 + 7); calls != want {
		t.Fatalf("GET /api/v1/Sucursales called %d times, want %d", calls, want)
	}
}

func TestPagePastEndQuirk(t *testing.T) {
	_, srv, c := startSim(t, SimConfig{})
	raw := rawCall(t, http.MethodGet, srv.URL+PathSucursales+"?limite=50&pagina=1000", demoHeaders(), "")
	if raw.status != http.StatusOK {
		t.Fatalf("status %d", raw.status)
	}
	var code int
	var msg string
	raw.member(t, "code", &code)
	raw.member(t, "message", &msg)
	if code != 201 || msg != "No se encontraron registros" || string(raw.members["result"]) != "[]" {
		t.Fatalf("past-end answer = %s, want the seed's code 201 with result []", raw.body)
	}
	got, err := c.ListSucursales(context.Background(), demo, PageQuery{Limit: 50, Page: 1000})
	if err != nil || len(got) != 0 || got == nil {
		t.Fatalf("client: %v records, err %v; want an empty non-nil page", got, err)
	}
}

func TestArticuloCodigoFilter(t *testing.T) {
	_, srv, c := startSim(t, SimConfig{})
	ctx := context.Background()

	hit, err := c.ListArticulos(ctx, demo, ArticuloQuery{Codigo: "12345"})
	if err != nil || len(hit) != 1 || hit[0].Codigo != "12345" || hit[0].ID.Value != 2 {
		t.Fatalf("codigo 12345: %+v, err %v", hit, err)
	}

	raw := rawCall(t, http.MethodGet, srv.URL+PathArticulo+"?codigo=NO-EXISTE", demoHeaders(), "")
	var code int
	raw.member(t, "code", &code)
	if _, has := raw.members["result"]; has || code != 204 || raw.status != http.StatusOK {
		t.Fatalf("miss answered HTTP %d %s, want HTTP 200 code 204 without result", raw.status, raw.body)
	}
	miss, err := c.ListArticulos(ctx, demo, ArticuloQuery{Codigo: "NO-EXISTE"})
	if err != nil || len(miss) != 0 {
		t.Fatalf("miss: %v, err %v; want an empty page", miss, err)
	}
}

// newSucursal is a valid branch for writes.
func newSucursal() Sucursal {
	return Sucursal{
		IDTercero: wire.NewInt(1804), NitTercero: "900985549", Codigo: "9", ReferenciaSucursal: "",
		Descripcion: "SEDE PRUEBA GATEWAY", Direccion: "CL 84 # 51B-20", Telefono: "6053851234",
		IDCiudad: wire.NewInt(8001), CodigoCiudad: "08001", IDDepartamento: wire.NewInt(8), CodigoDepartamento: "08",
		IDPais: wire.NewInt(1), CodigoPais: "57", IDVendedor: wire.NewInt(3418), EsDireccionCobro: true,
	}
}

func TestSucursalWrites(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{})
	ctx := context.Background()

	res, err := c.CreateSucursal(ctx, demo, newSucursal())
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 201 || res.Message != "registro creado exitosamente" {
		t.Fatalf("create = %+v", res)
	}
	newID := int64(firstBranchID + sim.Config().Branches)
	last, err := c.ListSucursales(ctx, demo, PageQuery{Limit: 1, Page: sim.Config().Branches + 1})
	if err != nil || len(last) != 1 || last[0].ID.Value != newID || last[0].Descripcion != "SEDE PRUEBA GATEWAY" {
		t.Fatalf("created branch not served: %+v, err %v", last, err)
	}

	upd := last[0]
	upd.Descripcion = "PRUEBA CAMBIO"
	res, err = c.UpdateSucursal(ctx, demo, upd)
	if err != nil || res.Code != 200 || res.Message != "registro modificado exitosamente" {
		t.Fatalf("update = %+v, err %v", res, err)
	}
	again, _ := c.ListSucursales(ctx, demo, PageQuery{Limit: 1, Page: sim.Config().Branches + 1})
	if again[0].Descripcion != "PRUEBA CAMBIO" {
		t.Fatalf("update not applied: %+v", again[0])
	}

	upd.ID = wire.NewInt(99999)
	_, err = c.UpdateSucursal(ctx, demo, upd)
	ue := wantKind(t, err, upstream.KindNotFound)
	if ue.Code != "204" || !strings.Contains(ue.Message, "No se encontraron registros con el id 99999") || ue.Op != "PUT /api/v1/Sucursales" {
		t.Fatalf("not found error = %+v", ue)
	}
}

func TestValidationErrors(t *testing.T) {
	_, _, c := startSim(t, SimConfig{})
	ctx := context.Background()

	bad := newSucursal()
	bad.Descripcion = ""
	bad.Direccion = wire.Text(strings.Repeat("X", 51))
	_, err := c.CreateSucursal(ctx, demo, bad)
	ue := wantKind(t, err, upstream.KindBadRequest)
	want := []string{"El campo descripcion es obligatorio", "El campo direccion no puede tener mas de 50 caracteres"}
	if ue.Status != 400 || ue.Code != "400" || !slices.Equal(ue.Details, want) || ue.Message != "Se presentaron errores al crear el registro" {
		t.Fatalf("validation error = %+v, want details %q", ue, want)
	}

	_, err = c.CreateImpuesto(ctx, demo, Impuesto{Descripcion: "SIN VALOR", Aplica: wire.NewInt(1), Base: "0.00000", CuentaImpuesto: wire.NewInt(2659)})
	ue = wantKind(t, err, upstream.KindBadRequest)
	if !slices.Equal(ue.Details, []string{"El campo valor es obligatorio"}) {
		t.Fatalf("details = %q", ue.Details)
	}

	_, err = c.UpdateImpuesto(ctx, demo, Impuesto{Descripcion: "SIN ID", Valor: "1.00000", Aplica: wire.NewInt(1), Base: "0", CuentaImpuesto: wire.NewInt(1)})
	ue = wantKind(t, err, upstream.KindBadRequest)
	if !slices.Equal(ue.Details, []string{"El campo id es obligatorio"}) || ue.Message != "Se presentaron errores al modificar el registro" {
		t.Fatalf("update without id = %+v", ue)
	}
}

func TestImpuestoWrites(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{})
	ctx := context.Background()
	tax := Impuesto{Descripcion: "pruebaDescuento", Valor: "5.00000", Aplica: wire.NewInt(1), Base: "0.00000",
		CuentaImpuesto: wire.NewInt(2659), CuentaImpuestoDevolucion: wire.NewInt(2659), CuentaImpuestoBonificado: wire.NewInt(2659)}
	res, err := c.CreateImpuesto(ctx, demo, tax)
	if err != nil || res.Code != 201 {
		t.Fatalf("create = %+v, err %v", res, err)
	}
	n := sim.Config().Taxes + 1
	got, err := c.ListImpuestos(ctx, demo, PageQuery{Limit: 1, Page: n})
	if err != nil || len(got) != 1 || got[0].ID.Value != int64(n) || got[0].Valor != "5.00000" {
		t.Fatalf("created tax = %+v, err %v", got, err)
	}
	tax.ID = wire.NewInt(int64(n))
	tax.Valor = "19.00000"
	if res, err = c.UpdateImpuesto(ctx, demo, tax); err != nil || res.Code != 200 {
		t.Fatalf("update = %+v, err %v", res, err)
	}
	tax.ID = wire.NewInt(123456)
	_, err = c.UpdateImpuesto(ctx, demo, tax)
	wantKind(t, err, upstream.KindNotFound)
}

// newArticulo is a valid article for writes.
func newArticulo(code string) Articulo {
	return Articulo{
		Codigo: wire.Text(code), Descripcion: "ESTUFA PRUEBA " + wire.Text(code), IDGrupoContable: wire.NewInt(2),
		IDLinea: wire.NewInt(1), IDCategoria: wire.NewInt(1), IDPresentacion: wire.NewInt(5), IDMarca: wire.NewInt(1),
		IDUnidadMedida: wire.NewInt(3), Activo: true, Costo: "850000.00", PalabrasClave: "estufa,prueba",
		CamposPersonalizados: []byte(`{"COLOR":"NEGRO"}`),
	}
}

func TestArticulosBulk(t *testing.T) {
	_, _, c := startSim(t, SimConfig{})
	ctx := context.Background()

	items := []Articulo{newArticulo("GW-1"), newArticulo(""), newArticulo("GW-3"), newArticulo("123")}
	res, err := c.CreateArticulos(ctx, demo, items)
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := []string{"Articulo 2: El campo codigo es obligatorio", "Articulo 4: Ya existe un articulo con el codigo 123"}
	if res.Code != 201 || res.Message != "Se crearon 2 de 4 articulos" || !slices.Equal(res.Errors, wantErrs) {
		t.Fatalf("bulk create = %+v", res)
	}
	perItem, other := ParseItemErrors(res.Errors)
	if len(other) != 0 || len(perItem) != 2 || perItem[0].Index != 1 || perItem[1].Index != 3 ||
		perItem[0].Message != "El campo codigo es obligatorio" {
		t.Fatalf("ParseItemErrors = %+v, %q", perItem, other)
	}
	for _, code := range []string{"GW-1", "GW-3"} {
		got, err := c.ListArticulos(ctx, demo, ArticuloQuery{Codigo: code})
		if err != nil || len(got) != 1 || string(got[0].CamposPersonalizados) != `{"COLOR":"NEGRO"}` {
			t.Fatalf("created %s not served: %+v, err %v", code, got, err)
		}
	}

	// Bulk update: one known, one unknown id.
	gw1, _ := c.ListArticulos(ctx, demo, ArticuloQuery{Codigo: "GW-1"})
	upd := gw1[0]
	upd.Activo = false
	ghost := newArticulo("GHOST")
	ghost.ID = wire.NewInt(777777)
	res, err = c.UpdateArticulos(ctx, demo, []Articulo{ghost, upd})
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 200 || res.Message != "Se modificaron 1 de 2 articulos" ||
		!slices.Equal(res.Errors, []string{"Articulo 1: No se encontraron registros con el id 777777"}) {
		t.Fatalf("bulk update = %+v", res)
	}
	gw1, _ = c.ListArticulos(ctx, demo, ArticuloQuery{Codigo: "GW-1"})
	if gw1[0].Activo {
		t.Fatal("update not applied")
	}

	// Nothing valid: the whole call is a bad request listing every item.
	_, err = c.CreateArticulos(ctx, demo, []Articulo{newArticulo("GW-1"), {}})
	ue := wantKind(t, err, upstream.KindBadRequest)
	if ue.Message != "Se crearon 0 de 2 articulos" || len(ue.Details) < 2 || !strings.HasPrefix(ue.Details[0], "Articulo 1: ") {
		t.Fatalf("all-invalid bulk = %+v", ue)
	}
	_, err = c.CreateArticulos(ctx, demo, nil)
	wantKind(t, err, upstream.KindBadRequest)
}

func TestWrongCredentials(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{})
	for _, cred := range []Credential{
		{SecretKey: "wrong-secret", Token: demo.Token},
		{SecretKey: demo.SecretKey, Token: "wrong-token"},
	} {
		_, err := c.ListImpuestos(context.Background(), cred, PageQuery{})
		ue := wantKind(t, err, upstream.KindUnauthorized)
		if ue.Status != 401 || strings.Contains(err.Error(), "wrong-") {
			t.Fatalf("error = %v", err)
		}
	}
	_, err := c.ListImpuestos(context.Background(), Credential{}, PageQuery{})
	wantKind(t, err, upstream.KindUnauthorized)
	if calls := sim.Control().Stats.Snapshot().Calls["GET /api/v1/Impuesto"]; calls != 2 {
		t.Fatalf("calls = %d, want 2 (an empty credential is refused locally)", calls)
	}
}

func TestRawConcurrentUseOfTokenIsRefused(t *testing.T) {
	sim, srv, _ := startSim(t, SimConfig{CallDuration: 500 * time.Millisecond})
	stats := sim.Control().Stats
	statuses := make(chan int, 2)
	call := func() { // runs off the test goroutine: no t.Fatal here
		req, _ := http.NewRequest(http.MethodGet, srv.URL+PathImpuesto, nil)
		for k, v := range demoHeaders() {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			statuses <- 0
			return
		}
		resp.Body.Close()
		statuses <- resp.StatusCode
	}
	go call()
	// Send the second call only once the first holds the token.
	deadline := time.Now().Add(5 * time.Second)
	for stats.Snapshot().MaxConcurrentPerToken[demo.Token] < 1 {
		if time.Now().After(deadline) {
			t.Fatal("first call never reached the simulator")
		}
		time.Sleep(time.Millisecond)
	}
	go call()
	got := []int{<-statuses, <-statuses}
	slices.Sort(got)
	if !slices.Equal(got, []int{http.StatusOK, http.StatusTooManyRequests}) {
		t.Fatalf("statuses = %v, want one 200 and one 429", got)
	}
	snap := stats.Snapshot()
	if snap.ConcurrencyRejections != 1 || snap.MaxConcurrentPerToken[demo.Token] != 2 {
		t.Fatalf("stats = %+v, want 1 rejection and max 2", snap)
	}
}

func TestClientSerializesPerToken(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{CallDuration: 2 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = c.ListSucursales(context.Background(), demo, PageQuery{Limit: 5, Page: 1 + i})
			case 1:
				_, err = c.ListImpuestos(context.Background(), demo, PageQuery{Limit: 5})
			default:
				_, err = c.ListArticulos(context.Background(), demo, ArticuloQuery{Codigo: "123"})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	snap := sim.Control().Stats.Snapshot()
	if snap.ConcurrencyRejections != 0 || snap.MaxConcurrentPerToken[demo.Token] != 1 {
		t.Fatalf("stats = %+v, want 0 rejections and max 1 per token", snap)
	}
}

func TestInjectedFaults(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   upstream.Kind
	}{
		{500, upstream.KindServer},
		{502, upstream.KindUnavailable},
		{503, upstream.KindUnavailable},
		{504, upstream.KindUnavailable},
		{429, upstream.KindRateLimited},
		{403, upstream.KindForbidden},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			sim, _, c := startSim(t, SimConfig{})
			sim.Control().Faults.Set(simkit.Fault{Upstream: upstream.Serpi, Status: tc.status, Rate: 1})
			_, err := c.ListSucursales(context.Background(), demo, PageQuery{})
			ue := wantKind(t, err, tc.kind)
			if ue.Status != tc.status || ue.Code != fmt.Sprint(tc.status) || ue.Op != "GET /api/v1/Sucursales" {
				t.Fatalf("error = %+v", ue)
			}
			if tc.status == 429 && ue.RetryAfter != time.Second {
				t.Fatalf("RetryAfter = %v, want 1s", ue.RetryAfter)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{}, WithTimeout(50*time.Millisecond))
	sim.Control().Faults.Set(simkit.Fault{Upstream: upstream.Serpi, LatencyMS: 2000})
	start := time.Now()
	_, err := c.ListImpuestos(context.Background(), demo, PageQuery{})
	ue := wantKind(t, err, upstream.KindUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cause %v is not a deadline", ue.Err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("timed out after %v, want about 50ms", el)
	}
}

func TestSerializerWaitTimeout(t *testing.T) {
	ser := serializer.NewLocal()
	_, _, c := startSim(t, SimConfig{}, WithSerializer(ser))
	// Someone else holds the token's turn.
	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = ser.Do(context.Background(), serializerKey(demo.Token), func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := c.ListImpuestos(ctx, demo, PageQuery{})
	wantKind(t, err, upstream.KindUnavailable)
	if !errors.Is(err, serializer.ErrWaitTimeout) {
		t.Fatalf("error %v does not wrap ErrWaitTimeout", err)
	}
}

func TestSerializerKeyHidesToken(t *testing.T) {
	k := serializerKey("demo-token")
	if !strings.HasPrefix(k, "serpi:") || strings.Contains(k, "demo-token") || k != serializerKey("demo-token") || k == serializerKey("other") {
		t.Fatalf("bad key %q", k)
	}
}

func TestSeedGETExampleLiterally(t *testing.T) {
	_, srv, _ := startSim(t, SimConfig{})
	for _, auth := range []string{"Bearer demo-token", "bearer demo-token", "Bearerdemo-token"} {
		raw := rawCall(t, http.MethodGet, srv.URL+"/api/v1/Impuesto?limite=50&pagina=1",
			map[string]string{"secretkey": "demo-secret", "Authorization": auth}, "")
		if raw.status != http.StatusOK {
			t.Fatalf("%q: HTTP %d %s", auth, raw.status, raw.body)
		}
		var env struct {
			Success bool              `json:"success"`
			Code    int               `json:"code"`
			Errors  *[]string         `json:"errors"`
			Message string            `json:"message"`
			Result  []json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(raw.body, &env); err != nil {
			t.Fatal(err)
		}
		if !env.Success || env.Code != 200 || env.Errors != nil || env.Message != "50 registro(s) encontrados" || len(env.Result) != 50 {
			t.Fatalf("envelope = %+v", env)
		}
		want := `{"id":1,"descripcion":"IVA COMPRA 5%","valor":5.00000,"aplica":1,"_base":0.00000,"cuenta_impuesto":2659,"cuenta_impuesto_devolucion":2659,"cuenta_impuesto_bonificado":null}`
		if string(env.Result[0]) != want {
			t.Fatalf("first record\n got %s\nwant %s", env.Result[0], want)
		}
	}
}
