package serpi

import (
	"net/http"
	"testing"
)

// FuzzReportedCount feeds SERPI page messages to ReportedCount: it never
// panics and answers -1 or a count that fits the 9 digits it reads.
func FuzzReportedCount(f *testing.F) {
	for _, seed := range []string{
		"1 registro(s) encontrados", "x registro(s) encontrados", "No se encontraron registros",
		"No se encontraron registros con el id 1", "50 registros encontrados", "999999999 registro(s) encontrados",
		"99999999999999999999 registro(s) encontrados", "-1 registro(s) encontrados", "١٢ registro(s) encontrados",
		"", " ", "registro(s) encontrados", "0 registro(s) encontrados", "7\x00 registro(s) encontrados",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		n := ReportedCount(msg)
		if n < -1 || n > 999_999_999 {
			t.Fatalf("ReportedCount(%q) = %d", msg, n)
		}
	})
}

// FuzzPageAnswer feeds whole GET answers (HTTP status and body) through
// the client's reading of a page: interpret, the records and the reported
// count. It never panics; an answer read as a page has a non-nil record
// list and a count of -1 or more.
func FuzzPageAnswer(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"success":true,"code":200,"errors":null,"message":"1 registro(s) encontrados","result":[{"id":1,"codigo":"123"}]}`},
		{200, `{"success":true,"code":200,"message":"2 registro(s) encontrados","result":[{"id":1},{"id":1}]}`},
		{200, `{"success":true,"code":200,"message":"500 registro(s) encontrados","result":[{"id":1}]}`},
		{200, `{"success": true "code": 201, "message": "No se encontraron registros", "result": []}`},
		{200, `{"success":true,"code":204,"message":"No se encontraron registros",}`},
		{200, `{"success":true,"code":200,"message":"No se encontraron registros"}`},
		{200, `{"success":true,"code":200,"message":"1 registro(s) encontrados","result":{"id":"7","codigo":12}}`},
		{200, `[{"id":1},{"id":2}]`},
		{200, `{"code":"200","message":["x"],"result":"[]"}`},
		{401, `{"success":false,"code":401,"errors":["El token de autorizacion no es valido"],"message":"No autorizado"}`},
		{200, `{"success":false,"code":401,"message":"No autorizado"}`},
		{429, `{"success":false,"code":429,"message":"El token no puede ser consumido de manera simultanea"}`},
		{204, ``},
		{200, `<html>proxy</html>`},
		{200, `{"result":[{"id":1e999}]}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		env, err := interpret(demo, "GET "+PathArticulo, http.MethodGet, status, http.Header{}, body)
		if err != nil {
			return
		}
		items, derr := decodeResult[Articulo](env.Result)
		if derr == nil && items == nil {
			t.Fatal("a decoded page has a nil record list")
		}
		if n := ReportedCount(env.Message); n < -1 {
			t.Fatalf("reported count %d", n)
		}
	})
}
