package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

const registerMutation = `mutation($in: RegisterInput!) { register(input: $in) { trackingCode requestId state message } }`

// registerCalls is the simulator's counter of POST register.
const registerCalls = "POST " + brilla.PathRegister

// Documents recognized by their magic bytes, with a marker that must never
// show up in a response or a log.
var (
	regJPEG = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00}, []byte("jpeg-body-CONTENT-MARKER")...)
	regPNG  = append([]byte{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, []byte("png-body-CONTENT-MARKER")...)
	regPDF  = []byte("%PDF-1.7\n% CONTENT-MARKER\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	regELF  = append([]byte{0x7F, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00}, []byte("elf-body-CONTENT-MARKER")...)
)

// registerPayload is register's answer.
type registerPayload struct {
	Register struct {
		TrackingCode string
		RequestID    int
		State        string
		Message      string
	}
}

// regCapture records the register bodies Brilla's simulator received.
type regCapture struct {
	mu     sync.Mutex
	bodies []brilla.RegisterRequest
}

func (c *regCapture) last(t *testing.T) brilla.RegisterRequest {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bodies) == 0 {
		t.Fatal("Brilla received no registration")
	}
	return c.bodies[len(c.bodies)-1]
}

// newRegisterEnv is a gateway over the simulators whose upstream also
// records every register body, so a test can see what Brilla received.
func newRegisterEnv(t *testing.T, cfg sim.Config, tune func(*server.Config)) (*env, *regCapture) {
	t.Helper()
	s := sim.New(cfg)
	simHandler := s.Handler()
	c := &regCapture{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == brilla.PathRegister {
			raw, _ := io.ReadAll(r.Body)
			var req brilla.RegisterRequest
			if err := json.Unmarshal(raw, &req); err == nil {
				c.mu.Lock()
				c.bodies = append(c.bodies, req)
				c.mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(raw))
		}
		simHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	e := &env{t: t, sim: s, upstream: up, logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	e.gateway = newGateway(t, e, tune)
	return e, c
}

// regInput is a valid RegisterInput; attachments are set by each test.
func regInput(attachments ...map[string]any) map[string]any {
	list := make([]any, len(attachments))
	for i, a := range attachments {
		list[i] = a
	}
	return map[string]any{
		"vat":              "1012345678",
		"vatType":          "CEDULA",
		"name":             "Ana María Pérez",
		"email":            "ana.perez@example.com",
		"phone":            "3001234567",
		"contractNumber":   "12345678",
		"birthDate":        "1990-05-20",
		"birthCity":        "Barranquilla",
		"idExpeditionDate": "2008-06-01",
		"idExpeditionCity": "Barranquilla",
		"address":          "Calle 72 # 45-10",
		"city":             "Barranquilla",
		"attachments":      list,
	}
}

func b64Attachment(name string, content []byte) map[string]any {
	return map[string]any{"name": name, "base64": base64.StdEncoding.EncodeToString(content)}
}

// uploadSlot is an attachment whose file comes as a multipart part.
func uploadSlot(name string) map[string]any { return map[string]any{"name": name, "file": nil} }

// regFile is one file part of a multipart request.
type regFile struct {
	path     string // where it goes in the operation, e.g. variables.in.attachments.0.file
	filename string
	ctype    string
	content  []byte
}

const regBoundary = "----brilla-gateway-test-7f3a9c2e"

// multipartBody writes a GraphQL multipart request by hand, following
// https://github.com/jaydenseric/graphql-multipart-request-spec: an
// "operations" part (the JSON request with null where files go), a "map"
// part (file part name -> paths in operations), then one part per file.
func multipartBody(t *testing.T, query string, vars map[string]any, files []regFile) []byte {
	t.Helper()
	operations, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	fileMap := map[string][]string{}
	for i, f := range files {
		fileMap[fmt.Sprint(i)] = []string{f.path}
	}
	mapJSON, _ := json.Marshal(fileMap)

	var b bytes.Buffer
	b.WriteString("--" + regBoundary + "\r\n")
	b.WriteString("Content-Disposition: form-data; name=\"operations\"\r\n\r\n")
	b.Write(operations)
	b.WriteString("\r\n--" + regBoundary + "\r\n")
	b.WriteString("Content-Disposition: form-data; name=\"map\"\r\n\r\n")
	b.Write(mapJSON)
	for i, f := range files {
		b.WriteString("\r\n--" + regBoundary + "\r\n")
		fmt.Fprintf(&b, "Content-Disposition: form-data; name=\"%d\"; filename=\"%s\"\r\n", i, f.filename)
		fmt.Fprintf(&b, "Content-Type: %s\r\n\r\n", f.ctype)
		b.Write(f.content)
	}
	b.WriteString("\r\n--" + regBoundary + "--\r\n")
	return b.Bytes()
}

// postMultipart sends a multipart request to h.
func postMultipart(t *testing.T, h http.Handler, body []byte, headers ...string) result {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+regBoundary)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var res result
	res.raw = rec.Body.String()
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("response is not JSON (%d): %s", rec.Code, res.raw)
	}
	return res
}

func (e *env) registerCount() int64 { return e.stats().Calls[registerCalls] }

// errorFields lists the errors' extensions.field, checking each is
// BAD_USER_INPUT.
func errorFields(t *testing.T, r result) []string {
	t.Helper()
	var out []string
	for _, e := range r.Errors {
		if e.code() != "BAD_USER_INPUT" {
			t.Fatalf("error %q has code %s, want BAD_USER_INPUT: %s", e.Message, e.code(), r.raw)
		}
		f, _ := e.Extensions["field"].(string)
		out = append(out, f)
	}
	return out
}

func TestRegisterMultipartUploadEndToEnd(t *testing.T) {
	e, captured := newRegisterEnv(t, sim.Config{Brilla: brilla.SimConfig{RegistrationDelay: time.Minute}}, nil)
	// Over real HTTP, as a browser's FormData upload arrives.
	srv := httptest.NewServer(e.gateway)
	t.Cleanup(srv.Close)

	vars := map[string]any{"in": regInput(uploadSlot("cedula-frente.jpg"), b64Attachment("cedula-reverso.png", regPNG), uploadSlot("recibo-gas.pdf"))}
	body := multipartBody(t, registerMutation, vars, []regFile{
		{path: "variables.in.attachments.0.file", filename: "IMG_0001.jpg", ctype: "image/jpeg", content: regJPEG},
		{path: "variables.in.attachments.2.file", filename: "recibo.pdf", ctype: "application/pdf", content: regPDF},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+regBoundary)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var res result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	res.raw = string(raw)
	var out registerPayload
	res.ok(t, &out)

	p := out.Register
	if p.State != "PENDING" || !strings.HasPrefix(p.TrackingCode, "BRL") || p.RequestID == 0 || p.Message == "" {
		t.Fatalf("payload %+v, want PENDING with a tracking code, request id and message", p)
	}
	if n := e.registerCount(); n != 1 {
		t.Fatalf("%d register calls, want 1", n)
	}
	got := captured.last(t)
	wantFiles := []struct {
		name    string
		content []byte
	}{{"cedula-frente.jpg", regJPEG}, {"cedula-reverso.png", regPNG}, {"recibo-gas.pdf", regPDF}}
	if len(got.Attachments) != len(wantFiles) {
		t.Fatalf("Brilla received %d attachments, want %d", len(got.Attachments), len(wantFiles))
	}
	for i, w := range wantFiles {
		a := got.Attachments[i]
		data, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil || a.Name != w.name || !bytes.Equal(data, w.content) {
			t.Fatalf("attachment %d: Brilla received %q with %d bytes (%v); want %q with exactly the uploaded %d bytes",
				i, a.Name, len(data), err, w.name, len(w.content))
		}
	}
	if got.VatType != "cedula" || got.Vat != "1012345678" || got.Phone != "3001234567" || got.BirthDate != "1990-05-20" {
		t.Fatalf("Brilla received %+v", got)
	}

	// Brilla knows the registration: the query reads the same state.
	var status struct {
		Registration struct{ TrackingCode, State string }
	}
	e.do(`query($c: String!) { registration(trackingCode: $c) { trackingCode state } }`, map[string]any{"c": p.TrackingCode}).ok(t, &status)
	if status.Registration.State != "PENDING" || status.Registration.TrackingCode != p.TrackingCode {
		t.Fatalf("registration: %+v", status.Registration)
	}
	if strings.Contains(e.logText(), "CONTENT-MARKER") {
		t.Fatal("attachment content was logged")
	}
}

func TestRegisterWithBase64Attachments(t *testing.T) {
	e, captured := newRegisterEnv(t, sim.Config{}, nil)
	dataURL := "data:application/pdf;base64," + base64.StdEncoding.EncodeToString(regPDF)
	in := regInput(
		b64Attachment("cedula.jpeg", regJPEG),
		map[string]any{"name": "recibo.pdf", "base64": dataURL},
		map[string]any{"name": "reverso.png", "base64": base64.RawURLEncoding.EncodeToString(regPNG)},
	)
	var out registerPayload
	e.do(registerMutation, map[string]any{"in": in}).ok(t, &out)
	if out.Register.State != "PENDING" || out.Register.TrackingCode == "" {
		t.Fatalf("payload %+v", out.Register)
	}
	got := captured.last(t)
	for i, want := range [][]byte{regJPEG, regPDF, regPNG} {
		if got.Attachments[i].Data != base64.StdEncoding.EncodeToString(want) {
			t.Fatalf("attachment %d was not sent as the standard base64 of its exact bytes", i)
		}
	}
	if n := e.registerCount(); n != 1 {
		t.Fatalf("%d register calls, want 1", n)
	}
}

func TestRegisterRefusesBadInputBeforeBrilla(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{}, func(c *server.Config) {
		c.MaxAttachmentBytes = 2048
		c.MaxAttachmentsTotalBytes = 4096
		c.MaxAttachments = 4
	})
	today := time.Now()
	jpg := func() map[string]any { return b64Attachment("cedula.jpg", regJPEG) }
	with := func(field string, value any) map[string]any {
		in := regInput(jpg())
		in[field] = value
		return in
	}
	big := append(append([]byte{}, regJPEG...), bytes.Repeat([]byte{0x55}, 2100)...)
	third := append(append([]byte{}, regPNG...), bytes.Repeat([]byte{0x55}, 1500)...)
	tests := []struct {
		name   string
		in     map[string]any
		files  []regFile // multipart when set
		fields []string
		msg    string
	}{
		{"executable named .jpg, uploaded", regInput(uploadSlot("foto.jpg")),
			[]regFile{{"variables.in.attachments.0.file", "foto.jpg", "image/jpeg", regELF}},
			[]string{"input.attachments[0].file"}, "executable program"},
		{"executable named .jpg, base64", regInput(b64Attachment("foto.jpg", regELF)), nil,
			[]string{"input.attachments[0].base64"}, "executable program"},
		{"pdf named .png", regInput(b64Attachment("foto.png", regPDF)), nil,
			[]string{"input.attachments[0].base64"}, "a PDF document but the name ends in .png"},
		{"oversize upload", regInput(uploadSlot("foto.jpg")),
			[]regFile{{"variables.in.attachments.0.file", "foto.jpg", "image/jpeg", big}},
			[]string{"input.attachments[0].file"}, "2 KiB allowed per file"},
		{"oversize base64", regInput(b64Attachment("foto.jpg", big)), nil,
			[]string{"input.attachments[0].base64"}, "2 KiB allowed per file"},
		{"too large in total", regInput(uploadSlot("a.png"), uploadSlot("b.png"), b64Attachment("c.png", third)),
			[]regFile{
				{"variables.in.attachments.0.file", "a.png", "image/png", third},
				{"variables.in.attachments.1.file", "b.png", "image/png", third},
			},
			[]string{"input.attachments"}, "4 KiB allowed in total"},
		{"too many", regInput(jpg(), jpg(), jpg(), jpg(), jpg()), nil, []string{"input.attachments"}, "at most 4"},
		{"no attachments", regInput(), nil, []string{"input.attachments"}, "at least one"},
		{"file and base64", regInput(map[string]any{"name": "a.jpg", "file": nil, "base64": base64.StdEncoding.EncodeToString(regJPEG)}),
			[]regFile{{"variables.in.attachments.0.file", "a.jpg", "image/jpeg", regJPEG}},
			[]string{"input.attachments[0]"}, "not both"},
		{"neither file nor base64", regInput(map[string]any{"name": "a.jpg"}), nil, []string{"input.attachments[0]"}, "file"},
		{"bad email", with("email", "ana@localhost"), nil, []string{"input.email"}, "address"},
		{"expedition before birth", with("idExpeditionDate", "1985-01-01"), nil, []string{"input.idExpeditionDate"}, "after birthDate"},
		{"future birth", with("birthDate", today.AddDate(1, 0, 0).Format("2006-01-02")), nil, []string{"input.birthDate"}, "future"},
		{"minor", with("birthDate", today.AddDate(-17, 0, 0).Format("2006-01-02")), nil, []string{"input.birthDate"}, "at least 18"},
		{"expedition in the future", with("idExpeditionDate", today.AddDate(0, 0, 3).Format("2006-01-02")), nil, []string{"input.idExpeditionDate"}, "future"},
		{"bad phone", with("phone", "6053851234"), nil, []string{"input.phone"}, "starting with 3"},
		{"bad contract", with("contractNumber", "12-34"), nil, []string{"input.contractNumber"}, "digits"},
		{"blank city", with("city", "   "), nil, []string{"input.city"}, "required"},
		{"cedula with letters", with("vat", "10123X5678"), nil, []string{"input.vat"}, "6 to 10 digits"},
		{"extranjeria with symbols", func() map[string]any {
			in := with("vatType", "CEDULA_EXTRANJERIA")
			in["vat"] = "E-123/45"
			return in
		}(), nil, []string{"input.vat"}, "6 to 12"},
		{"nit with a wrong check digit", func() map[string]any {
			in := with("vatType", "NIT")
			in["vat"] = "800197268-3"
			return in
		}(), nil, []string{"input.vat"}, "check digit"},
		{"short passport", func() map[string]any {
			in := with("vatType", "PASSPORT")
			in["vat"] = "AB1"
			return in
		}(), nil, []string{"input.vat"}, "5 to 20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]any{"in": tc.in}
			var r result
			if tc.files != nil {
				r = postMultipart(t, e.gateway, multipartBody(t, registerMutation, vars, tc.files))
			} else {
				r = e.do(registerMutation, vars)
			}
			if got := errorFields(t, r); !slices.Equal(got, tc.fields) {
				t.Fatalf("errors on %v, want %v: %s", got, tc.fields, r.raw)
			}
			if !strings.Contains(r.Errors[0].Message, tc.msg) {
				t.Fatalf("message %q does not say %q", r.Errors[0].Message, tc.msg)
			}
			if string(r.Data) != "null" {
				t.Fatalf("data %s, want null", r.Data)
			}
			if strings.Contains(r.raw, "CONTENT-MARKER") {
				t.Fatalf("the response repeats attachment content: %s", r.raw)
			}
			if n := e.registerCount(); n != 0 {
				t.Fatalf("a refused input reached Brilla (%d register calls)", n)
			}
		})
	}

	// Dates that are not dates never reach the resolver.
	r := e.do(registerMutation, map[string]any{"in": with("birthDate", "1990-02-30")})
	r.wantCode(t, "BAD_USER_INPUT")
	// A multipart request over the upload limit is refused by the transport.
	huge := append(append([]byte{}, regJPEG...), bytes.Repeat([]byte{0x55}, 4096+int(server.DefaultMaxBodyBytes))...)
	r = postMultipart(t, e.gateway, multipartBody(t, registerMutation, map[string]any{"in": regInput(uploadSlot("a.jpg"))},
		[]regFile{{"variables.in.attachments.0.file", "a.jpg", "image/jpeg", huge}}))
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "too large") {
		t.Fatalf("oversize multipart request: %s", r.raw)
	}
	if n := e.registerCount(); n != 0 || strings.Contains(e.logText(), "CONTENT-MARKER") {
		t.Fatalf("register calls %d; logs:\n%s", n, e.logText())
	}
}

func TestRegisterReportsEveryProblemAtOnce(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{}, nil)
	in := map[string]any{
		"vat": "12", "vatType": "CEDULA", "name": "A", "email": "no", "phone": "123", "contractNumber": "x",
		"birthDate": "1990-05-20", "birthCity": "", "idExpeditionDate": "1980-01-01", "idExpeditionCity": "Barranquilla",
		"address": "", "city": "Barranquilla",
		"attachments": []any{
			b64Attachment("ok.jpg", regJPEG),
			map[string]any{"name": "virus.jpg", "file": nil},
			map[string]any{"name": "nada.pdf"},
		},
	}
	body := multipartBody(t, registerMutation, map[string]any{"in": in},
		[]regFile{{"variables.in.attachments.1.file", "virus.jpg", "image/jpeg", regELF}})
	r := postMultipart(t, e.gateway, body, "Idempotency-Key: "+strings.Repeat("k", 300))
	want := []string{
		"input.vat", "input.name", "input.email", "input.phone", "input.contractNumber", "input.idExpeditionDate",
		"input.birthCity", "input.address", "input.attachments[1].file", "input.attachments[2]", "Idempotency-Key",
	}
	if got := errorFields(t, r); !slices.Equal(got, want) {
		t.Fatalf("errors on\n%v\nwant\n%v\n%s", got, want, r.raw)
	}
	for _, err := range r.Errors {
		if fmt.Sprint(err.Path) != "[register]" {
			t.Fatalf("error %q has path %v, want [register]", err.Message, err.Path)
		}
	}
	if n := e.registerCount(); n != 0 {
		t.Fatalf("%d register calls, want 0", n)
	}
}

func TestRegisterIdempotencyKey(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{}, nil)
	in := regInput(b64Attachment("cedula.jpg", regJPEG))
	idem := "Idempotency-Key: 3f6c1d2e-8a9b-4c7d-9e0f-112233445566"

	var first, second registerPayload
	e.do(registerMutation, map[string]any{"in": in}, idem).ok(t, &first)
	e.do(registerMutation, map[string]any{"in": in}, idem).ok(t, &second)
	if first.Register.TrackingCode == "" || second.Register != first.Register {
		t.Fatalf("retry with the same key: %+v then %+v, want the same answer", first.Register, second.Register)
	}
	if n := e.registerCount(); n != 1 {
		t.Fatalf("two calls with one key made %d register calls, want 1", n)
	}

	other := regInput(b64Attachment("cedula.jpg", regJPEG))
	other["email"] = "otra.persona@example.com"
	r := e.do(registerMutation, map[string]any{"in": other}, idem)
	if got := errorFields(t, r); !slices.Equal(got, []string{"Idempotency-Key"}) || !strings.Contains(r.Errors[0].Message, "different registration") {
		t.Fatalf("same key, different input: %s", r.raw)
	}
	if n := e.registerCount(); n != 1 {
		t.Fatalf("a reused key reached Brilla: %d register calls", n)
	}
	// The same different input under a fresh key is a registration of its own.
	var third registerPayload
	e.do(registerMutation, map[string]any{"in": other}, "Idempotency-Key: another-key").ok(t, &third)
	if third.Register.TrackingCode == first.Register.TrackingCode || e.registerCount() != 2 {
		t.Fatalf("new key, new input: %+v, %d calls", third.Register, e.registerCount())
	}
}

func TestRegisterSameInputWithoutKeyRegistersOnce(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{}, nil)
	var first, second registerPayload
	e.do(registerMutation, map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}).ok(t, &first)
	// The same registration sent again as a multipart upload, with the
	// email's domain capitalized: the same input once normalized.
	in := regInput(uploadSlot("cedula.jpg"))
	in["email"] = "ana.perez@EXAMPLE.com"
	body := multipartBody(t, registerMutation, map[string]any{"in": in},
		[]regFile{{"variables.in.attachments.0.file", "c.jpg", "image/jpeg", regJPEG}})
	postMultipart(t, e.gateway, body).ok(t, &second)
	if second.Register != first.Register {
		t.Fatalf("identical input: %+v then %+v", first.Register, second.Register)
	}
	if n := e.registerCount(); n != 1 {
		t.Fatalf("%d register calls, want 1", n)
	}
}

func TestConcurrentIdenticalRegistrationsMakeOneUpstreamCall(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{Latency: 150 * time.Millisecond}, nil)
	in := map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}
	const n = 12
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out registerPayload
			r := post(t, e.gateway, registerMutation, in)
			if len(r.Errors) > 0 {
				t.Errorf("request %d: %s", i, r.raw)
				return
			}
			_ = json.Unmarshal(r.Data, &out)
			codes[i] = out.Register.TrackingCode
		}()
	}
	wg.Wait()
	for i := range codes {
		if codes[i] == "" || codes[i] != codes[0] {
			t.Fatalf("request %d got %q, request 0 %q", i, codes[i], codes[0])
		}
	}
	if c := e.registerCount(); c != 1 {
		t.Fatalf("%d concurrent identical registrations made %d register calls, want 1", n, c)
	}
}

func TestRegisterIdempotencyHoldsAcrossReplicas(t *testing.T) {
	c := newCluster(t, 2, sim.Config{Latency: 100 * time.Millisecond}, "")
	vars := map[string]any{"in": regInput(b64Attachment("cedula.jpg", regJPEG))}
	idem := "Idempotency-Key: replicas-7d2c"

	// At once, on both replicas, with and without the key.
	const n = 8
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			headers := []string{}
			if i%2 == 0 {
				headers = append(headers, idem)
			}
			r := post(t, c.replicas[i%2], registerMutation, vars, headers...)
			var out registerPayload
			if len(r.Errors) > 0 {
				t.Errorf("request %d: %s", i, r.raw)
				return
			}
			_ = json.Unmarshal(r.Data, &out)
			codes[i] = out.Register.TrackingCode
		}()
	}
	wg.Wait()
	for i := range codes {
		if codes[i] == "" || codes[i] != codes[0] {
			t.Fatalf("request %d got %q, request 0 %q", i, codes[i], codes[0])
		}
	}
	// Later, the key alone on replica B with another input is refused.
	other := regInput(b64Attachment("cedula.jpg", regJPEG))
	other["phone"] = "3109876543"
	r := post(t, c.replicas[1], registerMutation, map[string]any{"in": other}, idem)
	if got := errorFields(t, r); !slices.Equal(got, []string{"Idempotency-Key"}) {
		t.Fatalf("reused key on replica B: %s", r.raw)
	}
	if calls := c.registerCount(); calls != 1 {
		t.Fatalf("two replicas made %d register calls for one registration, want 1", calls)
	}
	for _, k := range c.keys(t) {
		for _, personal := range []string{"1012345678", "ana.perez", "3001234567", "replicas-7d2c"} {
			if strings.Contains(k, personal) {
				t.Fatalf("Redis key %q holds personal data in clear", k)
			}
		}
	}
}
