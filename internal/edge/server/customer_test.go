package server_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
)

const viewerQuery = `{
  viewer {
    id vat
    contract { number active }
    creditSummary { creditLimit available used activeCredits totalPending }
    credits {
      id loanId name amount pendingAmount periods monthlyRate state startDate endDate
      amortization { sequence date paymentAmount principalAmount interestAmount pendingPrincipal state }
      payments { paymentId date amount installmentSequence method }
      paymentSummary { totalPaid totalPending paidCount pendingCount }
      nextInstallment { sequence state }
    }
    branches { id description thirdParty { nit } }
  }
}`

type installment struct {
	Sequence                                                         int
	Date, State                                                      string
	PaymentAmount, PrincipalAmount, InterestAmount, PendingPrincipal int64
}

type credit struct {
	ID, Name, MonthlyRate, State, StartDate, EndDate string
	LoanID, Periods                                  int
	Amount, PendingAmount                            int64
	Amortization                                     []installment
	Payments                                         []struct {
		PaymentID, InstallmentSequence int
		Date, Method                   string
		Amount                         int64
	}
	PaymentSummary struct {
		TotalPaid, TotalPending int64
		PaidCount, PendingCount int
	}
	NextInstallment *struct {
		Sequence int
		State    string
	}
}

type viewer struct {
	Viewer *struct {
		ID, Vat  string
		Contract struct {
			Number string
			Active bool
		}
		CreditSummary struct {
			CreditLimit, Available, Used, TotalPending int64
			ActiveCredits                              int
		}
		Credits  []credit
		Branches []struct {
			ID, Description string
			ThirdParty      struct{ Nit string }
		}
	}
}

func TestViewerReadsEverythingWithOneCallPerResource(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")
	e.resetStats()

	var out viewer
	e.do(viewerQuery, nil, bearer(tok)).ok(t, &out)
	v := out.Viewer
	if v == nil || v.Vat != "123456789" || v.Contract.Number != "12345678" || !v.Contract.Active {
		t.Fatalf("viewer = %+v", v)
	}
	if got, want := v.ID, base64.StdEncoding.EncodeToString([]byte("Customer:123456789")); got != want {
		t.Errorf("viewer id = %s, want %s", got, want)
	}
	if s := v.CreditSummary; s.CreditLimit != 5_000_000 || s.Available != s.CreditLimit-s.Used {
		t.Errorf("summary = %+v", s)
	}
	if len(v.Credits) < 2 {
		t.Fatalf("want >= 2 credits, got %d", len(v.Credits))
	}
	for i := 1; i < len(v.Credits); i++ {
		if v.Credits[i-1].StartDate < v.Credits[i].StartDate {
			t.Errorf("credits not most recent first: %s before %s", v.Credits[i-1].StartDate, v.Credits[i].StartDate)
		}
	}
	for _, c := range v.Credits {
		checkSchedule(t, c)
	}
	if len(v.Branches) == 0 {
		t.Error("customer has no branches; the simulator seeds some under each demo vat")
	}
	for _, b := range v.Branches {
		if b.ThirdParty.Nit != v.Vat {
			t.Errorf("branch %s belongs to NIT %s, not the customer", b.ID, b.ThirdParty.Nit)
		}
	}

	// However the query is shaped, each resource is read once.
	calls := e.stats().Calls
	n := int64(len(v.Credits))
	want := map[string]int64{
		"GET " + brilla.PathCreditsSummary: 1,
		"GET " + brilla.PathCredits:        1,
		"GET " + brilla.PathCreditDetail:   n,
		"GET " + brilla.PathCreditPayments: n,
	}
	for k, w := range want {
		if calls[k] != w {
			t.Errorf("%s called %d times, want %d (all calls: %v)", k, calls[k], w, calls)
		}
	}
}

// checkSchedule asserts a credit's schedule is internally consistent and
// agrees with its payments and totals.
func checkSchedule(t *testing.T, c credit) {
	t.Helper()
	if len(c.Amortization) != c.Periods {
		t.Fatalf("%s: %d installments for %d periods", c.Name, len(c.Amortization), c.Periods)
	}
	var principal, paid, pending int64
	paidCount := 0
	for i, row := range c.Amortization {
		if row.Sequence != i+1 {
			t.Errorf("%s: installment %d has sequence %d", c.Name, i+1, row.Sequence)
		}
		if row.PrincipalAmount+row.InterestAmount != row.PaymentAmount {
			t.Errorf("%s #%d: principal+interest != payment", c.Name, row.Sequence)
		}
		principal += row.PrincipalAmount
		if row.PendingPrincipal != c.Amount-principal {
			t.Errorf("%s #%d: pending principal %d, want %d", c.Name, row.Sequence, row.PendingPrincipal, c.Amount-principal)
		}
		if row.State == "PAID" {
			paid += row.PaymentAmount
			paidCount++
		} else {
			pending += row.PaymentAmount
		}
	}
	if principal != c.Amount {
		t.Errorf("%s: principal sums to %d, want amount %d", c.Name, principal, c.Amount)
	}
	if last := c.Amortization[len(c.Amortization)-1]; last.PendingPrincipal != 0 {
		t.Errorf("%s: pending principal ends at %d, want 0", c.Name, last.PendingPrincipal)
	}
	if c.PaymentSummary.TotalPaid != paid || c.PaymentSummary.PaidCount != paidCount || c.PaymentSummary.TotalPending != pending {
		t.Errorf("%s: payment summary %+v, schedule says paid %d (%d) pending %d", c.Name, c.PaymentSummary, paid, paidCount, pending)
	}
	if len(c.Payments) != paidCount {
		t.Errorf("%s: %d payments for %d paid installments", c.Name, len(c.Payments), paidCount)
	}
	switch {
	case paidCount == len(c.Amortization) && c.NextInstallment != nil:
		t.Errorf("%s: paid off but next installment %+v", c.Name, c.NextInstallment)
	case paidCount < len(c.Amortization) && (c.NextInstallment == nil || c.NextInstallment.Sequence != paidCount+1):
		t.Errorf("%s: next installment %+v, want sequence %d", c.Name, c.NextInstallment, paidCount+1)
	}
}

func TestCustomersNeverSeeEachOthersData(t *testing.T) {
	e := newEnv(t)
	tokA := e.signIn("123456789", "12345678")
	tokB := e.signIn("987654321", "87654321")

	var a, b viewer
	e.do(viewerQuery, nil, bearer(tokA)).ok(t, &a)
	e.do(viewerQuery, nil, bearer(tokB)).ok(t, &b)
	if a.Viewer.Vat == b.Viewer.Vat {
		t.Fatal("both tokens resolved to the same customer")
	}
	loansA := map[int]bool{}
	for _, c := range a.Viewer.Credits {
		loansA[c.LoanID] = true
	}
	for _, c := range b.Viewer.Credits {
		if loansA[c.LoanID] {
			t.Fatalf("loan %d appears for both customers", c.LoanID)
		}
	}
	for _, br := range b.Viewer.Branches {
		if br.ThirdParty.Nit != "987654321" {
			t.Fatalf("customer B sees branch of NIT %s", br.ThirdParty.Nit)
		}
	}

	// A asks for B's credit every way the schema allows: nothing.
	other := b.Viewer.Credits[0]
	var byID struct {
		Viewer struct{ Credit *struct{ ID string } }
		Node   *struct{ ID string }
	}
	e.do(`query($id: ID!, $plain: ID!) { viewer { credit(id: $plain) { id } } node(id: $id) { id } }`,
		map[string]any{"id": other.ID, "plain": fmt.Sprint(other.LoanID)}, bearer(tokA)).ok(t, &byID)
	if byID.Viewer.Credit != nil || byID.Node != nil {
		t.Fatalf("customer A reached customer B's credit: %+v", byID)
	}
	// ... and B's customer node.
	var node struct{ Node *struct{ ID string } }
	e.do(`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": b.Viewer.ID}, bearer(tokA)).ok(t, &node)
	if node.Node != nil {
		t.Fatal("customer A resolved customer B's node")
	}
	// Their own credit and node do resolve.
	mine := a.Viewer.Credits[0]
	e.do(`query($id: ID!) { viewer { credit(id: $id) { id } } node(id: $id) { id ... on Credit { loanId } } }`,
		map[string]any{"id": mine.ID}, bearer(tokA)).ok(t, &byID)
	if byID.Viewer.Credit == nil || byID.Node == nil || byID.Node.ID != mine.ID {
		t.Fatalf("own credit not found: %+v", byID)
	}
}

func TestCustomerAccessErrors(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"vat":"987654321","contract_number":"87654321","exp":4102444800}`)) + "." + parts[2]

	tests := []struct {
		name     string
		headers  []string
		code     string
		upstream string
	}{
		{"no token", nil, "UNAUTHENTICATED", ""},
		{"not bearer", []string{"Authorization: Basic abc"}, "UNAUTHENTICATED", ""},
		{"garbage token", []string{bearer("not-a-jwt")}, "UNAUTHENTICATED", "brilla"},
		{"forged claims", []string{bearer(forged)}, "UNAUTHENTICATED", "brilla"},
		{"api key is not a customer", []string{key(testKey)}, "UNAUTHENTICATED", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(`{ viewer { vat credits { name } } }`, nil, tc.headers...)
			got := r.wantCode(t, tc.code)
			if tc.upstream != "" && got.Extensions["upstream"] != tc.upstream {
				t.Errorf("upstream = %v, want %s", got.Extensions["upstream"], tc.upstream)
			}
			if strings.Contains(r.raw, "987654321") {
				t.Error("the forged token's claims leaked into the answer")
			}
			if tc.name == "forged claims" && strings.Contains(r.raw, forged) {
				t.Error("the token is echoed in the answer")
			}
		})
	}
}

func TestGenerateToken(t *testing.T) {
	e := newEnv(t)
	q := `mutation($in: GenerateTokenInput!) { generateToken(input: $in) { token expiresAt } }`
	in := func(vat, contract string, question int, answer string) map[string]any {
		return map[string]any{"in": map[string]any{"vat": vat, "contractNumber": contract, "questionId": question, "answer": answer}}
	}
	tests := []struct {
		name string
		vars map[string]any
		code string
	}{
		{"wrong answer", in("123456789", "12345678", 1, "otra"), "UNAUTHENTICATED"},
		{"wrong contract", in("123456789", "87654321", 1, "mi_respuesta"), "UNAUTHENTICATED"},
		{"unknown customer", in("111111111", "12345678", 1, "mi_respuesta"), "UNAUTHENTICATED"},
		{"letters in vat", in("12345abc", "12345678", 1, "mi_respuesta"), "BAD_USER_INPUT"},
		{"no answer", in("123456789", "12345678", 1, " "), "BAD_USER_INPUT"},
		{"question zero", in("123456789", "12345678", 0, "mi_respuesta"), "BAD_USER_INPUT"},
	}
	var messages []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.resetStats()
			r := e.do(q, tc.vars)
			got := r.wantCode(t, tc.code)
			if tc.code == "UNAUTHENTICATED" {
				messages = append(messages, got.Message)
			} else if n := e.stats().Calls["POST "+brilla.PathTokenGenerate]; n != 0 {
				t.Errorf("refused input still reached Brilla (%d calls)", n)
			}
		})
	}
	// Every wrong credential reads the same, so none confirms a part.
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("messages differ by cause: %q vs %q", m, messages[0])
		}
	}

	var ok struct {
		GenerateToken struct{ Token, ExpiresAt string }
	}
	e.do(q, in("123456789", "12345678", 1, "mi_respuesta")).ok(t, &ok)
	if !strings.Contains(ok.GenerateToken.ExpiresAt, "-05:00") {
		t.Errorf("expiresAt %q should carry Colombia's offset", ok.GenerateToken.ExpiresAt)
	}
}

func TestValidateContractAndRegistration(t *testing.T) {
	e := newEnv(t)
	var out struct {
		A, B, C struct {
			Valid, Active bool
		}
	}
	e.do(`{
	  a: validateContract(vat: "123456789", contractNumber: "12345678") { valid active }
	  b: validateContract(vat: "123456789", contractNumber: "87654321") { valid active }
	  c: validateContract(vat: "555555555", contractNumber: "55555555") { valid active }
	}`, nil).ok(t, &out)
	if !out.A.Valid || !out.A.Active || out.B.Valid || out.B.Active || !out.C.Valid || out.C.Active {
		t.Fatalf("validations = %+v", out)
	}
	e.do(`{ validateContract(vat: "12-3", contractNumber: "1") { valid } }`, nil).wantCode(t, "BAD_USER_INPUT")

	var reg struct{ Registration *struct{ State string } }
	e.do(`{ registration(trackingCode: "BRL209901010001") { state } }`, nil).ok(t, &reg)
	if reg.Registration != nil {
		t.Fatalf("unknown tracking code resolved: %+v", reg.Registration)
	}
	e.do(`{ registration(trackingCode: "../../etc") { state } }`, nil).wantCode(t, "BAD_USER_INPUT")
}

func TestCreditQuote(t *testing.T) {
	e := newEnv(t)
	q := `query($a: Money!, $p: Int!) { creditQuote(amount: $a, periods: $p) {
	  amount periods monthlyRate rateSource installmentAmount totalInterest totalPayment
	  schedule { sequence principalAmount interestAmount paymentAmount pendingPrincipal }
	} }`
	type quote struct {
		CreditQuote struct {
			Amount, InstallmentAmount, TotalInterest, TotalPayment int64
			Periods                                                int
			MonthlyRate, RateSource                                string
			Schedule                                               []installment
		}
	}
	var anon quote
	e.do(q, map[string]any{"a": 1_000_000, "p": 12}).ok(t, &anon)
	cq := anon.CreditQuote
	if cq.RateSource != "DEFAULT" || cq.MonthlyRate != "1.99" || len(cq.Schedule) != 12 {
		t.Fatalf("quote = %+v", cq)
	}
	var principal, interest int64
	for _, row := range cq.Schedule {
		principal += row.PrincipalAmount
		interest += row.InterestAmount
	}
	if principal != 1_000_000 || cq.Schedule[11].PendingPrincipal != 0 || interest != cq.TotalInterest || cq.TotalPayment != principal+interest {
		t.Fatalf("inconsistent quote: principal %d interest %d %+v", principal, interest, cq)
	}

	// A customer is quoted at the rate of their most recent credit.
	tok := e.signIn("123456789", "12345678")
	var mine quote
	e.do(q, map[string]any{"a": 1_000_000, "p": 12}, bearer(tok)).ok(t, &mine)
	if mine.CreditQuote.RateSource != "CUSTOMER" || mine.CreditQuote.MonthlyRate != "2.10" {
		t.Fatalf("customer quote = %s %s", mine.CreditQuote.RateSource, mine.CreditQuote.MonthlyRate)
	}

	for _, bad := range []map[string]any{
		{"a": 0, "p": 12}, {"a": 1_000_000, "p": 0}, {"a": 1_000_000, "p": 1000}, {"a": "12.5", "p": 12}, {"a": 1.5, "p": 12},
	} {
		e.do(q, bad).wantCode(t, "BAD_USER_INPUT")
	}
}

func TestRegistrationStateFollowsBrilla(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		vat   string
		want  string
	}{
		{"still under review", time.Hour, "1234567891", "PENDING"},
		{"decided: approved", 0, "1234567891", "APPROVED"},
		{"decided: rejected", 0, "1234567890", "REJECTED"}, // the simulator rejects documents ending in 0
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, sim.Config{Brilla: brilla.SimConfig{RegistrationDelay: tc.delay}})
			reg, err := brilla.NewClient(e.upstream.URL).Register(t.Context(), brilla.RegisterRequest{
				Vat: tc.vat, VatType: "cedula", Name: "Ana Díaz", Email: "ana@example.com", Phone: "3001234567",
				ContractNumber: "12345678", BirthDate: "1990-01-15", BirthCity: "Cartagena",
				IDExpeditionDate: "2010-03-20", IDExpeditionCity: "Cartagena", Address: "Calle 50 #20-30", City: "Cartagena",
				Attachments: []brilla.Attachment{{Name: "cedula.pdf", Data: base64.StdEncoding.EncodeToString([]byte("%PDF-1.4"))}},
			})
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Registration *struct {
					TrackingCode, State string
					RequestID           int
					UpdatedAt           *string
				}
			}
			e.do(`query($c: String!) { registration(trackingCode: $c) { trackingCode state requestId updatedAt } }`,
				map[string]any{"c": reg.TrackingCode}).ok(t, &out)
			r := out.Registration
			if r == nil || r.State != tc.want || r.TrackingCode != reg.TrackingCode || r.RequestID != int(reg.RequestID.Value) {
				t.Fatalf("registration = %+v, want state %s", r, tc.want)
			}
		})
	}
}

func TestGraphQLOverGET(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(`{ creditQuote(amount: 500000, periods: 3) { installmentAmount } }`), nil)
	rec := httptest.NewRecorder()
	e.gateway.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"installmentAmount"`) {
		t.Fatalf("GET query: %d %s", rec.Code, rec.Body.String())
	}
	// GET never runs a mutation (it would make writes cacheable and CSRF-able).
	req = httptest.NewRequest(http.MethodGet, "/graphql?query="+url.QueryEscape(`mutation { generateToken(input: {vat: "123456789", contractNumber: "12345678", questionId: 1, answer: "mi_respuesta"}) { token } }`), nil)
	rec = httptest.NewRecorder()
	e.gateway.ServeHTTP(rec, req)
	// 405 with Allow, as GraphQL over HTTP asks, and a coded refusal.
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, POST" ||
		strings.Contains(rec.Body.String(), `"token"`) || !strings.Contains(rec.Body.String(), `"code":"BAD_REQUEST"`) {
		t.Fatalf("mutation over GET: %d %s", rec.Code, rec.Body.String())
	}
}
