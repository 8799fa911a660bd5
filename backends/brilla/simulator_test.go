package brilla

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// rawCall does one plain net/http call and returns the status and the
// decoded JSON body; it fails the test when the body is not valid JSON.
func rawCall(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: content type %q", method, url, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v\n%s", method, url, err, raw)
	}
	return resp.StatusCode, out
}

// TestSeedFlows runs the seed's curl / Python / JavaScript examples
// literally: raw JSON in, Bearer header, plain net/http.
func TestSeedFlows(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	base := e.srv.URL + "/api/brilla/v1"

	status, tok := rawCall(t, "POST", base+"/token/generate", "",
		`{"vat":"123456789","contract_number":"12345678","question_id":1,"answer":"mi_respuesta"}`)
	token, _ := tok["token"].(string)
	if status != 200 || tok["success"] != true || token == "" {
		t.Fatalf("token: %d %v", status, tok)
	}
	if msg, _ := tok["message"].(string); msg != "Token generado exitosamente. Valido por 30 dias." {
		t.Errorf("message %q", msg)
	}
	if _, err := time.Parse(ExpiresAtLayout, fmt.Sprint(tok["expires_at"])); err != nil {
		t.Errorf("expires_at: %v", err)
	}

	status, cupo := rawCall(t, "GET", base+"/credits/summary", token, "")
	data, _ := cupo["data"].(map[string]any)
	if status != 200 || cupo["success"] != true || data == nil {
		t.Fatalf("summary: %d %v", status, cupo)
	}
	for _, k := range []string{"credit_limit", "available", "used", "active_credits", "total_pending", "contract"} {
		if _, ok := data[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	contract, _ := data["contract"].(map[string]any)
	if contract["number"] != "12345678" || contract["active"] != true {
		t.Errorf("contract %v", contract)
	}

	status, creditos := rawCall(t, "GET", base+"/credits", token, "")
	data, _ = creditos["data"].(map[string]any)
	credits, _ := data["credits"].([]any)
	if status != 200 || creditos["success"] != true || len(credits) == 0 {
		t.Fatalf("credits: %d %v", status, creditos)
	}
	first, _ := credits[0].(map[string]any)
	// The seed shows numbers, not strings: id 1, rate 1.99.
	if first["id"] != float64(1) || first["rate"] != 1.99 || first["name"] != "BRILLA/2025/0001" || first["state"] != "posted" {
		t.Errorf("first credit %v", first)
	}

	status, detail := rawCall(t, "GET", base+"/credits/1", token, "")
	data, _ = detail["data"].(map[string]any)
	if status != 200 || data["credit"] == nil || data["amortization"] == nil || data["payments"] == nil {
		t.Fatalf("detail: %d %v", status, detail)
	}

	status, pays := rawCall(t, "GET", base+"/credits/1/payments", token, "")
	if status != 200 || pays["success"] != true {
		t.Fatalf("payments: %d %v", status, pays)
	}

	status, body := rawCall(t, "GET", base+"/credits", "", "")
	if status != 401 || body["error"] != "unauthorized" || body["success"] != false {
		t.Errorf("without token: %d %v", status, body)
	}
}

// TestSimDataConsistency checks that summary, list, detail and payments
// agree for every demo customer.
func TestSimDataConsistency(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	ctx := context.Background()
	seen := map[int64]bool{}
	for i, cust := range DemoCustomers {
		tok := e.token(t, i)
		sum, err := e.client.CreditsSummary(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		list, err := e.client.Credits(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if sum.CreditLimit.Value != cust.CreditLimit || bool(sum.Contract.Active) != cust.ContractActive {
			t.Errorf("%s: summary %+v", cust.Vat, sum)
		}
		if cust.ContractActive && len(list.Credits) < 2 {
			t.Errorf("%s: %d credits, want at least 2", cust.Vat, len(list.Credits))
		}
		var used, active int64
		for _, c := range list.Credits {
			if seen[c.ID.Value] {
				t.Errorf("loan %d listed for two customers", c.ID.Value)
			}
			seen[c.ID.Value] = true
			det, err := e.client.Credit(ctx, tok, c.ID.Value)
			if err != nil {
				t.Fatal(err)
			}
			pays, err := e.client.CreditPayments(ctx, tok, c.ID.Value)
			if err != nil {
				t.Fatal(err)
			}
			if det.Credit != c {
				t.Errorf("loan %d: detail %+v differs from list %+v", c.ID.Value, det.Credit, c)
			}
			var principal, paidSum, pendingSum, paidCount int64
			pendingPrincipal := c.Amount.Value
			for _, in := range det.Amortization {
				principal += in.PrincipalAmount.Value
				if in.State == InstallmentPaid {
					paidSum += in.PaymentAmount.Value
					paidCount++
					pendingPrincipal = in.PendingPrincipal.Value
				} else {
					pendingSum += in.PaymentAmount.Value
				}
			}
			if principal != c.Amount.Value || det.Amortization[len(det.Amortization)-1].PendingPrincipal.Value != 0 {
				t.Errorf("loan %d: principal sums to %d of %d", c.ID.Value, principal, c.Amount.Value)
			}
			if c.PendingAmount.Value != pendingPrincipal {
				t.Errorf("loan %d: pending_amount %d, schedule says %d", c.ID.Value, c.PendingAmount.Value, pendingPrincipal)
			}
			p := det.Payments
			if p.TotalPaid.Value != paidSum || p.TotalPending.Value != pendingSum || p.PaidCount.Value != paidCount ||
				p.PendingCount.Value != int64(len(det.Amortization))-paidCount {
				t.Errorf("loan %d: payment summary %+v", c.ID.Value, p)
			}
			if int64(len(pays.Payments)) != paidCount || pays.TotalPaid.Value != paidSum {
				t.Errorf("loan %d: %d payments totalling %d, want %d / %d", c.ID.Value, len(pays.Payments), pays.TotalPaid.Value, paidCount, paidSum)
			}
			for j, pay := range pays.Payments {
				in := det.Amortization[j]
				if pay.Sequence != in.Sequence || pay.Amount != in.PaymentAmount || pay.Date != in.Date || pay.Method != "factura_gas" {
					t.Errorf("loan %d payment %d %+v does not match installment %+v", c.ID.Value, j, pay, in)
				}
			}
			if (c.State == CreditPaid) != (paidCount == int64(len(det.Amortization))) {
				t.Errorf("loan %d: state %s with %d paid", c.ID.Value, c.State, paidCount)
			}
			if c.EndDate != det.Amortization[len(det.Amortization)-1].Date {
				t.Errorf("loan %d: end date %s", c.ID.Value, c.EndDate)
			}
			used += c.PendingAmount.Value
			if c.State == CreditPosted {
				active++
			}
		}
		if sum.Used.Value != used || sum.TotalPending.Value != used || list.TotalPending.Value != used ||
			sum.ActiveCredits.Value != active || list.ActiveCount.Value != active {
			t.Errorf("%s: summary %+v list totals %v/%v, want used %d active %d", cust.Vat, sum, list.TotalPending, list.ActiveCount, used, active)
		}
		if cust.ContractActive && sum.Available.Value != sum.CreditLimit.Value-used {
			t.Errorf("%s: available %d", cust.Vat, sum.Available.Value)
		}
	}
	if len(seen) != len(DemoCredits) {
		t.Errorf("%d loans listed, %d demo credits", len(seen), len(DemoCredits))
	}
}

func TestSimRegistrationLifecycle(t *testing.T) {
	e := newTestEnv(t, SimConfig{RegistrationDelay: 2 * time.Minute})
	ctx := context.Background()
	approved, err := e.client.Register(ctx, validRegistration("1098765431"))
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := e.client.Register(ctx, validRegistration("1098765430"))
	if err != nil {
		t.Fatal(err)
	}
	if approved.TrackingCode != "BRL202501150001" || rejected.TrackingCode != "BRL202501150002" || rejected.RequestID.Value != 2 {
		t.Errorf("codes %+v %+v", approved, rejected)
	}
	for _, code := range []string{approved.TrackingCode, rejected.TrackingCode} {
		st, err := e.client.RegistrationStatus(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != RegistrationPending {
			t.Errorf("%s: state %s before the delay", code, st.State)
		}
	}
	e.clock.Advance(2*time.Minute - time.Second)
	if st, _ := e.client.RegistrationStatus(ctx, approved.TrackingCode); st.State != RegistrationPending {
		t.Errorf("final a second early: %+v", st)
	}
	e.clock.Advance(time.Second)
	st, err := e.client.RegistrationStatus(ctx, approved.TrackingCode)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != RegistrationApproved || st.UpdatedAt != "2025-01-15T10:32:00-05:00" || st.RequestID.Value != 1 {
		t.Errorf("approved: %+v", st)
	}
	st, err = e.client.RegistrationStatus(ctx, rejected.TrackingCode)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != RegistrationRejected || st.Message == "" {
		t.Errorf("rejected: %+v", st)
	}
	_, err = e.client.RegistrationStatus(ctx, "BRL209912319999")
	wantKind(t, err, upstream.KindNotFound, "")
}

func TestSimRegisterValidation(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	url := e.srv.URL + PathRegister
	good, err := json.Marshal(validRegistration("123"))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	cases := map[string]struct {
		body   string
		status int
	}{
		"valid":                {string(good), 200},
		"phone as number":      {mutate(func(m map[string]any) { m["phone"] = 3001234567 }), 200},
		"no attachments":       {mutate(func(m map[string]any) { delete(m, "attachments") }), 200},
		"missing vat":          {mutate(func(m map[string]any) { delete(m, "vat") }), 400},
		"blank name":           {mutate(func(m map[string]any) { m["name"] = "  " }), 400},
		"bad vat_type":         {mutate(func(m map[string]any) { m["vat_type"] = "licencia" }), 400},
		"bad email":            {mutate(func(m map[string]any) { m["email"] = "juan" }), 400},
		"bad birth date":       {mutate(func(m map[string]any) { m["birth_date"] = "15/01/1990" }), 400},
		"attachment no name":   {mutate(func(m map[string]any) { m["attachments"] = []any{map[string]any{"data": "aGVsbG8="}} }), 400},
		"attachment no data":   {mutate(func(m map[string]any) { m["attachments"] = []any{map[string]any{"name": "a.pdf"}} }), 400},
		"attachment not b64":   {mutate(func(m map[string]any) { m["attachments"] = []any{map[string]any{"name": "a.pdf", "data": "base64..."}} }), 400},
		"not JSON":             {"vat=1", 400},
		"seed trailing comma":  {`{"vat": "1",}`, 400},
		"empty body":           {"", 400},
		"attachment urlsafe":   {mutate(func(m map[string]any) { m["attachments"] = []any{map[string]any{"name": "a.pdf", "data": "-_-_"}} }), 200},
		"attachment unpadded":  {mutate(func(m map[string]any) { m["attachments"] = []any{map[string]any{"name": "a.pdf", "data": "aGVsbG8"}} }), 200},
		"wrong vat json type":  {mutate(func(m map[string]any) { m["vat"] = map[string]any{} }), 400},
		"contract typed a int": {mutate(func(m map[string]any) { m["contract_number"] = 12345678 }), 200},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := rawCall(t, "POST", url, "", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, body)
			}
			if status == 400 && (body["error"] != "bad_request" || body["success"] != false || body["message"] == "") {
				t.Errorf("body %v", body)
			}
			if status == 200 && (body["state"] != "pending" || !strings.HasPrefix(fmt.Sprint(body["tracking_code"]), "BRL20250115")) {
				t.Errorf("body %v", body)
			}
		})
	}
}

func TestSimValidateContract(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	cases := []struct {
		vat, contract string
		valid, active bool
	}{
		{"123456789", "12345678", true, true},
		{"987654321", "87654321", true, true},
		{"555555555", "55555555", true, false},
		{"123456789", "87654321", false, false},
		{"000000000", "00000000", false, false},
	}
	for _, tc := range cases {
		v, err := e.client.ValidateContract(context.Background(), ValidateContractRequest{Vat: tc.vat, ContractNumber: tc.contract})
		if err != nil {
			t.Fatal(err)
		}
		if bool(v.Valid) != tc.valid || bool(v.Active) != tc.active || !v.Success || v.Message == "" {
			t.Errorf("%s/%s: %+v", tc.vat, tc.contract, v)
		}
	}
	for _, body := range []string{`{"vat":"123456789"}`, `{"contract_number":"12345678"}`, `{}`, `nope`} {
		status, out := rawCall(t, "POST", e.srv.URL+PathValidateContract, "", body)
		if status != 400 || out["error"] != "bad_request" {
			t.Errorf("%s: %d %v", body, status, out)
		}
	}
}

func TestSimTokenRequestValidation(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	url := e.srv.URL + PathTokenGenerate
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{`{"vat":"123456789","contract_number":"12345678","question_id":"1","answer":"mi_respuesta"}`, 200, ""},
		{`{"vat":123456789,"contract_number":12345678,"question_id":1,"answer":"mi_respuesta","extra":true}`, 200, ""},
		{`{"vat":"555555555","contract_number":"55555555","question_id":1,"answer":"mi_respuesta"}`, 200, ""},
		{`{"vat":"123456789","contract_number":"12345678","answer":"mi_respuesta"}`, 400, "bad_request"},
		{`{"vat":"123456789","contract_number":"12345678","question_id":1}`, 400, "bad_request"},
		{`{"contract_number":"12345678","question_id":1,"answer":"x"}`, 400, "bad_request"},
		{`{"vat":"123456789","contract_number":"12345678","question_id":1,"answer":"su_respuesta"}`, 401, "unauthorized"},
		{`{"vat":"123456789","contract_number":"12345678","question_id":"x","answer":"mi_respuesta"}`, 400, "bad_request"},
		{`[]`, 400, "bad_request"},
	}
	for _, tc := range cases {
		status, body := rawCall(t, "POST", url, "", tc.body)
		if status != tc.status || (tc.code != "" && body["error"] != tc.code) {
			t.Errorf("%s: %d %v", tc.body, status, body)
		}
	}
}

func TestSimTokenTTLAndExpiry(t *testing.T) {
	e := newTestEnv(t, SimConfig{TokenTTL: time.Hour})
	resp, err := e.client.GenerateToken(context.Background(), demoTokenRequest(1))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ExpiresAt != "2025-01-15T11:30:00" || !strings.Contains(resp.Message, "1h0m0s") {
		t.Errorf("response %+v", resp)
	}
	cl, err := ParseClaims(resp.Token)
	if err != nil || cl.Vat != "987654321" || cl.ContractNumber != "87654321" {
		t.Fatalf("claims %+v %v", cl, err)
	}
	e.clock.Advance(time.Hour)
	_, err = e.client.CreditsSummary(context.Background(), resp.Token)
	wantKind(t, err, upstream.KindUnauthorized, resp.Token)
	// Two tokens of one customer at the same instant still differ.
	a, b := e.token(t, 0), e.token(t, 0)
	if a == b {
		t.Error("tokens issued at the same instant are identical")
	}
}

// TestSimOutputIsJSON covers the answers Go's mux would otherwise write as
// text/plain.
func TestSimOutputIsJSON(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/api/brilla/v1/nope", 404},
		{"POST", "/api/brilla/v1/credits", 404},
		{"GET", "/api/brilla/v1/token/generate", 404},
		{"GET", "/api/brilla/v1/credits/abc", 401},
	} {
		status, body := rawCall(t, tc.method, e.srv.URL+tc.path, "", "")
		if status != tc.status || body["success"] != false {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, status, body)
		}
	}
	tok := e.token(t, 0)
	status, body := rawCall(t, "GET", e.srv.URL+"/api/brilla/v1/credits/abc", tok, "")
	if status != 400 || body["error"] != "bad_request" {
		t.Errorf("non-numeric loan id: %d %v", status, body)
	}
	for _, st := range []int{400, 401, 403, 404, 418, 429, 500, 502, 503, 504} {
		e.ctl.Faults.Set(simkit.Fault{Upstream: "brilla", Status: st, Rate: 1})
		status, body := rawCall(t, "GET", e.srv.URL+PathCredits, tok, "")
		if status != st || body["success"] != false || body["error"] == "" || body["message"] == "" {
			t.Errorf("fault %d: %d %v", st, status, body)
		}
	}
	e.ctl.Faults.Clear()
	// A fault for SERPI leaves Brilla alone.
	e.ctl.Faults.Set(simkit.Fault{Upstream: "serpi", Status: 500, Rate: 1})
	if status, _ := rawCall(t, "GET", e.srv.URL+PathCredits, tok, ""); status != 200 {
		t.Errorf("serpi fault affected brilla: %d", status)
	}
}

func TestSimStatsAndConcurrency(t *testing.T) {
	e := newTestEnv(t, SimConfig{})
	ctx := context.Background()
	tok := e.token(t, 0)
	const n = 20
	var wg sync.WaitGroup
	codes := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.client.Credit(ctx, tok, 1); err != nil {
				t.Error(err)
			}
			if _, err := e.client.CreditPayments(ctx, tok, 2); err != nil {
				t.Error(err)
			}
			reg, err := e.client.Register(ctx, validRegistration(fmt.Sprintf("10000%02d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			codes <- reg.TrackingCode
		}()
	}
	wg.Wait()
	close(codes)
	unique := map[string]bool{}
	for c := range codes {
		if unique[c] {
			t.Errorf("tracking code %s issued twice", c)
		}
		unique[c] = true
	}
	if len(unique) != n {
		t.Errorf("%d tracking codes, want %d", len(unique), n)
	}
	if _, err := e.client.Credit(ctx, tok, 4); err == nil {
		t.Error("foreign loan served")
	}

	snap := e.ctl.Stats.Snapshot()
	want := map[string]int64{
		"POST /api/brilla/v1/token/generate":            1,
		"GET /api/brilla/v1/credits/{loan_id}":          n + 1,
		"GET /api/brilla/v1/credits/{loan_id}/payments": n,
		"POST /api/brilla/v1/register":                  n,
	}
	for k, v := range want {
		if snap.Calls[k] != v {
			t.Errorf("calls[%q] = %d, want %d (all: %v)", k, snap.Calls[k], v, snap.Calls)
		}
	}
	if m := snap.MaxConcurrentPerToken[tok]; m < 1 || m > 2*n {
		t.Errorf("max concurrent for the token = %d", m)
	}

	// The control endpoints are mounted on the standalone handler.
	status, body := rawCall(t, "GET", e.srv.URL+"/_sim/stats", "", "")
	calls, _ := body["calls"].(map[string]any)
	if status != 200 || calls["GET /api/brilla/v1/credits/{loan_id}"] != float64(n+1) {
		t.Errorf("/_sim/stats: %d %v", status, body)
	}
}

func TestSimRegisterOnSharedMux(t *testing.T) {
	ctl := simkit.NewControl(0)
	mux := http.NewServeMux()
	NewSimulator(SimConfig{}, ctl).Register(mux)
	// Other upstreams share the mux: their paths must stay free.
	mux.HandleFunc("GET /api/v1/Sucursales", func(http.ResponseWriter, *http.Request) {})
	for _, p := range []string{PathTokenGenerate, PathRegister, PathValidateContract} {
		if _, pat := mux.Handler(httpRequest(t, "POST", p)); pat != "POST "+p {
			t.Errorf("POST %s matched %q", p, pat)
		}
	}
	for _, p := range []string{PathCredits, PathCreditsSummary, "/api/brilla/v1/credits/7", "/api/brilla/v1/credits/7/payments", "/api/brilla/v1/register/status/X"} {
		if _, pat := mux.Handler(httpRequest(t, "GET", p)); !strings.HasPrefix(pat, "GET /api/brilla/v1/") {
			t.Errorf("GET %s matched %q", p, pat)
		}
	}
}

func httpRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://sim"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDemoData(t *testing.T) {
	if len(DemoCustomers) < 3 {
		t.Fatalf("%d demo customers", len(DemoCustomers))
	}
	c := DemoCustomers[0]
	if c.Vat != "123456789" || c.ContractNumber != "12345678" || c.QuestionID != 1 || c.Answer != "mi_respuesta" {
		t.Errorf("first demo customer %+v is not the seed's", c)
	}
	ids := map[int64]bool{}
	for _, dc := range DemoCredits {
		if ids[dc.ID] {
			t.Errorf("duplicate loan id %d", dc.ID)
		}
		ids[dc.ID] = true
		if _, err := buildLoan(dc); err != nil {
			t.Errorf("loan %d: %v", dc.ID, err)
		}
	}
}
