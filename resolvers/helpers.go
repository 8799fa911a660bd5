package resolvers

import (
	"context"
	"regexp"
	"sort"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/resolvers/loaders"
)

// Bounds of creditQuote's arguments.
const (
	minQuoteAmount  model.Money = 10_000
	maxQuoteAmount  model.Money = 100_000_000
	maxQuotePeriods             = 120
)

var (
	trackingCodePattern = regexp.MustCompile(`^[A-Za-z0-9-]{4,40}$`)
	documentPattern     = regexp.MustCompile(`^[0-9]{4,20}$`)
)

// checkDocument validates a document or contract number: digits only.
func checkDocument(field, value string) error {
	if !documentPattern.MatchString(value) {
		return apperr.BadInput(field, "%s must be 4 to 20 digits", field)
	}
	return nil
}

// validateTokenInput reports every problem of generateToken's input at
// once (apperr.All), each naming its field.
func validateTokenInput(ctx context.Context, in model.GenerateTokenInput) error {
	var questionErr, answerErr error
	if in.QuestionID < 1 {
		questionErr = apperr.BadInput("input.questionId", "questionId must be a positive integer")
	}
	if strings.TrimSpace(in.Answer) == "" || len(in.Answer) > 200 {
		answerErr = apperr.BadInput("input.answer", "answer must be 1 to 200 characters")
	}
	return apperr.All(ctx,
		checkDocument("input.vat", strings.TrimSpace(in.Vat)),
		checkDocument("input.contractNumber", strings.TrimSpace(in.ContractNumber)),
		questionErr, answerErr)
}

// checkQuote reports every problem of creditQuote's arguments at once.
func checkQuote(ctx context.Context, amount model.Money, periods int) error {
	var amountErr, periodsErr error
	if amount < minQuoteAmount || amount > maxQuoteAmount {
		amountErr = apperr.BadInput("amount", "amount must be between %d and %d pesos", minQuoteAmount, maxQuoteAmount)
	}
	if periods < 1 || periods > maxQuotePeriods {
		periodsErr = apperr.BadInput("periods", "periods must be between 1 and %d", maxQuotePeriods)
	}
	return apperr.All(ctx, amountErr, periodsErr)
}

// nodeOf turns a typed resolver result into a Node without producing a
// non-nil interface around a nil pointer.
func nodeOf[T any, P interface {
	*T
	model.Node
}](v P, err error) (model.Node, error) {
	if err != nil || v == nil {
		return nil, err
	}
	return v, nil
}

// findCredit returns the caller's credit with loanID, or nil when the
// caller has no such credit.
func findCredit(ctx context.Context, loanID int64) (*model.Credit, error) {
	// SECURITY: looked up in the caller's own credit list, which Brilla
	// builds from the caller's token; another customer's loan is not there.
	list, err := loaders.For(ctx).Credits(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range list.Credits {
		if c.ID.Value == loanID {
			return toCredit(c), nil
		}
	}
	return nil, nil
}

// quoteRate picks creditQuote's monthly rate: the customer's most recent
// credit's rate when a customer token is present, else the default.
func (r *queryResolver) quoteRate(ctx context.Context) (model.Decimal, model.QuoteRateSource, error) {
	if auth.FromContext(ctx).CustomerToken == "" {
		return r.DefaultMonthlyRate, model.QuoteRateSourceDefault, nil
	}
	list, err := loaders.For(ctx).Credits(ctx)
	if err != nil {
		return "", "", err
	}
	credits := sortedCredits(list.Credits)
	if len(credits) == 0 || credits[0].MonthlyRate == "" {
		return r.DefaultMonthlyRate, model.QuoteRateSourceDefault, nil
	}
	return credits[0].MonthlyRate, model.QuoteRateSourceCustomer, nil
}

// sortedCredits maps Brilla's credits, most recent first (by start date,
// then by loan id), so "the latest credit" has one meaning everywhere.
func sortedCredits(in []brilla.Credit) []*model.Credit {
	out := make([]*model.Credit, 0, len(in))
	for _, c := range in {
		out = append(out, toCredit(c))
	}
	sort.SliceStable(out, func(i, j int) bool {
		di, dj := dateOrEmpty(out[i].StartDate), dateOrEmpty(out[j].StartDate)
		if di != dj {
			return di > dj
		}
		return out[i].LoanID > out[j].LoanID
	})
	return out
}

func dateOrEmpty(d *model.Date) model.Date {
	if d == nil {
		return ""
	}
	return *d
}
