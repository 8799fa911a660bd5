package brilla

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// testClock is a settable clock shared by the simulator and the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 1, 15, 10, 30, 0, 0, colombia)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testEnv struct {
	sim    *Simulator
	ctl    *simkit.Control
	srv    *httptest.Server
	client *Client
	clock  *testClock
}

// newTestEnv starts a simulator behind httptest and a real client for it.
func newTestEnv(t *testing.T, cfg SimConfig, opts ...Option) *testEnv {
	t.Helper()
	clock := newTestClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	ctl := simkit.NewControl(0)
	sim := NewSimulator(cfg, ctl)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &testEnv{sim: sim, ctl: ctl, srv: srv, client: NewClient(srv.URL, opts...), clock: clock}
}

func demoTokenRequest(i int) TokenRequest {
	c := DemoCustomers[i]
	return TokenRequest{Vat: c.Vat, ContractNumber: c.ContractNumber, QuestionID: c.QuestionID, Answer: c.Answer}
}

func (e *testEnv) token(t *testing.T, customer int) string {
	t.Helper()
	resp, err := e.client.GenerateToken(context.Background(), demoTokenRequest(customer))
	if err != nil {
		t.Fatalf("GenerateToken: %v", err)
	}
	return resp.Token
}

// wantKind asserts err is an *upstream.Error of kind k from Brilla and
// that its message does not leak secret.
func wantKind(t *testing.T, err error, k upstream.Kind, secret string) *upstream.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got nil", k)
	}
	ue, ok := upstream.As(err)
	if !ok {
		t.Fatalf("want *upstream.Error, got %T: %v", err, err)
	}
	if ue.Kind != k {
		t.Fatalf("kind %s, want %s (%v)", ue.Kind, k, err)
	}
	if ue.Upstream != upstream.Brilla || !strings.HasPrefix(ue.Op, "GET /api/brilla/v1/") && !strings.HasPrefix(ue.Op, "POST /api/brilla/v1/") {
		t.Errorf("upstream %q op %q", ue.Upstream, ue.Op)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error message leaks the token: %v", err)
	}
	return ue
}

func TestClientHappyPath(t *testing.T) {
	e := newTestEnv(t, SimConfig{RegistrationDelay: time.Minute})
	ctx := context.Background()

	tok, err := e.client.GenerateToken(ctx, demoTokenRequest(0))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Success || tok.Token == "" || tok.ExpiresAt != "2025-02-14T10:30:00" {
		t.Fatalf("token response %+v", tok)
	}
	claims, err := ParseClaims(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Vat != "123456789" || claims.ContractNumber != "12345678" || !claims.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour)) {
		t.Errorf("claims %+v", claims)
	}

	sum, err := e.client.CreditsSummary(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if sum.CreditLimit.Value != 5000000 || sum.Available.Value != sum.CreditLimit.Value-sum.Used.Value ||
		sum.ActiveCredits.Value != 2 || string(sum.Contract.Number) != "12345678" || !bool(sum.Contract.Active) {
		t.Errorf("summary %+v", sum)
	}

	list, err := e.client.Credits(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Credits) != 3 || list.ActiveCount.Value != 2 || list.TotalPending.Value != sum.Used.Value {
		t.Errorf("credits %+v", list)
	}

	det, err := e.client.Credit(ctx, tok.Token, 1)
	if err != nil {
		t.Fatal(err)
	}
	if det.Credit.ID.Value != 1 || string(det.Credit.Rate) != "1.99" || len(det.Amortization) != 12 || det.Payments.PaidCount.Value != 4 {
		t.Errorf("credit 1 %+v", det.Credit)
	}

	pays, err := e.client.CreditPayments(ctx, tok.Token, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pays.Payments) != 4 || pays.TotalPaid.Value != det.Payments.TotalPaid.Value || pays.LoanID.Value != 1 {
		t.Errorf("payments %+v", pays)
	}

	v, err := e.client.ValidateContract(ctx, ValidateContractRequest{Vat: "123456789", ContractNumber: "12345678"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Success || !bool(v.Valid) || !bool(v.Active) {
		t.Errorf("validate %+v", v)
	}

	reg, err := e.client.Register(ctx, validRegistration("1098765432"))
	if err != nil {
		t.Fatal(err)
	}
	if reg.State != RegistrationPending || reg.TrackingCode != "BRL202501150001" || reg.RequestID.Value != 1 {
		t.Errorf("register %+v", reg)
	}
	st, err := e.client.RegistrationStatus(ctx, reg.TrackingCode)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != RegistrationPending || st.TrackingCode != reg.TrackingCode {
		t.Errorf("status %+v", st)
	}
}

func validRegistration(vat string) RegisterRequest {
	b64 := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 demo"))
	return RegisterRequest{
		Vat: vat, VatType: "cedula", Name: "Juan Perez", Email: "juan@email.com", Phone: "3001234567",
		ContractNumber: "12345678", BirthDate: "1990-01-15", BirthCity: "Cartagena",
		IDExpeditionDate: "2010-03-20", IDExpeditionCity: "Cartagena", Address: "Calle 50 #20-30", City: "Cartagena",
		Attachments: []Attachment{{Name: "cedula_frente.jpg", Data: b64}, {Name: "factura_gas.pdf", Data: b64}},
	}
}

func TestClientWrongCredentials(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	good := demoTokenRequest(0)
	cases := map[string]func(*TokenRequest){
		"wrong answer":      func(r *TokenRequest) { r.Answer = "otra" },
		"wrong question":    func(r *TokenRequest) { r.QuestionID = 2 },
		"wrong contract":    func(r *TokenRequest) { r.ContractNumber = "87654321" },
		"unknown vat":       func(r *TokenRequest) { r.Vat = "111111111" },
		"answer wrong case": func(r *TokenRequest) { r.Answer = "MI_RESPUESTA" },
	}
	var messages []string
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			req := good
			mutate(&req)
			_, err := e.client.GenerateToken(context.Background(), req)
			ue := wantKind(t, err, upstream.KindUnauthorized, req.Answer)
			if ue.Status != 401 || ue.Code != CodeUnauthorized || ue.Message != "Credenciales invalidas" {
				t.Errorf("error %+v", ue)
			}
			// Nothing in the error says which part was wrong.
			for _, hint := range []string{"answer", "respuesta", "contrato", "contract", "question", "pregunta", "vat", "documento"} {
				if strings.Contains(strings.ToLower(ue.Message), hint) {
					t.Errorf("message %q hints at %q", ue.Message, hint)
				}
			}
			messages = append(messages, err.Error())
		})
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("errors differ: %q vs %q", m, messages[0])
		}
	}
}

func TestClientMissingFields(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	_, err := e.client.GenerateToken(context.Background(), TokenRequest{Vat: "123456789"})
	ue := wantKind(t, err, upstream.KindBadRequest, "")
	if ue.Code != CodeBadRequest || !strings.Contains(ue.Message, "answer") {
		t.Errorf("error %+v", ue)
	}
	_, err = e.client.ValidateContract(context.Background(), ValidateContractRequest{Vat: "123456789"})
	wantKind(t, err, upstream.KindBadRequest, "")
	req := validRegistration("123")
	req.Attachments[0].Data = "not base64!!"
	_, err = e.client.Register(context.Background(), req)
	wantKind(t, err, upstream.KindBadRequest, "")
}

// forge returns token with its payload replaced, keeping the signature.
func forge(t *testing.T, token, payload string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(payload))
	return strings.Join(parts, ".")
}

func TestClientRefusedTokens(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	good := e.token(t, 0)
	otherKey := NewSimulator(SimConfig{SigningKey: []byte("another key"), Now: e.clock.Now}, nil)
	foreign, err := otherKey.sign(otherKey.customers[customerKey("123456789", "12345678")], e.clock.Now(), e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"payload swapped to other customer": forge(t, good, `{"vat":"987654321","contract_number":"87654321","exp":9999999999}`),
		"expiry extended":                   forge(t, good, `{"vat":"123456789","contract_number":"12345678","exp":9999999999}`),
		"signed with another key":           foreign,
		"alg none":                          enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"garbage":                           "not-a-token",
		"truncated signature":               good[:len(good)-4],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.client.CreditsSummary(context.Background(), tok)
			ue := wantKind(t, err, upstream.KindUnauthorized, tok)
			if ue.Message != "Token invalido o expirado" {
				t.Errorf("message %q", ue.Message)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		_, err := e.client.Credits(context.Background(), "")
		wantKind(t, err, upstream.KindUnauthorized, "")
	})
	t.Run("expired", func(t *testing.T) {
		if _, err := e.client.Credits(context.Background(), good); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		e.clock.Advance(30*24*time.Hour - time.Second)
		if _, err := e.client.Credits(context.Background(), good); err != nil {
			t.Fatalf("token refused a second before expiry: %v", err)
		}
		e.clock.Advance(time.Second)
		_, err := e.client.Credits(context.Background(), good)
		ue := wantKind(t, err, upstream.KindUnauthorized, good)
		if ue.Message != "Token invalido o expirado" {
			t.Errorf("message %q", ue.Message)
		}
	})
}

func TestClientOtherCustomersLoan(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	juan, maria := e.token(t, 0), e.token(t, 1)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		token string
		loan  int64
	}{
		{"juan asks maria's loan", juan, 4},
		{"maria asks juan's loan", maria, 1},
		{"unknown loan", juan, 999},
		{"negative loan", juan, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Credit(ctx, tc.token, tc.loan)
			ue := wantKind(t, err, upstream.KindNotFound, tc.token)
			if ue.Op != "GET /api/brilla/v1/credits/{loan_id}" || ue.Code != CodeNotFound {
				t.Errorf("error %+v", ue)
			}
			_, err = e.client.CreditPayments(ctx, tc.token, tc.loan)
			wantKind(t, err, upstream.KindNotFound, tc.token)
		})
	}
	// Same answer for a foreign and a missing loan: ids cannot be probed.
	_, errForeign := e.client.Credit(ctx, juan, 4)
	_, errMissing := e.client.Credit(ctx, juan, 999)
	if errForeign.Error() != errMissing.Error() {
		t.Errorf("foreign %q vs missing %q", errForeign, errMissing)
	}
}

func TestClientInjectedFaults(t *testing.T) {
	cases := []struct {
		status int
		kind   upstream.Kind
		code   string
		retry  time.Duration
	}{
		{429, upstream.KindRateLimited, CodeRateLimit, time.Second},
		{500, upstream.KindServer, CodeServerError, 0},
		{502, upstream.KindUnavailable, CodeServerError, 0},
		{503, upstream.KindUnavailable, CodeServerError, 0},
		{504, upstream.KindUnavailable, CodeServerError, 0},
		{400, upstream.KindBadRequest, CodeBadRequest, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e := newTestEnv(t, SimConfig{})
			tok := e.token(t, 0)
			e.ctl.Faults.Set(simkit.Fault{Upstream: "brilla", Status: tc.status, Rate: 1})
			_, err := e.client.CreditsSummary(context.Background(), tok)
			ue := wantKind(t, err, tc.kind, tok)
			if ue.Status != tc.status || ue.Code != tc.code || ue.RetryAfter != tc.retry {
				t.Errorf("error %+v", ue)
			}
			if ue.Op != "GET /api/brilla/v1/credits/summary" {
				t.Errorf("op %q", ue.Op)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	e := newTestEnv(t, SimConfig{}, WithTimeout(100*time.Millisecond))
	// A GET: the server only notices a client gone away once the request
	// body is consumed, and the fault's sleep runs before that.
	e.ctl.Faults.Set(simkit.Fault{Upstream: "brilla", LatencyMS: 3000})
	start := time.Now()
	_, err := e.client.RegistrationStatus(context.Background(), "BRL202501150001")
	wantKind(t, err, upstream.KindUnavailable, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want DeadlineExceeded in the chain: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("call took %v despite a 100ms timeout", el)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := NewClient(url).Credits(context.Background(), "secret-token")
	wantKind(t, err, upstream.KindUnavailable, "secret-token")
}

func TestClientBaseURLWithPrefix(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	c := NewClient(e.srv.URL + "/api/brilla/v1/")
	if _, err := c.GenerateToken(context.Background(), demoTokenRequest(1)); err != nil {
		t.Fatal(err)
	}
}

func TestClientTrackingCodeIsEscaped(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	for _, code := range []string{"../../credits", "a/b", "x?y=1", "BRL 1", "%2e%2e"} {
		_, err := e.client.RegistrationStatus(context.Background(), code)
		if ue, ok := upstream.As(err); !ok || ue.Kind != upstream.KindNotFound {
			t.Errorf("code %q: want not_found, got %v", code, err)
		}
	}
	snap := e.ctl.Stats.Snapshot()
	if n := snap.Calls["GET "+PathCredits] + snap.Calls["GET "+PathCreditsSummary]; n != 0 {
		t.Errorf("a tracking code reached a credits endpoint %d times", n)
	}
}

// TestClientTolerantDecoding serves the loose shapes real upstreams send.
func TestClientTolerantDecoding(t *testing.T) {
	const token = "tok.en.value"
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathCreditsSummary, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"success":"true","extra":{"x":[1,2]},"data":{"credit_limit":"5000000","available":"","used":null,
			"active_credits":2.0,"total_pending":"1500000","new_field":true,"contract":{"number":12345678,"active":1}}}`)
	})
	mux.HandleFunc("GET "+PathCredits, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success":true,"data":{"credits":[{"id":"1","name":"BRILLA/2025/0001","amount":"1000000",
			"pending_amount":500000,"periods":"12","rate":"1.99","state":"posted","start_date":null,"unknown":{}}],
			"total_pending":"","active_count":null}}`)
	})
	mux.HandleFunc("GET "+PathCreditDetail, func(w http.ResponseWriter, r *http.Request) {
		// success:false with HTTP 200 is an error; the message echoes
		// the Authorization header, which must not reach our errors.
		fmt.Fprintf(w, `{"success":false,"error":"not_found","message":"no hay credito para %s"}`, r.Header.Get("Authorization"))
	})
	mux.HandleFunc("GET "+PathCreditPayments, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success":false}`)
	})
	mux.HandleFunc("POST "+PathTokenGenerate, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
	})
	mux.HandleFunc("POST "+PathRegister, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"success":false,"error":"rate_limit","message":"Demasiadas peticiones","errors":"espere"}`)
	})
	mux.HandleFunc("POST "+PathValidateContract, func(w http.ResponseWriter, r *http.Request) {
		// Status and code disagree: the code wins.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"success":false,"error":"unauthorized","message":"Token invalido o expirado"}`)
	})
	mux.HandleFunc("GET "+PathRegisterStatus, func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("tracking_code") {
		case "ok":
			fmt.Fprint(w, `{"success":true,"tracking_code":"ok","request_id":"12","state":"approved","message":null,"updated_at":""}`)
		case "html200":
			fmt.Fprint(w, `<html>maintenance</html>`)
		case "huge":
			fmt.Fprint(w, `{"success":true,"message":"`+strings.Repeat("x", MaxResponseBytes)+`"}`)
		case "errobj":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"success":false,"error":{"code":"server_error"},"message":"boom"}`)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewClient(srv.URL)
	ctx := context.Background()

	sum, err := c.CreditsSummary(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if sum.CreditLimit.Value != 5000000 || sum.Available.Valid || sum.Used.Valid || sum.ActiveCredits.Value != 2 ||
		string(sum.Contract.Number) != "12345678" || !bool(sum.Contract.Active) {
		t.Errorf("summary %+v", sum)
	}

	list, err := c.Credits(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Credits) != 1 || list.Credits[0].ID.Value != 1 || list.Credits[0].Periods.Value != 12 ||
		string(list.Credits[0].Rate) != "1.99" || list.TotalPending.Valid || list.ActiveCount.Valid {
		t.Errorf("credits %+v", list)
	}

	_, err = c.Credit(ctx, token, 1)
	ue := wantKind(t, err, upstream.KindNotFound, token)
	if ue.Status != 200 || !strings.Contains(ue.Message, "[REDACTED]") {
		t.Errorf("error %+v", ue)
	}

	_, err = c.CreditPayments(ctx, token, 1)
	wantKind(t, err, upstream.KindServer, token)

	_, err = c.GenerateToken(ctx, demoTokenRequest(0))
	ue = wantKind(t, err, upstream.KindUnavailable, "")
	if ue.Status != 502 || strings.Contains(err.Error(), "nginx") {
		t.Errorf("error %+v: %v", ue, err)
	}

	_, err = c.Register(ctx, validRegistration("1"))
	ue = wantKind(t, err, upstream.KindRateLimited, "")
	if ue.RetryAfter != 7*time.Second || len(ue.Details) != 1 || ue.Details[0] != "espere" {
		t.Errorf("error %+v", ue)
	}

	_, err = c.ValidateContract(ctx, ValidateContractRequest{Vat: "1", ContractNumber: "2"})
	ue = wantKind(t, err, upstream.KindUnauthorized, "")
	if ue.Status != 400 {
		t.Errorf("status %d", ue.Status)
	}

	st, err := c.RegistrationStatus(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if st.RequestID.Value != 12 || st.State != "approved" || st.Message != "" {
		t.Errorf("status %+v", st)
	}
	_, err = c.RegistrationStatus(ctx, "html200")
	wantKind(t, err, upstream.KindInternal, "")
	_, err = c.RegistrationStatus(ctx, "huge")
	wantKind(t, err, upstream.KindInternal, "")
	_, err = c.RegistrationStatus(ctx, "errobj")
	ue = wantKind(t, err, upstream.KindServer, "")
	if ue.Code != CodeServerError || ue.Message != "boom" {
		t.Errorf("error %+v", ue)
	}
}

func TestClientSendsHeaders(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]http.Header{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path] = r.Header.Clone()
		mu.Unlock()
		fmt.Fprint(w, `{"success":true,"data":{}}`)
	}))
	defer srv.Close()
	c := NewClient(srv.URL)
	ctx := context.Background()
	if _, err := c.Credit(ctx, "abc.def.ghi", 42); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ValidateContract(ctx, ValidateContractRequest{Vat: "1", ContractNumber: "2"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if h := seen["GET /api/brilla/v1/credits/42"]; h.Get("Authorization") != "Bearer abc.def.ghi" {
		t.Errorf("credit headers %v", h)
	}
	if h := seen["POST /api/brilla/v1/validate/contract"]; h.Get("Content-Type") != "application/json" || h.Get("Authorization") != "" {
		t.Errorf("validate headers %v", h)
	}
}

func TestClientMissingData(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"success":true}`)
	}))
	defer srv.Close()
	_, err := NewClient(srv.URL).CreditsSummary(context.Background(), "t")
	wantKind(t, err, upstream.KindInternal, "")
}

func TestParseClaims(t *testing.T) {
	enc := base64.RawURLEncoding
	mk := func(payload string) string {
		return enc.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".sig"
	}
	cl, err := ParseClaims(mk(`{"vat":"123","contract_number":12345678,"exp":1736955000,"other":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if cl.Vat != "123" || cl.ContractNumber != "12345678" || cl.ExpiresAt.Unix() != 1736955000 {
		t.Errorf("claims %+v", cl)
	}
	cl, err = ParseClaims(mk(`{"vat":"1","exp":1736955000.5}`))
	if err != nil || cl.ExpiresAt.Unix() != 1736955000 {
		t.Errorf("fractional exp: %+v %v", cl, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", mk(`[1]`), mk(`{"exp":"soon"}`)} {
		if _, err := ParseClaims(bad); err == nil {
			t.Errorf("ParseClaims(%q): want error", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error leaks the token: %v", err)
		}
	}
}
