package model

// Customer is the Brilla customer of the request's token. Contract and
// CreditSummary come from the one summary call that also proves the token
// valid; credits and branches resolve lazily.
type Customer struct {
	ID            string         `json:"id"`
	Vat           string         `json:"vat"`
	Contract      *Contract      `json:"contract"`
	CreditSummary *CreditSummary `json:"creditSummary"`
}

// IsNode marks Customer as a Node.
func (Customer) IsNode() {}

// GetID returns the global ID.
func (c Customer) GetID() string { return c.ID }

// Credit is one of the customer's credits as listed by Brilla; its
// schedule, payments and totals resolve lazily from the detail endpoints.
type Credit struct {
	ID            string      `json:"id"`
	LoanID        int         `json:"loanId"`
	Name          string      `json:"name"`
	Amount        Money       `json:"amount"`
	PendingAmount Money       `json:"pendingAmount"`
	Periods       int         `json:"periods"`
	MonthlyRate   Decimal     `json:"monthlyRate"`
	State         CreditState `json:"state"`
	StartDate     *Date       `json:"startDate,omitempty"`
	EndDate       *Date       `json:"endDate,omitempty"`
}

// IsNode marks Credit as a Node.
func (Credit) IsNode() {}

// GetID returns the global ID.
func (c Credit) GetID() string { return c.ID }

// Payment is a payment received on a credit. LoanID, the credit it was
// received on, is not a schema field: Payment.credit resolves it from the
// customer's own credit list.
type Payment struct {
	// PaymentID is Brilla's payment id.
	PaymentID *int `json:"paymentId,omitempty"`
	// Date is the date received.
	Date Date `json:"date"`
	// Amount is the amount received.
	Amount Money `json:"amount"`
	// InstallmentSequence is the installment it settled, when known.
	InstallmentSequence *int `json:"installmentSequence,omitempty"`
	// Reference is the payment reference.
	Reference *string `json:"reference,omitempty"`
	// Method is the channel, e.g. factura_gas, pse.
	Method *string `json:"method,omitempty"`
	// LoanID is the credit the payment was received on.
	LoanID int64 `json:"-"`
}
