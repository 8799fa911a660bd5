package serpi

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// allBranches walks the simulator's branches through the client.
func allBranches(t *testing.T, c *Client) []Sucursal {
	t.Helper()
	all, err := WalkAll(context.Background(), 1000, sucursalID, func(ctx context.Context, q PageQuery) (Page[Sucursal], error) {
		return c.SucursalesPage(ctx, demo, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func TestSimulatorIsDeterministic(t *testing.T) {
	var servers []string
	for _, seed := range []uint64{7, 7, 8} {
		_, srv, _ := startSim(t, SimConfig{Seed: seed})
		servers = append(servers, srv.URL)
	}
	for _, path := range []string{PathSucursales, PathImpuesto, PathArticulo} {
		var pages [][]byte
		for _, base := range servers {
			pages = append(pages, rawCall(t, http.MethodGet, base+path+"?limite=1000", demoHeaders(), "").body)
		}
		if !bytes.Equal(pages[0], pages[1]) {
			t.Fatalf("%s differs between two simulators with the same seed", path)
		}
		if bytes.Equal(pages[0], pages[2]) {
			t.Fatalf("%s identical for different seeds", path)
		}
	}
}

func TestSimulatorBranchData(t *testing.T) {
	_, _, c := startSim(t, SimConfig{})
	all := allBranches(t, c)
	perNIT := map[string]int{}
	terceroOf := map[string]int64{}
	for _, b := range all {
		nit := string(b.NitTercero)
		perNIT[nit]++
		if id, seen := terceroOf[nit]; seen && id != b.IDTercero.Value {
			t.Fatalf("NIT %s has two tercero ids", nit)
		}
		terceroOf[nit] = b.IDTercero.Value
		if code, _ := strconv.ParseInt(string(b.CodigoCiudad), 10, 64); code != b.IDCiudad.Value || !strings.HasPrefix(string(b.CodigoCiudad), string(b.CodigoDepartamento)) {
			t.Fatalf("branch %d: city %v/%s, department %s disagree", b.ID.Value, b.IDCiudad, b.CodigoCiudad, b.CodigoDepartamento)
		}
		if b.CodigoPais != "57" || b.IDPais.Value != 1 {
			t.Fatalf("branch %d: country %s", b.ID.Value, b.CodigoPais)
		}
		if n := utf8.RuneCountInString(string(b.Descripcion)); n == 0 || n > maxFieldLen {
			t.Fatalf("branch %d: descripcion %q", b.ID.Value, b.Descripcion)
		}
	}
	if len(perNIT) != numTerceros {
		t.Fatalf("%d NITs own branches, want %d", len(perNIT), numTerceros)
	}
	for _, nit := range []string{"123456789", "987654321"} {
		if perNIT[nit] < 3 {
			t.Fatalf("customer NIT %s owns %d branches, want >= 3", nit, perNIT[nit])
		}
	}
	if perNIT[seedTerceroNIT] == 0 || all[seedBranchID-firstBranchID].Descripcion != "PRUEBA" {
		t.Fatal("the seed's branch 2317 is missing")
	}
	t.Logf("branches per NIT: %v", perNIT)

	// Custom customers are honoured too, even with few branches.
	_, _, c = startSim(t, SimConfig{Branches: 12, CustomerNITs: []string{"1001", "1002", "1003"}})
	perNIT = map[string]int{}
	for _, b := range allBranches(t, c) {
		perNIT[string(b.NitTercero)]++
	}
	for _, nit := range []string{"1001", "1002", "1003"} {
		if perNIT[nit] < 3 {
			t.Fatalf("customer %s owns %d of 12 branches", nit, perNIT[nit])
		}
	}
}

func TestSimulatorTinyConfigs(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		_, _, c := startSim(t, SimConfig{Branches: n, Taxes: n, Articles: n})
		if got := len(allBranches(t, c)); got != n {
			t.Fatalf("Branches=%d served %d", n, got)
		}
	}
}

func TestSimulatorArticleAndTaxData(t *testing.T) {
	_, _, c := startSim(t, SimConfig{})
	ctx := context.Background()
	arts, err := WalkAll(ctx, 1000, articuloID, func(ctx context.Context, q PageQuery) (Page[Articulo], error) {
		return c.ArticulosPage(ctx, demo, ArticuloQuery{PageQuery: q})
	})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	inactive, nullCustom := 0, 0
	for _, a := range arts {
		if a.Codigo == "" || codes[string(a.Codigo)] {
			t.Fatalf("article %d: empty or duplicate codigo %q", a.ID.Value, a.Codigo)
		}
		codes[string(a.Codigo)] = true
		if !a.Activo {
			inactive++
		}
		if string(a.CamposPersonalizados) == "null" {
			nullCustom++
		}
		if !strings.Contains(string(a.PalabrasClave), ",") {
			t.Fatalf("article %d: palabrasClave %q", a.ID.Value, a.PalabrasClave)
		}
		if whole, frac, ok := strings.Cut(string(a.Costo), "."); !ok || len(frac) != 2 || whole == "" {
			t.Fatalf("article %d: costo %q, want 2 decimals", a.ID.Value, a.Costo)
		}
	}
	if inactive == 0 || nullCustom == 0 || nullCustom == len(arts) {
		t.Fatalf("want some inactive articles (%d) and some null camposPersonalizados (%d)", inactive, nullCustom)
	}

	taxes, err := WalkAll(ctx, 1000, impuestoID, func(ctx context.Context, q PageQuery) (Page[Impuesto], error) {
		return c.ImpuestosPage(ctx, demo, q)
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, tx := range taxes {
		if _, frac, _ := strings.Cut(string(tx.Valor), "."); len(frac) != 5 {
			t.Fatalf("tax %d: valor %q, want 5 decimals", tx.ID.Value, tx.Valor)
		}
		if utf8.RuneCountInString(string(tx.Descripcion)) > maxFieldLen {
			t.Fatalf("tax %d: descripcion too long", tx.ID.Value)
		}
		kinds[strings.Fields(string(tx.Descripcion))[0]] = true
	}
	for _, k := range []string{"IVA", "RETEFUENTE", "RETEICA", "RETEIVA"} {
		if !kinds[k] {
			t.Fatalf("no %s tax among %v", k, kinds)
		}
	}
	if !slices.ContainsFunc(taxes, func(tx Impuesto) bool { return tx.Descripcion == "IVA VENTA 19%" && tx.Valor == "19.00000" }) {
		t.Fatal("IVA VENTA 19% missing")
	}
}

func TestSimulatorQueryParameters(t *testing.T) {
	_, srv, _ := startSim(t, SimConfig{})
	for _, q := range []string{"limite=abc", "limite=0", "limite=1001", "pagina=0", "pagina=-1", "Limite=x"} {
		raw := rawCall(t, http.MethodGet, srv.URL+PathSucursales+"?"+q, demoHeaders(), "")
		var code int
		var errs []string
		raw.member(t, "code", &code)
		raw.member(t, "errors", &errs)
		if raw.status != 400 || code != 400 || len(errs) == 0 {
			t.Fatalf("%s: HTTP %d %s, want a 400 envelope", q, raw.status, raw.body)
		}
	}
	for _, q := range []string{"Limite=5&Pagina=2", "LIMITE=5&PAGINA=2", "l%C3%ADmite=5&p%C3%A1gina=2"} {
		raw := rawCall(t, http.MethodGet, srv.URL+PathSucursales+"?"+q, demoHeaders(), "")
		var result []struct {
			ID int64 `json:"id"`
		}
		raw.member(t, "result", &result)
		if len(result) != 5 || result[0].ID != firstBranchID+5 {
			t.Fatalf("%s: got %d records from %v", q, len(result), result)
		}
	}
}

func TestSimulatorAuth(t *testing.T) {
	_, srv, _ := startSim(t, SimConfig{Credentials: map[string][]string{"k1": {"t1", "t2"}}})
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"ok", map[string]string{"secretkey": "k1", "Authorization": "Bearer t2"}, 200},
		{"no space", map[string]string{"secretkey": "k1", "Authorization": "Bearert1"}, 200},
		{"lower case", map[string]string{"SecretKey": "k1", "Authorization": "bearer t1"}, 200},
		{"no secret", map[string]string{"Authorization": "Bearer t1"}, 401},
		{"wrong secret", map[string]string{"secretkey": "k2", "Authorization": "Bearer t1"}, 401},
		{"no token", map[string]string{"secretkey": "k1"}, 401},
		{"basic", map[string]string{"secretkey": "k1", "Authorization": "Basic t1"}, 401},
		{"token of nobody", map[string]string{"secretkey": "k1", "Authorization": "Bearer t3-sent"}, 401},
	} {
		raw := rawCall(t, http.MethodGet, srv.URL+PathImpuesto, tc.header, "")
		if raw.status != tc.status {
			t.Fatalf("%s: HTTP %d %s", tc.name, raw.status, raw.body)
		}
		if tc.status == 401 {
			var code int
			var success bool
			raw.member(t, "code", &code)
			raw.member(t, "success", &success)
			if code != 401 || success || bytes.Contains(raw.body, []byte("t3-sent")) {
				t.Fatalf("%s: body %s", tc.name, raw.body)
			}
		}
	}
}

func TestSimulatorSeedWriteExamples(t *testing.T) {
	_, srv, c := startSim(t, SimConfig{})
	h := demoHeaders()
	post := func(path, body string) rawResponse { return rawCall(t, http.MethodPost, srv.URL+path, h, body) }
	put := func(path, body string) rawResponse { return rawCall(t, http.MethodPut, srv.URL+path, h, body) }
	expect := func(what string, r rawResponse, status, code int, message string) {
		t.Helper()
		var gotCode int
		var gotMsg string
		r.member(t, "code", &gotCode)
		r.member(t, "message", &gotMsg)
		if r.status != status || gotCode != code || gotMsg != message {
			t.Fatalf("%s: HTTP %d %s; want HTTP %d code %d %q", what, r.status, r.body, status, code, message)
		}
	}

	// Sucursales POST and PUT exactly as the seed shows them.
	expect("POST Sucursales", post(PathSucursales, `{"id_tercero": 1804, "nit_tercero": "900985549", "codigo": 0, "referencia_sucursal": null,
		"descripcion": "PRUEBA", "direccion": "cra 22 #4-44", "direccion2": null, "telefono": null, "telefono2": null, "ext": null,
		"ext2": null, "movil": null, "id_ciudad": 5001, "codigo_ciudad": "05001", "id_departamento": 5, "codigo_departamento": "05",
		"id_pais": 1, "codigo_pais": "57", "id_vendedor": 3418, "id_cobrador": null, "es_direccionCobro": false, "es_direccionDespacho": false}`),
		201, 201, "registro creado exitosamente")
	expect("PUT Sucursales", put(PathSucursales, `{"id": 2317, "id_tercero": 1804, "codigo": 0, "referencia_sucursal": "",
		"descripcion": "PRUEBA CAMBIO", "direccion": "cra 22 #4-44", "direccion2": "", "telefono": "", "telefono2": "", "ext": null,
		"ext2": null, "movil": "", "id_ciudad": 5001, "id_departamento": 5, "id_pais": 1, "id_vendedor": 3418, "id_cobrador": null,
		"es_direccionCobro": false, "es_direccionDespacho": false}`),
		200, 200, "registro modificado exitosamente")
	got, err := c.ListSucursales(context.Background(), demo, PageQuery{Limit: 1, Page: seedBranchID - firstBranchID + 1})
	if err != nil || got[0].Descripcion != "PRUEBA CAMBIO" || got[0].NitTercero != seedTerceroNIT || got[0].CodigoCiudad != "05001" || got[0].CodigoDepartamento != "05" {
		t.Fatalf("after the seed's PUT: %+v, %v", got, err)
	}
	r := put(PathSucursales, `{"id": 1, "id_tercero": 1804, "codigo": 0, "referencia_sucursal": "", "descripcion": "X", "direccion": "Y",
		"telefono": "", "id_ciudad": 5001, "id_departamento": 5, "id_pais": 1, "id_vendedor": 3418, "es_direccionCobro": false, "es_direccionDespacho": false}`)
	expect("PUT unknown", r, 200, 204, "No se encontraron registros con el id 1")
	if string(r.members["success"]) != "false" || string(r.members["errors"]) != "null" {
		t.Fatalf("PUT unknown body %s", r.body)
	}

	// Impuesto: the seed's POST, its PUT (id 123 does not exist among 120).
	expect("POST Impuesto", post(PathImpuesto, `{"descripcion": "pruebaDescuento", "valor": 5.00000, "aplica": 1, "_base": 0.00000,
		"cuenta_impuesto": 2659, "cuenta_impuesto_devolucion": 2659, "cuenta_impuesto_bonificado": 2659}`), 201, 201, "registro creado exitosamente")
	expect("PUT Impuesto 123", put(PathImpuesto, `{"id": 123, "descripcion": "pruebanueva", "valor": 5.00000, "aplica": 1, "_base": 0.00000,
		"cuenta_impuesto": 2659, "cuenta_impuesto_devolucion": 2659, "cuenta_impuesto_bonificado": 2659}`), 200, 204, "No se encontraron registros con el id 123")
	expect("PUT Impuesto 121", put(PathImpuesto, `{"id": 121, "descripcion": "pruebanueva", "valor": 5.00000, "aplica": 1, "_base": 0.00000,
		"cuenta_impuesto": 2659}`), 200, 200, "registro modificado exitosamente")

	// Validation messages name the fields, the seed's way.
	r = post(PathImpuesto, `{"valor": "cinco", "aplica": 1, "_base": null}`)
	expect("POST Impuesto invalid", r, 400, 400, "Se presentaron errores al crear el registro")
	var errs []string
	r.member(t, "errors", &errs)
	want := []string{"El campo valor no tiene un formato valido", "El campo descripcion es obligatorio", "El campo _base es obligatorio", "El campo cuenta_impuesto es obligatorio"}
	if !slices.Equal(errs, want) {
		t.Fatalf("errors %q, want %q", errs, want)
	}
	expect("not JSON", post(PathImpuesto, `{"descripcion": `), 400, 400, "Se presentaron errores al crear el registro")
	expect("array for a record", post(PathSucursales, `[]`), 400, 400, "Se presentaron errores al crear el registro")

	// Articulo: the seed's POST item (slip fixed) collides with article 123.
	item := `{"codigo": "123", "referencia": "456", "barras": "123456789", "descripcion": "ARTICULO1", "idgrupocontable": 2,
		"descripcionalterna": null, "idlinea": 1, "idcategoria": 2, "idpresentacion": 5, "idmarca": 1, "idunidadmedida": 3,
		"peso": 0.00000, "costo": 1000.00, "costou": null, "activo": true, "posicionarancel": "1332", "porcentajeArancel": 0.00000,
		"diasMaximo": 0, "diasminimo": 0, "diasoptimo": 0, "dias_reposicion": 0, "tipoPlaneacion": 0, "multiploCompra": 1.00,
		"pedidoMinimo": 1.00000, "stockMinimoUnidades": null, "stockOptimoUnidades": null, "aplicaPromocion": false, "aplicaKit": false,
		"exportable": false, "volumen": 1.00000, "ubicacion": 1.00000, "ubicacionAlfanumerica": "1", "palabrasClave": "prueba,articulo,casa",
		"camposPersonalizados": {"PAGINAS": 50, "Comentarios": "Cliente proveedor ", "AUTOR": "Juan"},
		"aplicaAiu": true, "porcentajeAiu": 11.00, "idgrupocontableAiu": 3}`
	r = post(PathArticulo, "["+item+"]")
	expect("POST Articulo duplicate", r, 400, 400, "Se crearon 0 de 1 articulos")
	r.member(t, "errors", &errs)
	if !slices.Equal(errs, []string{"Articulo 1: Ya existe un articulo con el codigo 123"}) {
		t.Fatalf("errors %q", errs)
	}
	r = post(PathArticulo, "["+strings.Replace(item, `"123"`, `"NUEVO-1"`, 1)+"]")
	expect("POST Articulo", r, 201, 201, "Se crearon 1 de 1 articulos")
	if string(r.members["errors"]) != "[]" {
		t.Fatalf("errors member %s, want [] as in the seed", r.members["errors"])
	}
	expect("PUT Articulo", put(PathArticulo, "["+strings.Replace(item, `{"codigo": "123"`, `{"id": 1, "codigo": "123"`, 1)+"]"),
		200, 200, "Se modificaron 1 de 1 articulos")
	// Article texts have the tables' 50-character limit (the keyword list
	// excepted); an over-long item is refused by position.
	long := strings.Repeat("ñ", 51)
	r = post(PathArticulo, "["+strings.Replace(item, `"123"`, `"NUEVO-2"`, 1)+","+
		strings.NewReplacer(`"123"`, `"NUEVO-3"`, `"ARTICULO1"`, `"`+long+`"`, `"prueba,articulo,casa"`, `"`+long+`,`+long+`"`).Replace(item)+"]")
	expect("POST Articulo too long", r, 201, 201, "Se crearon 1 de 2 articulos")
	r.member(t, "errors", &errs)
	if !slices.Equal(errs, []string{"Articulo 2: El campo descripcion no puede tener mas de 50 caracteres"}) {
		t.Fatalf("errors %q", errs)
	}
	expect("empty bulk", post(PathArticulo, `[]`), 400, 400, "Se presentaron errores al crear los articulos")
	expect("object for bulk", post(PathArticulo, item), 400, 400, "Se presentaron errores al crear los articulos")
}

func TestSimulatorStatsKeysAndFaults(t *testing.T) {
	sim, srv, _ := startSim(t, SimConfig{})
	h := demoHeaders()
	for _, path := range []string{PathSucursales, PathImpuesto, PathArticulo} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
			body := ""
			if m != http.MethodGet {
				body = "{}"
			}
			rawCall(t, m, srv.URL+path, h, body)
		}
	}
	calls := sim.Control().Stats.Snapshot().Calls
	for _, path := range []string{PathSucursales, PathImpuesto, PathArticulo} {
		for _, m := range []string{"GET", "POST", "PUT"} {
			if calls[m+" "+path] != 1 {
				t.Fatalf("calls[%q] = %d; all: %v", m+" "+path, calls[m+" "+path], calls)
			}
		}
	}
	if len(calls) != 9 {
		t.Fatalf("unexpected keys %v", calls)
	}

	sim.Control().Faults.Set(simkit.Fault{Upstream: upstream.Serpi, Status: 503, Rate: 1})
	r := rawCall(t, http.MethodGet, srv.URL+PathImpuesto, h, "")
	var code int
	r.member(t, "code", &code)
	if r.status != 503 || code != 503 || string(r.members["success"]) != "false" {
		t.Fatalf("fault answer HTTP %d %s", r.status, r.body)
	}
	// /_sim is the Control's, not mounted here.
	resp, err := http.Get(srv.URL + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/_sim/stats on the SERPI handler: HTTP %d", resp.StatusCode)
	}
}
