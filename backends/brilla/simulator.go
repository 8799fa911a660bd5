package brilla

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

// DefaultTokenTTL is how long a simulated token lives: the seed says
// tokens are valid for 30 days.
const DefaultTokenTTL = 30 * 24 * time.Hour

// DefaultSigningKey signs the simulator's tokens when SimConfig.SigningKey
// is empty. It is a published demo key: simulated tokens grant nothing.
var DefaultSigningKey = []byte("brilla-simulator-demo-signing-key-not-a-secret")

// maxRequestBytes bounds a request body: a registration carries three
// base64 documents (identity card photos and a gas bill).
const maxRequestBytes = 32 << 20

// colombia is Brilla's wall-clock zone (UTC-5, no daylight saving). A fixed
// zone avoids depending on the host's tzdata.
var colombia = time.FixedZone("COT", -5*60*60)

// ExpiresAtLayout is the layout of TokenResponse.ExpiresAt (Colombian
// wall-clock time without a zone, as in the seed).
const ExpiresAtLayout = "2006-01-02T15:04:05"

// Registration states.
const (
	RegistrationPending  = "pending"
	RegistrationApproved = "approved"
	RegistrationRejected = "rejected"
)

// Credit states used by the simulator.
const (
	CreditPosted = "posted"
	CreditPaid   = "paid"
)

// DemoCustomer is a customer the simulator knows, with the answer to their
// security question.
type DemoCustomer struct {
	Vat            string
	ContractNumber string
	QuestionID     int
	Answer         string
	Name           string
	// ContractActive is false for a customer whose gas contract is
	// suspended: validate/contract reports it and the quota is zero.
	ContractActive bool
	// CreditLimit is the customer's quota in whole pesos.
	CreditLimit int64
}

// DemoCustomers are the simulator's customers. The first is the seed's
// example (vat 123456789, contract 12345678, answer "mi_respuesta").
var DemoCustomers = []DemoCustomer{
	{Vat: "123456789", ContractNumber: "12345678", QuestionID: 1, Answer: "mi_respuesta", Name: "Juan Perez", ContractActive: true, CreditLimit: 5000000},
	{Vat: "987654321", ContractNumber: "87654321", QuestionID: 1, Answer: "mi_respuesta", Name: "Maria Gomez", ContractActive: true, CreditLimit: 4000000},
	{Vat: "555555555", ContractNumber: "55555555", QuestionID: 1, Answer: "mi_respuesta", Name: "Carlos Ruiz", ContractActive: false, CreditLimit: 0},
}

// DemoCredit is a credit of a demo customer. Its first PaidInstallments
// installments are paid (one payment each, on the installment's date).
type DemoCredit struct {
	ID               int64
	ContractNumber   string
	Name             string
	Amount           int64
	MonthlyRate      string // percent, e.g. "1.99"
	Periods          int
	Start            string // YYYY-MM-DD; the first installment is a month later
	PaidInstallments int
}

// DemoCredits are the simulator's credits. Loan ids are global, so a
// customer asking for another customer's id must get not_found.
var DemoCredits = []DemoCredit{
	{ID: 1, ContractNumber: "12345678", Name: "BRILLA/2025/0001", Amount: 1000000, MonthlyRate: "1.99", Periods: 12, Start: "2025-01-01", PaidInstallments: 4},
	{ID: 2, ContractNumber: "12345678", Name: "BRILLA/2025/0002", Amount: 2500000, MonthlyRate: "2.10", Periods: 24, Start: "2025-03-01", PaidInstallments: 2},
	{ID: 3, ContractNumber: "12345678", Name: "BRILLA/2024/0003", Amount: 600000, MonthlyRate: "1.85", Periods: 6, Start: "2024-06-01", PaidInstallments: 6},
	{ID: 4, ContractNumber: "87654321", Name: "BRILLA/2025/0004", Amount: 1500000, MonthlyRate: "1.95", Periods: 18, Start: "2025-02-01", PaidInstallments: 3},
	{ID: 5, ContractNumber: "87654321", Name: "BRILLA/2025/0005", Amount: 800000, MonthlyRate: "2.05", Periods: 10, Start: "2025-05-01", PaidInstallments: 1},
}

// SimConfig configures a Simulator. The zero value is usable.
type SimConfig struct {
	// RegistrationDelay is how long a registration stays pending.
	RegistrationDelay time.Duration
	// TokenTTL is the lifetime of issued tokens (default 30 days).
	TokenTTL time.Duration
	// SigningKey signs tokens with HS256 (default DefaultSigningKey).
	SigningKey []byte
	// Now is the simulator's clock (default time.Now); tests move it to
	// expire tokens and finish registrations.
	Now func() time.Time
	// Seed seeds the token ids, so runs are reproducible.
	Seed uint64
}

// Simulator is an in-memory Brilla API that follows the seed: paths,
// envelopes, error codes, JWTs that expire, asynchronous registrations and
// consistent amortization schedules. It is safe for concurrent use.
type Simulator struct {
	cfg SimConfig
	ctl *simkit.Control

	// Immutable after NewSimulator, so read without locking.
	customers map[string]*simCustomer // by customerKey(vat, contract)
	loans     map[int64]*simLoan

	mu       sync.Mutex
	regs     map[string]*registration // by tracking code
	regSeq   int64
	tokenRNG *rand.Rand
}

type simCustomer struct {
	DemoCustomer
	loans []*simLoan
}

type simLoan struct {
	contract string
	detail   CreditDetail
	payments PaymentList
}

type registration struct {
	trackingCode string
	requestID    int64
	vat          string
	created      time.Time
}

// NewSimulator builds a simulator with the demo data. A nil ctl gets a
// fresh simkit.Control.
func NewSimulator(cfg SimConfig, ctl *simkit.Control) *Simulator {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if len(cfg.SigningKey) == 0 {
		cfg.SigningKey = DefaultSigningKey
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if ctl == nil {
		ctl = simkit.NewControl(0)
	}
	s := &Simulator{
		cfg:       cfg,
		ctl:       ctl,
		customers: map[string]*simCustomer{},
		loans:     map[int64]*simLoan{},
		regs:      map[string]*registration{},
		tokenRNG:  rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xb1111a)),
	}
	for _, c := range DemoCustomers {
		s.customers[customerKey(c.Vat, c.ContractNumber)] = &simCustomer{DemoCustomer: c}
	}
	for _, dc := range DemoCredits {
		loan, err := buildLoan(dc)
		if err != nil {
			// The demo data is a constant of this package: a failure is a
			// programming error caught by the tests.
			panic(fmt.Sprintf("brilla simulator: demo credit %d: %v", dc.ID, err))
		}
		for _, c := range s.customers {
			if c.ContractNumber == dc.ContractNumber {
				c.loans = append(c.loans, loan)
			}
		}
		s.loans[dc.ID] = loan
	}
	return s
}

func customerKey(vat, contract string) string { return vat + "\x00" + contract }

// buildLoan computes a demo credit's schedule and marks its paid
// installments, with one payment per paid installment, so that the detail,
// the payments list and the summary always agree.
func buildLoan(dc DemoCredit) (*simLoan, error) {
	start, err := time.Parse(DateLayout, dc.Start)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	schedule, err := Amortize(dc.Amount, dc.MonthlyRate, dc.Periods, start)
	if err != nil {
		return nil, err
	}
	if dc.PaidInstallments < 0 || dc.PaidInstallments > len(schedule) {
		return nil, fmt.Errorf("paid installments %d out of range", dc.PaidInstallments)
	}
	rate, err := wire.ParseDecimal(dc.MonthlyRate)
	if err != nil {
		return nil, err
	}
	var payments []Payment
	var totalPaid, totalPending int64
	pendingPrincipal := dc.Amount
	for i := range schedule {
		in := &schedule[i]
		if i < dc.PaidInstallments {
			in.State = InstallmentPaid
			totalPaid += in.PaymentAmount.Value
			pendingPrincipal = in.PendingPrincipal.Value
			payments = append(payments, Payment{
				ID:        wire.NewInt(dc.ID*1000 + in.Sequence.Value),
				Date:      in.Date,
				Amount:    in.PaymentAmount,
				Sequence:  in.Sequence,
				Reference: wire.Text(fmt.Sprintf("FAC-%s-%s", dc.ContractNumber, strings.ReplaceAll(in.Date, "-", ""))),
				Method:    "factura_gas",
			})
		} else {
			totalPending += in.PaymentAmount.Value
		}
	}
	sum := PaymentSummary{
		TotalPaid:    wire.NewInt(totalPaid),
		TotalPending: wire.NewInt(totalPending),
		PaidCount:    wire.NewInt(int64(dc.PaidInstallments)),
		PendingCount: wire.NewInt(int64(len(schedule) - dc.PaidInstallments)),
	}
	state := CreditPosted
	if dc.PaidInstallments == len(schedule) {
		state = CreditPaid
	}
	if payments == nil {
		payments = []Payment{} // [] rather than null: clients iterate it
	}
	return &simLoan{
		contract: dc.ContractNumber,
		detail: CreditDetail{
			Credit: Credit{
				ID:            wire.NewInt(dc.ID),
				Name:          dc.Name,
				Amount:        wire.NewInt(dc.Amount),
				PendingAmount: wire.NewInt(pendingPrincipal),
				Periods:       wire.NewInt(int64(dc.Periods)),
				Rate:          rate,
				State:         state,
				StartDate:     start.Format(DateLayout),
				EndDate:       schedule[len(schedule)-1].Date,
			},
			Amortization: schedule,
			Payments:     sum,
		},
		payments: PaymentList{LoanID: wire.NewInt(dc.ID), Payments: payments, TotalPaid: wire.NewInt(totalPaid)},
	}, nil
}

// Control returns the counters and faults the simulator reports to.
func (s *Simulator) Control() *simkit.Control { return s.ctl }

// Register installs the eight Brilla endpoints on mux through
// Control.Handle (so calls are counted under the seed's path templates and
// faults apply), plus a JSON 404 for any other path under /api/brilla/v1/.
func (s *Simulator) Register(mux *http.ServeMux) {
	// Brilla does not refuse concurrent use of a token, but counting it
	// (from before the simulated latency) lets tests bound it.
	guard := simkit.Guard{Token: func(r *http.Request) string {
		scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(token)
	}}
	h := func(method, path string, fn http.HandlerFunc) {
		s.ctl.HandleGuarded(mux, "brilla", method+" "+path, guard, writeFault, fn)
	}
	h(http.MethodPost, PathTokenGenerate, s.handleToken)
	h(http.MethodPost, PathRegister, s.handleRegister)
	h(http.MethodGet, PathRegisterStatus, s.handleRegisterStatus)
	h(http.MethodPost, PathValidateContract, s.handleValidateContract)
	h(http.MethodGet, PathCreditsSummary, s.authed(s.handleSummary))
	h(http.MethodGet, PathCredits, s.authed(s.handleCredits))
	h(http.MethodGet, PathCreditDetail, s.authed(s.handleCredit))
	h(http.MethodGet, PathCreditPayments, s.authed(s.handlePayments))
	// Without this, Go's mux would answer unknown paths and wrong methods
	// with text/plain, and the simulator promises JSON everywhere.
	mux.HandleFunc(apiPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "Recurso no encontrado")
	})
}

// Handler returns a standalone handler serving the Brilla endpoints and
// the simkit control endpoints under /_sim/.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	mux.Handle("/_sim/", s.ctl.Handler())
	return mux
}

// errorBody is Brilla's error envelope.
type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// dataBody is Brilla's envelope for data-bearing answers.
type dataBody struct {
	Success bool `json:"success"`
	Data    any  `json:"data"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	simkit.WriteJSON(w, status, errorBody{Success: false, Error: code, Message: message})
}

// writeFault answers an injected fault with the body Brilla would send for
// that status.
func writeFault(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusBadRequest:
		writeError(w, status, CodeBadRequest, "Datos invalidos en la peticion")
	case status == http.StatusUnauthorized:
		writeError(w, status, CodeUnauthorized, "Token invalido o expirado")
	case status == http.StatusNotFound:
		writeError(w, status, CodeNotFound, "Recurso no encontrado")
	case status == http.StatusTooManyRequests:
		writeError(w, status, CodeRateLimit, "Demasiadas peticiones")
	case status >= 500:
		writeError(w, status, CodeServerError, "Error interno del servidor")
	default:
		writeError(w, status, CodeBadRequest, "Datos invalidos en la peticion")
	}
}

// decodeBody reads a JSON request body; it answers 400 itself and reports
// false when the body is unusable.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(v)
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "La peticion excede el tamano maximo")
		return false
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, "JSON invalido en la peticion")
	return false
}

// missing returns the names whose values are blank.
func missing(fields ...[2]string) []string {
	var out []string
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			out = append(out, f[0])
		}
	}
	return out
}

// tokenInput is the tolerant form of TokenRequest: question_id may arrive
// as "1", and a vat typed as a number is still a vat.
type tokenInput struct {
	Vat            wire.Text `json:"vat"`
	ContractNumber wire.Text `json:"contract_number"`
	QuestionID     wire.Int  `json:"question_id"`
	Answer         wire.Text `json:"answer"`
}

func (s *Simulator) handleToken(w http.ResponseWriter, r *http.Request) {
	var in tokenInput
	if !decodeBody(w, r, &in) {
		return
	}
	miss := missing([2]string{"vat", string(in.Vat)}, [2]string{"contract_number", string(in.ContractNumber)}, [2]string{"answer", string(in.Answer)})
	if !in.QuestionID.Valid {
		miss = append(miss, "question_id")
	}
	if len(miss) > 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "Campos requeridos: "+strings.Join(miss, ", "))
		return
	}
	c, ok := s.customers[customerKey(strings.TrimSpace(string(in.Vat)), strings.TrimSpace(string(in.ContractNumber)))]
	// One message for every mismatch, and the answer compared in constant
	// time: the response must not tell which part was wrong.
	answerOK := ok && subtle.ConstantTimeCompare([]byte(string(in.Answer)), []byte(c.Answer)) == 1
	if !ok || int64(c.QuestionID) != in.QuestionID.Value || !answerOK {
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "Credenciales invalidas")
		return
	}
	now := s.cfg.Now()
	exp := now.Add(s.cfg.TokenTTL)
	token, err := s.sign(c, now, exp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeServerError, "Error interno del servidor")
		return
	}
	validity := fmt.Sprintf("Valido por %d dias.", int(s.cfg.TokenTTL/(24*time.Hour)))
	if s.cfg.TokenTTL < 24*time.Hour {
		validity = "Valido por " + s.cfg.TokenTTL.String() + "."
	}
	simkit.WriteJSON(w, http.StatusOK, TokenResponse{
		Success:   true,
		Token:     token,
		ExpiresAt: exp.In(colombia).Format(ExpiresAtLayout),
		Message:   "Token generado exitosamente. " + validity,
	})
}

// jwtHeader is the fixed header of the simulator's tokens.
const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

// tokenClaims are the claims of a simulated token.
type tokenClaims struct {
	Vat            string `json:"vat"`
	ContractNumber string `json:"contract_number"`
	IssuedAt       int64  `json:"iat"`
	ExpiresAt      int64  `json:"exp"`
	ID             string `json:"jti"`
}

// sign issues an HS256 JWT. It is hand-rolled (the format is three
// base64url segments and an HMAC) to keep the module free of a JWT library
// for a simulator.
func (s *Simulator) sign(c *simCustomer, iat, exp time.Time) (string, error) {
	s.mu.Lock()
	jti := fmt.Sprintf("%016x", s.tokenRNG.Uint64())
	s.mu.Unlock()
	claims, err := json.Marshal(tokenClaims{
		Vat: c.Vat, ContractNumber: c.ContractNumber,
		IssuedAt: iat.Unix(), ExpiresAt: exp.Unix(), ID: jti,
	})
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(jwtHeader)) + "." + enc.EncodeToString(claims)
	return signing + "." + enc.EncodeToString(s.mac(signing)), nil
}

func (s *Simulator) mac(signing string) []byte {
	m := hmac.New(sha256.New, s.cfg.SigningKey)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// errBadToken is every reason a token is refused; the reason is not told
// to the caller.
var errBadToken = errors.New("invalid token")

// verify checks a token's algorithm, signature and expiry and returns its
// customer.
func (s *Simulator) verify(token string) (*simCustomer, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errBadToken
	}
	enc := base64.RawURLEncoding
	rawHeader, err := enc.DecodeString(parts[0])
	if err != nil {
		return nil, errBadToken
	}
	var header struct {
		Alg string `json:"alg"`
	}
	// Pinning the algorithm refuses "alg":"none" and algorithm confusion.
	if json.Unmarshal(rawHeader, &header) != nil || header.Alg != "HS256" {
		return nil, errBadToken
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac(parts[0]+"."+parts[1])) {
		return nil, errBadToken
	}
	rawClaims, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, errBadToken
	}
	var cl tokenClaims
	if err := json.Unmarshal(rawClaims, &cl); err != nil {
		return nil, errBadToken
	}
	if s.cfg.Now().Unix() >= cl.ExpiresAt {
		return nil, errBadToken
	}
	c, ok := s.customers[customerKey(cl.Vat, cl.ContractNumber)]
	if !ok {
		return nil, errBadToken
	}
	return c, nil
}

// authed wraps a handler of an authenticated endpoint: it verifies the
// bearer token and tracks the token's concurrency (Brilla, unlike SERPI,
// does not refuse concurrent use, but the counters let tests see it).
func (s *Simulator) authed(h func(http.ResponseWriter, *http.Request, *simCustomer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "Token requerido")
			return
		}
		c, err := s.verify(token)
		if err != nil {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "Token invalido o expirado")
			return
		}
		h(w, r, c)
	}
}

func (s *Simulator) handleSummary(w http.ResponseWriter, _ *http.Request, c *simCustomer) {
	var used, active int64
	for _, l := range c.loans {
		used += l.detail.Credit.PendingAmount.Value
		if l.detail.Credit.State == CreditPosted {
			active++
		}
	}
	available := c.CreditLimit - used
	if available < 0 || !c.ContractActive {
		available = 0
	}
	simkit.WriteJSON(w, http.StatusOK, dataBody{Success: true, Data: Summary{
		CreditLimit:   wire.NewInt(c.CreditLimit),
		Available:     wire.NewInt(available),
		Used:          wire.NewInt(used),
		ActiveCredits: wire.NewInt(active),
		TotalPending:  wire.NewInt(used),
		Contract:      Contract{Number: wire.Text(c.ContractNumber), Active: wire.Bool(c.ContractActive)},
	}})
}

func (s *Simulator) handleCredits(w http.ResponseWriter, _ *http.Request, c *simCustomer) {
	list := CreditList{Credits: []Credit{}}
	var pending, active int64
	for _, l := range c.loans {
		list.Credits = append(list.Credits, l.detail.Credit)
		pending += l.detail.Credit.PendingAmount.Value
		if l.detail.Credit.State == CreditPosted {
			active++
		}
	}
	list.TotalPending = wire.NewInt(pending)
	list.ActiveCount = wire.NewInt(active)
	simkit.WriteJSON(w, http.StatusOK, dataBody{Success: true, Data: list})
}

// ownLoan finds the loan in the path among the customer's own. Another
// customer's loan is answered exactly like a missing one, so ids cannot be
// probed.
func (s *Simulator) ownLoan(w http.ResponseWriter, r *http.Request, c *simCustomer) (*simLoan, bool) {
	id, err := strconv.ParseInt(r.PathValue("loan_id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "loan_id debe ser un numero entero")
		return nil, false
	}
	l, ok := s.loans[id]
	if !ok || l.contract != c.ContractNumber {
		writeError(w, http.StatusNotFound, CodeNotFound, "Credito no encontrado")
		return nil, false
	}
	return l, true
}

func (s *Simulator) handleCredit(w http.ResponseWriter, r *http.Request, c *simCustomer) {
	if l, ok := s.ownLoan(w, r, c); ok {
		simkit.WriteJSON(w, http.StatusOK, dataBody{Success: true, Data: l.detail})
	}
}

func (s *Simulator) handlePayments(w http.ResponseWriter, r *http.Request, c *simCustomer) {
	if l, ok := s.ownLoan(w, r, c); ok {
		simkit.WriteJSON(w, http.StatusOK, dataBody{Success: true, Data: l.payments})
	}
}

// validateInput is the tolerant form of ValidateContractRequest.
type validateInput struct {
	Vat            wire.Text `json:"vat"`
	ContractNumber wire.Text `json:"contract_number"`
}

func (s *Simulator) handleValidateContract(w http.ResponseWriter, r *http.Request) {
	var in validateInput
	if !decodeBody(w, r, &in) {
		return
	}
	if miss := missing([2]string{"vat", string(in.Vat)}, [2]string{"contract_number", string(in.ContractNumber)}); len(miss) > 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "Campos requeridos: "+strings.Join(miss, ", "))
		return
	}
	out := ValidateContractResponse{Success: true, Message: "Documento y contrato no coinciden"}
	if c, ok := s.customers[customerKey(strings.TrimSpace(string(in.Vat)), strings.TrimSpace(string(in.ContractNumber)))]; ok {
		out.Valid = true
		out.Active = wire.Bool(c.ContractActive)
		out.Message = "Contrato valido y activo"
		if !c.ContractActive {
			out.Message = "Contrato valido pero inactivo"
		}
	}
	simkit.WriteJSON(w, http.StatusOK, out)
}

// registerInput is the tolerant form of RegisterRequest (a phone typed as
// a number is still a phone).
type registerInput struct {
	Vat              wire.Text `json:"vat"`
	VatType          wire.Text `json:"vat_type"`
	Name             wire.Text `json:"name"`
	Email            wire.Text `json:"email"`
	Phone            wire.Text `json:"phone"`
	ContractNumber   wire.Text `json:"contract_number"`
	BirthDate        wire.Text `json:"birth_date"`
	BirthCity        wire.Text `json:"birth_city"`
	IDExpeditionDate wire.Text `json:"id_expedition_date"`
	IDExpeditionCity wire.Text `json:"id_expedition_city"`
	Address          wire.Text `json:"address"`
	City             wire.Text `json:"city"`
	Attachments      []struct {
		Name wire.Text `json:"name"`
		Data string    `json:"data"`
	} `json:"attachments"`
}

// vatTypes are the document types Brilla accepts.
var vatTypes = map[string]bool{"cedula": true, "cedula_extranjeria": true, "nit": true, "pasaporte": true}

// validate returns the first problem with a registration, in Spanish as
// Brilla writes its messages, or "".
func (in *registerInput) validate() string {
	if miss := missing(
		[2]string{"vat", string(in.Vat)},
		[2]string{"vat_type", string(in.VatType)},
		[2]string{"name", string(in.Name)},
		[2]string{"email", string(in.Email)},
		[2]string{"phone", string(in.Phone)},
		[2]string{"contract_number", string(in.ContractNumber)},
		[2]string{"address", string(in.Address)},
		[2]string{"city", string(in.City)},
	); len(miss) > 0 {
		return "Campos requeridos: " + strings.Join(miss, ", ")
	}
	if !vatTypes[strings.TrimSpace(string(in.VatType))] {
		return "vat_type debe ser cedula, cedula_extranjeria, nit o pasaporte"
	}
	if !strings.Contains(string(in.Email), "@") {
		return "email invalido"
	}
	for _, d := range [][2]string{{"birth_date", string(in.BirthDate)}, {"id_expedition_date", string(in.IDExpeditionDate)}} {
		if d[1] == "" {
			continue
		}
		if _, err := time.Parse(DateLayout, d[1]); err != nil {
			return d[0] + " debe tener formato YYYY-MM-DD"
		}
	}
	for i, a := range in.Attachments {
		if strings.TrimSpace(string(a.Name)) == "" {
			return fmt.Sprintf("attachments[%d]: name es requerido", i)
		}
		if !validBase64(a.Data) {
			return fmt.Sprintf("attachments[%d] (%s): data debe ser base64 valido", i, a.Name)
		}
	}
	return ""
}

// validBase64 accepts standard or URL-safe base64, padded or not, and
// refuses empty data.
func validBase64(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(s); err == nil {
			return true
		}
	}
	return false
}

func (s *Simulator) handleRegister(w http.ResponseWriter, r *http.Request) {
	var in registerInput
	if !decodeBody(w, r, &in) {
		return
	}
	if msg := in.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, msg)
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	s.regSeq++
	reg := &registration{
		trackingCode: fmt.Sprintf("BRL%s%04d", now.In(colombia).Format("20060102"), s.regSeq),
		requestID:    s.regSeq,
		vat:          strings.TrimSpace(string(in.Vat)),
		created:      now,
	}
	s.regs[reg.trackingCode] = reg
	s.mu.Unlock()
	simkit.WriteJSON(w, http.StatusOK, RegisterResponse{
		Success:      true,
		Message:      "Solicitud recibida exitosamente. En unos minutos recibira respuesta.",
		RequestID:    wire.NewInt(reg.requestID),
		State:        RegistrationPending,
		TrackingCode: reg.trackingCode,
	})
}

// status computes a registration's state lazily from its creation time, so
// no goroutine has to flip it: pending until RegistrationDelay has passed,
// then final. The final state is deterministic: a vat ending in "0" is
// rejected, every other vat is approved, so tests and demos can ask for
// either outcome.
func (s *Simulator) status(reg *registration) RegistrationStatus {
	out := RegistrationStatus{
		Success:      true,
		TrackingCode: reg.trackingCode,
		RequestID:    wire.NewInt(reg.requestID),
		State:        RegistrationPending,
		Message:      "Solicitud en revision",
		UpdatedAt:    reg.created.In(colombia).Format(time.RFC3339),
	}
	decided := reg.created.Add(s.cfg.RegistrationDelay)
	if s.cfg.Now().Before(decided) {
		return out
	}
	out.UpdatedAt = decided.In(colombia).Format(time.RFC3339)
	if strings.HasSuffix(reg.vat, "0") {
		out.State = RegistrationRejected
		out.Message = "Solicitud rechazada: el documento no cumple las politicas de credito"
	} else {
		out.State = RegistrationApproved
		out.Message = "Solicitud aprobada. Ya puede generar su token."
	}
	return out
}

func (s *Simulator) handleRegisterStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	reg, ok := s.regs[r.PathValue("tracking_code")]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "Solicitud no encontrada")
		return
	}
	simkit.WriteJSON(w, http.StatusOK, s.status(reg))
}
