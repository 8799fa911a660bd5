// Package brilla is the client, wire types and simulator of the Brilla
// (Serfigas) consumer-credit API documented in shared/seeds/brilla-credit-api.txt.
package brilla

import (
	"encoding/json"

	"github.com/serfigas/brilla-gateway/backends/wire"
)

// Paths of the Brilla API, relative to the base URL (e.g.
// https://api.serfigas.com). They double as the simulator's stats keys.
const (
	PathTokenGenerate    = "/api/brilla/v1/token/generate"
	PathRegister         = "/api/brilla/v1/register"
	PathRegisterStatus   = "/api/brilla/v1/register/status/{tracking_code}"
	PathValidateContract = "/api/brilla/v1/validate/contract"
	PathCreditsSummary   = "/api/brilla/v1/credits/summary"
	PathCredits          = "/api/brilla/v1/credits"
	PathCreditDetail     = "/api/brilla/v1/credits/{loan_id}"
	PathCreditPayments   = "/api/brilla/v1/credits/{loan_id}/payments"
)

// Error codes of the Brilla API (the "error" field of an error body).
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not_found"
	CodeRateLimit    = "rate_limit"
	CodeServerError  = "server_error"
)

// TokenRequest is the body of POST token/generate.
type TokenRequest struct {
	Vat            string `json:"vat"`
	ContractNumber string `json:"contract_number"`
	QuestionID     int    `json:"question_id"`
	Answer         string `json:"answer"`
}

// TokenResponse is the answer of POST token/generate.
type TokenResponse struct {
	Success   bool   `json:"success"`
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"` // "2025-01-15T10:30:00", no zone (Colombia, UTC-5)
	Message   string `json:"message"`
}

// Attachment is one registration document, base64-encoded.
type Attachment struct {
	Name string `json:"name"`
	Data string `json:"data"`
}

// RegisterRequest is the body of POST register.
type RegisterRequest struct {
	Vat              string       `json:"vat"`
	VatType          string       `json:"vat_type"` // cedula, cedula_extranjeria, nit, pasaporte
	Name             string       `json:"name"`
	Email            string       `json:"email"`
	Phone            string       `json:"phone"`
	ContractNumber   string       `json:"contract_number"`
	BirthDate        string       `json:"birth_date"` // YYYY-MM-DD
	BirthCity        string       `json:"birth_city"`
	IDExpeditionDate string       `json:"id_expedition_date"` // YYYY-MM-DD
	IDExpeditionCity string       `json:"id_expedition_city"`
	Address          string       `json:"address"`
	City             string       `json:"city"`
	Attachments      []Attachment `json:"attachments"`
}

// RegisterResponse is the answer of POST register.
type RegisterResponse struct {
	Success      bool     `json:"success"`
	Message      string   `json:"message"`
	RequestID    wire.Int `json:"request_id"`
	State        string   `json:"state"` // pending
	TrackingCode string   `json:"tracking_code"`
}

// RegistrationStatus is the answer of GET register/status/{tracking_code}.
// The seed shows no body; this follows the register answer's field names.
type RegistrationStatus struct {
	Success      bool     `json:"success"`
	TrackingCode string   `json:"tracking_code"`
	RequestID    wire.Int `json:"request_id"`
	State        string   `json:"state"` // pending, approved, rejected
	Message      string   `json:"message"`
	UpdatedAt    string   `json:"updated_at"` // RFC 3339
}

// ValidateContractRequest is the body of POST validate/contract.
type ValidateContractRequest struct {
	Vat            string `json:"vat"`
	ContractNumber string `json:"contract_number"`
}

// ValidateContractResponse is the answer of POST validate/contract. The seed
// shows no body; valid says whether the pair exists, active whether the
// contract is active.
type ValidateContractResponse struct {
	Success bool      `json:"success"`
	Valid   wire.Bool `json:"valid"`
	Active  wire.Bool `json:"active"`
	Message string    `json:"message"`
}

// Contract is a gas contract.
type Contract struct {
	Number wire.Text `json:"number"`
	Active wire.Bool `json:"active"`
}

// Summary is the data of GET credits/summary. Amounts are whole pesos.
type Summary struct {
	CreditLimit   wire.Int `json:"credit_limit"`
	Available     wire.Int `json:"available"`
	Used          wire.Int `json:"used"`
	ActiveCredits wire.Int `json:"active_credits"`
	TotalPending  wire.Int `json:"total_pending"`
	Contract      Contract `json:"contract"`
}

// Credit is one credit as listed by GET credits (the detail omits the dates).
type Credit struct {
	ID            wire.Int     `json:"id"`
	Name          string       `json:"name"`
	Amount        wire.Int     `json:"amount"`
	PendingAmount wire.Int     `json:"pending_amount"`
	Periods       wire.Int     `json:"periods"`
	Rate          wire.Decimal `json:"rate"`       // monthly rate in percent, e.g. 1.99
	State         string       `json:"state"`      // posted, paid, cancelled, ...
	StartDate     string       `json:"start_date"` // YYYY-MM-DD
	EndDate       string       `json:"end_date"`   // YYYY-MM-DD
}

// CreditList is the data of GET credits.
type CreditList struct {
	Credits      []Credit `json:"credits"`
	TotalPending wire.Int `json:"total_pending"`
	ActiveCount  wire.Int `json:"active_count"`
}

// Installment is one row of an amortization schedule.
type Installment struct {
	Sequence         wire.Int `json:"sequence"`
	Date             string   `json:"date"` // YYYY-MM-DD
	PaymentAmount    wire.Int `json:"payment_amount"`
	PrincipalAmount  wire.Int `json:"principal_amount"`
	InterestAmount   wire.Int `json:"interest_amount"`
	PendingPrincipal wire.Int `json:"pending_principal"`
	State            string   `json:"state"` // paid, pending, overdue
}

// PaymentSummary totals a credit's schedule.
type PaymentSummary struct {
	TotalPaid    wire.Int `json:"total_paid"`
	TotalPending wire.Int `json:"total_pending"`
	PaidCount    wire.Int `json:"paid_count"`
	PendingCount wire.Int `json:"pending_count"`
}

// CreditDetail is the data of GET credits/{loan_id}.
type CreditDetail struct {
	Credit       Credit         `json:"credit"`
	Amortization []Installment  `json:"amortization"`
	Payments     PaymentSummary `json:"payments"`
}

// Payment is one payment received on a credit. The seed names the endpoint
// but shows no body; fields follow the API's snake_case style.
type Payment struct {
	ID        wire.Int  `json:"id"`
	Date      string    `json:"date"` // YYYY-MM-DD
	Amount    wire.Int  `json:"amount"`
	Sequence  wire.Int  `json:"sequence"` // installment it settled
	Reference wire.Text `json:"reference"`
	Method    string    `json:"method"` // factura_gas, pse, efectivo
}

// PaymentList is the data of GET credits/{loan_id}/payments.
type PaymentList struct {
	LoanID    wire.Int  `json:"loan_id"`
	Payments  []Payment `json:"payments"`
	TotalPaid wire.Int  `json:"total_paid"`
}

// envelope is the shape of every Brilla answer: data-bearing endpoints put
// their payload under "data"; errors carry "error" (a code) and "message".
// Success is a pointer so that an answer without the field is told apart
// from an explicit false; Error is raw because a proxy or a newer API
// version may send an object instead of a code string.
type envelope struct {
	Success *wire.Bool      `json:"success"`
	Error   json.RawMessage `json:"error"`
	Message wire.Text       `json:"message"`
	Errors  wire.Messages   `json:"errors"`
	Data    json.RawMessage `json:"data"`
}
