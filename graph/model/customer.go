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
