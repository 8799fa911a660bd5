package serpi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// canned is one scripted answer of a fake SERPI.
type canned struct {
	status int
	header map[string]string
	body   string
}

// fakeSERPI answers every request with c. The returned function gives the
// last request received (guarded: the handler runs on another goroutine).
func fakeSERPI(t *testing.T, c canned) (*Client, func() *http.Request) {
	t.Helper()
	var mu sync.Mutex
	var last *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Clone(context.Background())
		mu.Unlock()
		for k, v := range c.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(c.status)
		_, _ = w.Write([]byte(c.body))
	}))
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, WithSerializer(serializer.NewLocal())), func() *http.Request {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// The seeds' record shapes, with their loose typing: numbers as strings,
// "" for ints, null extensions, booleans as 0/1, unknown members.
const looseSucursales = `{"success":true,"code":200,"errors":null,"message":"2 registro(s) encontrados","result":[
 {"id":"2317","id_tercero":1804,"nit_tercero":900985549,"codigo":0,"referencia_sucursal":"","descripcion":"PRUEBA",
  "direccion":"cra 22 # 4-44","direccion2":null,"telefono":"","telefono2":3001234567,"ext":null,"ext2":"12","movil":"",
  "id_ciudad":"5001","codigo_ciudad":"05001","id_departamento":5.0,"codigo_departamento":"05","id_pais":1,"codigo_pais":57,
  "id_vendedor":3418,"id_cobrador":"","es_direccionCobro":0,"es_direccionDespacho":"true","campo_nuevo":{"x":[1,2]}},
 {"id":2318,"id_tercero":1804,"telefono":6053851234,"es_direccionCobro":true}]}`

const looseImpuestos = `{"success":"true","code":"200","errors":[],"message":"1 registro(s) encontrados","result":[
 {"id":1,"descripcion":"IVA COMPRA 5%","valor":"5.00000","aplica":"1","_base":0.00000,"cuenta_impuesto":2659,
  "cuenta_impuesto_devolucion":null,"cuenta_impuesto_bonificado":"","extra":true}]}`

const looseArticulos = `{"Success":true,"Code":200,"Message":"1 registro(s) encontrados","Result":{"id":1,"codigo":123,
 "costo":"1000.00","costou":null,"peso":0.00000,"activo":1,"camposPersonalizados":{"PAGINAS":50,"AUTOR":"Juan"},
 "diasMaximo":"0","multiploCompra":1.00}}`

// The seed's own response text, slips included (missing comma after
// "success": true, trailing comma in camposPersonalizados).
const seedSlips = `{
"success": true
"code": 200,
"errors": null,
"message": "1 registro(s) encontrados",
"result": [
{
"id": 1,
"codigo": "123",
"costo": 1000.00,
"camposPersonalizados": {
   "PAGINAS": 50,
   "AUTOR": "Juan",
},
"activo": true
},
]
}`

func TestTolerantRecords(t *testing.T) {
	ctx := context.Background()

	c, _ := fakeSERPI(t, canned{status: 200, body: looseSucursales})
	b, err := c.ListSucursales(ctx, demo, PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := b[0]
	if got.ID.Value != 2317 || got.NitTercero != "900985549" || got.Codigo != "0" || got.Telefono != "" ||
		got.Telefono2 != "3001234567" || got.Ext != "" || got.Ext2 != "12" || got.IDCiudad.Value != 5001 ||
		got.IDDepartamento.Value != 5 || got.CodigoPais != "57" || got.IDCobrador.Valid || bool(got.EsDireccionCobro) || !bool(got.EsDireccionDespacho) {
		t.Fatalf("loose branch decoded as %+v", got)
	}
	if b[1].Telefono != "6053851234" || !bool(b[1].EsDireccionCobro) {
		t.Fatalf("second branch %+v", b[1])
	}

	c, _ = fakeSERPI(t, canned{status: 200, body: looseImpuestos})
	tx, err := c.ListImpuestos(ctx, demo, PageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if tx[0].Valor != "5.00000" || tx[0].Base != "0.00000" || tx[0].Aplica.Value != 1 || tx[0].CuentaImpuestoDevolucion.Valid || tx[0].CuentaImpuestoBonificado.Valid {
		t.Fatalf("loose tax decoded as %+v", tx[0])
	}

	// Capitalised members and a single object as result.
	c, _ = fakeSERPI(t, canned{status: 200, body: looseArticulos})
	a, err := c.ListArticulos(ctx, demo, ArticuloQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || a[0].Codigo != "123" || a[0].Costo != "1000.00" || !bool(a[0].Activo) || a[0].MultiploCompra != "1.00" || a[0].DiasMaximo.Value != 0 {
		t.Fatalf("loose article decoded as %+v", a)
	}

	c, _ = fakeSERPI(t, canned{status: 200, body: seedSlips})
	a, err = c.ListArticulos(ctx, demo, ArticuloQuery{})
	if err != nil {
		t.Fatalf("seed JSON with slips: %v", err)
	}
	if len(a) != 1 || a[0].Codigo != "123" || !json.Valid(a[0].CamposPersonalizados) {
		t.Fatalf("seed JSON with slips decoded as %+v", a)
	}
}

func TestEmptyAnswers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		resp canned
	}{
		{"HTTP 204 no body", canned{status: 204}},
		{"HTTP 200 empty body", canned{status: 200}},
		{"code 201 result []", canned{status: 200, body: `{"success":true,"code":201,"message":"No se encontraron registros","result":[]}`}},
		{"code 204 no result", canned{status: 200, body: `{"success":true,"code":204,"message":"No se encontraron registros"}`}},
		{"code 204 result null", canned{status: 200, body: `{"success":false,"code":204,"errors":null,"message":"No se encontraron registros","result":null}`}},
		{"HTTP 201 code 201", canned{status: 201, body: `{"success":true,"code":201,"message":"No se encontraron registros","result":[]}`}},
		{"code 200 result null", canned{status: 200, body: `{"success":true,"code":200,"errors":null,"message":"0 registro(s) encontrados","result":null}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeSERPI(t, tc.resp)
			got, err := c.ListImpuestos(ctx, demo, PageQuery{})
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("got %v, %v; want an empty page", got, err)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	html502 := "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
	for _, tc := range []struct {
		name    string
		method  string
		resp    canned
		kind    upstream.Kind
		code    string
		details []string
	}{
		{"HTML 502", http.MethodGet, canned{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: html502}, upstream.KindUnavailable, "", nil},
		{"HTML 200", http.MethodGet, canned{status: 200, body: "<html>mantenimiento</html>"}, upstream.KindInternal, "", nil},
		{"plain 503", http.MethodGet, canned{status: 503, body: "Service Unavailable"}, upstream.KindUnavailable, "", nil},
		{"500 envelope", http.MethodGet, canned{status: 500, body: `{"success":false,"code":500,"errors":["Object reference not set"],"message":"Error interno"}`}, upstream.KindServer, "500", []string{"Object reference not set"}},
		{"HTTP 200 body code 500", http.MethodGet, canned{status: 200, body: `{"success":false,"code":500,"message":"Error interno"}`}, upstream.KindServer, "500", nil},
		{"401", http.MethodGet, canned{status: 401, body: `{"success":false,"code":401,"errors":["token vencido"],"message":"No autorizado"}`}, upstream.KindUnauthorized, "401", []string{"token vencido"}},
		{"HTTP 200 body code 401", http.MethodGet, canned{status: 200, body: `{"success":false,"code":401,"message":"No autorizado"}`}, upstream.KindUnauthorized, "401", nil},
		{"403 no body", http.MethodGet, canned{status: 403}, upstream.KindForbidden, "", nil},
		{"404", http.MethodGet, canned{status: 404, body: "Not Found"}, upstream.KindNotFound, "", nil},
		{"token in use", http.MethodGet, canned{status: 429, body: `{"success":false,"code":429,"errors":["El token se encuentra en uso"],"message":"x"}`}, upstream.KindRateLimited, "429", []string{"El token se encuentra en uso"}},
		{"token in use as 409", http.MethodGet, canned{status: 409, body: `{"success":false,"code":429,"errors":["El token se encuentra en uso"]}`}, upstream.KindRateLimited, "429", []string{"El token se encuentra en uso"}},
		{"GET body code 400", http.MethodGet, canned{status: 200, body: `{"success":false,"code":400,"errors":["limite invalido"],"message":"m"}`}, upstream.KindBadRequest, "400", []string{"limite invalido"}},
		{"GET result not a list", http.MethodGet, canned{status: 200, body: `{"success":true,"code":200,"result":42}`}, upstream.KindInternal, "200", nil},
		{"GET malformed record", http.MethodGet, canned{status: 200, body: `{"success":true,"code":200,"result":[{"valor":"cinco"}]}`}, upstream.KindInternal, "200", nil},
		{"PUT code 204", http.MethodPut, canned{status: 200, body: `{"success":false,"code":204,"errors":null,"message":"No se encontraron registros con el id 7"}`}, upstream.KindNotFound, "204", nil},
		{"PUT HTTP 204", http.MethodPut, canned{status: 204}, upstream.KindNotFound, "", nil},
		{"POST code 400 HTTP 200", http.MethodPost, canned{status: 200, body: `{"success":false,"code":400,"errors":["El campo descripcion es obligatorio"],"message":"Se presentaron errores al crear el registro"}`}, upstream.KindBadRequest, "400", []string{"El campo descripcion es obligatorio"}},
		{"POST errors without code", http.MethodPost, canned{status: 200, body: `{"success":false,"errors":"El campo aplica es obligatorio"}`}, upstream.KindBadRequest, "", []string{"El campo aplica es obligatorio"}},
		{"POST errors as object", http.MethodPost, canned{status: 400, body: `{"success":false,"code":400,"errors":{"valor":["requerido"]}}`}, upstream.KindBadRequest, "400", []string{`{"valor":["requerido"]}`}},
		{"POST success false no errors", http.MethodPost, canned{status: 200, body: `{"success":false,"code":200,"message":"fallo"}`}, upstream.KindServer, "200", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeSERPI(t, tc.resp)
			var err error
			switch tc.method {
			case http.MethodGet:
				_, err = c.ListImpuestos(context.Background(), demo, PageQuery{})
			case http.MethodPut:
				_, err = c.UpdateImpuesto(context.Background(), demo, Impuesto{})
			default:
				_, err = c.CreateImpuesto(context.Background(), demo, Impuesto{})
			}
			ue := wantKind(t, err, tc.kind)
			if ue.Status != tc.resp.status || ue.Code != tc.code || !slices.Equal(ue.Details, tc.details) {
				t.Fatalf("error = %+v (status %d code %q details %q)", ue, ue.Status, ue.Code, ue.Details)
			}
			if ue.Op != tc.method+" "+PathImpuesto {
				t.Fatalf("op = %q", ue.Op)
			}
		})
	}
}

func TestWriteSuccessShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp canned
		want WriteResult
	}{
		{"seed create", canned{status: 201, body: `{"success":true,"code":201,"errors":null,"message":"registro creado exitosamente"}`},
			WriteResult{Code: 201, Message: "registro creado exitosamente"}},
		{"seed update no errors member", canned{status: 200, body: `{"success": true, "code": 200, "message": "registro modificado exitosamente"}`},
			WriteResult{Code: 200, Message: "registro modificado exitosamente"}},
		{"bulk partial", canned{status: 201, body: `{"success":true,"code":201,"errors":["Articulo 3: El campo codigo es obligatorio"],"message":"Se crearon 9 de 10 articulos"}`},
			WriteResult{Code: 201, Message: "Se crearon 9 de 10 articulos", Errors: []string{"Articulo 3: El campo codigo es obligatorio"}}},
		{"HTTP 201 empty", canned{status: 201}, WriteResult{Code: 201}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeSERPI(t, tc.resp)
			got, err := c.CreateArticulos(context.Background(), demo, []Articulo{newArticulo("X")})
			if err != nil {
				t.Fatal(err)
			}
			if got.Code != tc.want.Code || got.Message != tc.want.Message || !slices.Equal(got.Errors, tc.want.Errors) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	c, lastRequest := fakeSERPI(t, canned{status: 200, body: `{"success":true,"code":200,"result":[]}`})
	if _, err := c.ListArticulos(context.Background(), demo, ArticuloQuery{PageQuery: PageQuery{Limit: 50, Page: 1}, Codigo: "12345"}); err != nil {
		t.Fatal(err)
	}
	last := lastRequest()
	if last.URL.Path != PathArticulo || last.URL.Query().Get("limite") != "50" || last.URL.Query().Get("pagina") != "1" || last.URL.Query().Get("codigo") != "12345" {
		t.Fatalf("request URL %s", last.URL)
	}
	if last.Header.Get("secretkey") != "demo-secret" || last.Header.Get("Authorization") != "Bearer demo-token" {
		t.Fatalf("headers %v", last.Header)
	}
	if _, err := c.CreateArticulos(context.Background(), demo, []Articulo{newArticulo("A")}); err != nil {
		t.Fatal(err)
	}
	last = lastRequest()
	if last.Method != http.MethodPost || !strings.HasPrefix(last.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("write request %s %v", last.Method, last.Header)
	}
}

func TestRetryAfter(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	c, _ := fakeSERPI(t, canned{status: 429, header: map[string]string{"Retry-After": when}, body: `{"success":false,"code":429}`})
	_, err := c.ListImpuestos(context.Background(), demo, PageQuery{})
	ue := wantKind(t, err, upstream.KindRateLimited)
	if ue.RetryAfter < 80*time.Second || ue.RetryAfter > 91*time.Second {
		t.Fatalf("RetryAfter = %v, want about 90s", ue.RetryAfter)
	}
	if parseRetryAfter("-3", time.Now()) != 0 || parseRetryAfter("soon", time.Now()) != 0 || parseRetryAfter(" 7 ", time.Now()) != 7*time.Second {
		t.Fatal("parseRetryAfter")
	}
}

func TestOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat(" ", 1<<20))
		for range 33 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL, WithSerializer(serializer.NewLocal()))
	_, err := c.ListImpuestos(context.Background(), demo, PageQuery{})
	ue := wantKind(t, err, upstream.KindInternal)
	if !strings.Contains(ue.Message, "32 MiB") {
		t.Fatalf("message %q", ue.Message)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := NewClient(url, WithSerializer(serializer.NewLocal()))
	_, err := c.ListSucursales(context.Background(), demo, PageQuery{})
	wantKind(t, err, upstream.KindUnavailable)
}

func TestRedirectsAreRefused(t *testing.T) {
	var leaked bool
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("secretkey") != ""
	}))
	defer evil.Close()
	c, _ := fakeSERPI(t, canned{status: http.StatusFound, header: map[string]string{"Location": evil.URL}})
	_, err := c.ListSucursales(context.Background(), demo, PageQuery{})
	wantKind(t, err, upstream.KindServer)
	if leaked {
		t.Fatal("the secret key followed a redirect")
	}
}

func TestNoCredentialInErrors(t *testing.T) {
	cred := Credential{SecretKey: "s3cr3t-KEY-8841", Token: "tok-ABCDEF-991"}
	// An upstream that quotes what it was sent.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"success":false,"code":401,"errors":["token ` + bearerToken(r.Header.Get("Authorization")) +
			` invalido"],"message":"secretkey ` + r.Header.Get("secretkey") + ` invalida"}`))
	}))
	defer echo.Close()
	sim, srv, _ := startSim(t, SimConfig{})
	var errs []error
	for _, base := range []string{echo.URL, srv.URL, "http://127.0.0.1:1"} {
		c := NewClient(base, WithSerializer(serializer.NewLocal()), WithTimeout(time.Second))
		_, err := c.ListSucursales(context.Background(), cred, PageQuery{})
		errs = append(errs, err)
		_, err = c.UpdateArticulos(context.Background(), cred, []Articulo{newArticulo("x")})
		errs = append(errs, err)
	}
	bad := Credential{SecretKey: "s3cr3t\nKEY", Token: "tok\r\nX-Evil: 1"}
	_, err := NewClient(srv.URL, WithSerializer(serializer.NewLocal())).ListImpuestos(context.Background(), bad, PageQuery{})
	errs = append(errs, err)
	sim.Control().Faults.Set(faultAll(503))
	_, err = NewClient(srv.URL, WithSerializer(serializer.NewLocal())).ListImpuestos(context.Background(), cred, PageQuery{})
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		var ue *upstream.Error
		if !errors.As(err, &ue) {
			t.Fatalf("%T is not *upstream.Error", err)
		}
		text := err.Error() + " " + ue.Message + " " + strings.Join(ue.Details, " ")
		for _, secret := range []string{cred.SecretKey, cred.Token, bad.SecretKey, bad.Token, "s3cr3t", "tok-ABCDEF"} {
			if strings.Contains(text, secret) {
				t.Fatalf("error leaks %q: %s", secret, text)
			}
		}
	}
}
