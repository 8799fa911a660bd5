package resolvers

import (
	"context"
	"sort"
	"strconv"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/graph/relay"
	"github.com/serfigas/brilla-gateway/internal/customer/dues"
	"github.com/serfigas/brilla-gateway/resolvers/loaders"
)

// typePayment names the customer's payments connection in its cursors.
const typePayment = "Payment"

// today is the Colombian calendar date now, which overdue values are
// computed for.
func (r *Resolver) today() dues.Day { return dues.Today(r.now()) }

// creditDues totals a credit's overdue installments. A paid or cancelled
// credit owes nothing and costs no Brilla call.
func (r *Resolver) creditDues(ctx context.Context, c *model.Credit) (dues.Credit, error) {
	if !dues.Owing(c.State) {
		return dues.Credit{}, nil
	}
	detail, err := loaders.For(ctx).CreditDetail(ctx, int64(c.LoanID))
	if err != nil {
		return dues.Credit{}, err
	}
	return dues.ForCredit(detail.Amortization, true, r.today()), nil
}

// owingSchedules returns the customer's owing credits, most recent first,
// with their schedules: one credit list call, one detail call per owing
// credit (shared with the rest of the operation through the loaders).
func owingSchedules(ctx context.Context) ([]*model.Credit, []*brilla.CreditDetail, error) {
	list, err := loaders.For(ctx).Credits(ctx)
	if err != nil {
		return nil, nil, err
	}
	var owing []*model.Credit
	var ids []int64
	for _, c := range sortedCredits(list.Credits) {
		if dues.Owing(c.State) {
			owing = append(owing, c)
			ids = append(ids, int64(c.LoanID))
		}
	}
	details, err := loaders.For(ctx).CreditDetails(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	return owing, details, nil
}

// customerDues totals the overdue installments of every credit.
func (r *Resolver) customerDues(ctx context.Context) (dues.Credit, error) {
	_, details, err := owingSchedules(ctx)
	if err != nil {
		return dues.Credit{}, err
	}
	today := r.today()
	var total dues.Credit
	for _, d := range details {
		c := dues.ForCredit(d.Amortization, true, today)
		total.OverdueAmount += c.OverdueAmount
		total.OverdueCount += c.OverdueCount
	}
	return total, nil
}

// nextDue finds what falls due next across the customer's credits.
func (r *Resolver) nextDue(ctx context.Context) (*model.NextDue, error) {
	credits, details, err := owingSchedules(ctx)
	if err != nil {
		return nil, err
	}
	schedules := make([]dues.Schedule, len(credits))
	byLoan := make(map[int64]*model.Credit, len(credits))
	for i, c := range credits {
		schedules[i] = dues.Schedule{LoanID: int64(c.LoanID), Installments: details[i].Amortization}
		byLoan[int64(c.LoanID)] = c
	}
	today := r.today()
	next, ok := dues.Next(schedules, today)
	if !ok {
		return nil, nil
	}
	out := &model.NextDue{Date: model.Date(next.Date.String()), Amount: model.Money(next.Amount)}
	for _, d := range next.Installments {
		out.Installments = append(out.Installments, &model.DueInstallment{
			Credit:      byLoan[d.LoanID],
			Installment: toInstallment(d.Installment, true, today),
		})
	}
	return out, nil
}

// paymentKey orders the customer's payments: newest first by date, then
// by credit (higher loan id first), then by Brilla's payment id, then by
// position in Brilla's list (which only separates payments without an id).
type paymentKey struct {
	date      string
	loanID    int64
	paymentID int64
	position  int64
}

func (k paymentKey) parts() []string {
	return []string{k.date, strconv.FormatInt(k.loanID, 10), strconv.FormatInt(k.paymentID, 10), strconv.FormatInt(k.position, 10)}
}

func parsePaymentKey(cursor string) (paymentKey, bool) {
	parts, err := relay.ParseKeyCursor(cursor, typePayment, 4)
	if err != nil {
		return paymentKey{}, false
	}
	var k paymentKey
	var errs [3]error
	k.date = parts[0]
	k.loanID, errs[0] = strconv.ParseInt(parts[1], 10, 64)
	k.paymentID, errs[1] = strconv.ParseInt(parts[2], 10, 64)
	k.position, errs[2] = strconv.ParseInt(parts[3], 10, 64)
	return k, errs[0] == nil && errs[1] == nil && errs[2] == nil
}

// before reports whether k comes before o in the connection (is newer).
func (k paymentKey) before(o paymentKey) bool {
	switch {
	case k.date != o.date:
		return k.date > o.date
	case k.loanID != o.loanID:
		return k.loanID > o.loanID
	case k.paymentID != o.paymentID:
		return k.paymentID > o.paymentID
	}
	return k.position > o.position
}

type keyedPayment struct {
	key     paymentKey
	payment *model.Payment
}

// customerPayments is Customer.payments: every payment of every credit
// (one credit list call, one payments call per credit), sorted, then cut
// by Relay's algorithm: after/before first, then first, then last.
func customerPayments(ctx context.Context, first *int, after *string, last *int, before *string) (*model.CustomerPaymentConnection, error) {
	if first == nil && last == nil {
		n := defaultPageSize
		first = &n
	}
	var problems []error
	for _, arg := range []struct {
		name string
		n    *int
	}{{"first", first}, {"last", last}} {
		if arg.n != nil && (*arg.n < 1 || *arg.n > maxPageSize) {
			problems = append(problems, apperr.BadInput(arg.name, "%s must be between 1 and %d, got %d", arg.name, maxPageSize, *arg.n))
		}
	}
	var afterKey, beforeKey *paymentKey
	for _, arg := range []struct {
		name   string
		cursor *string
		key    **paymentKey
	}{{"after", after, &afterKey}, {"before", before, &beforeKey}} {
		if arg.cursor == nil || *arg.cursor == "" {
			continue
		}
		k, ok := parsePaymentKey(*arg.cursor)
		if !ok {
			problems = append(problems, apperr.BadInput(arg.name, "%s is not a cursor of this connection", arg.name))
			continue
		}
		*arg.key = &k
	}
	if len(problems) > 0 {
		return nil, apperr.All(ctx, problems...)
	}

	all, err := allPayments(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := 0, len(all)
	if afterKey != nil {
		lo = sort.Search(len(all), func(i int) bool { return afterKey.before(all[i].key) })
	}
	if beforeKey != nil {
		hi = sort.Search(len(all), func(i int) bool { return !all[i].key.before(*beforeKey) })
	}
	hi = max(lo, hi)
	if first != nil && hi-lo > *first {
		hi = lo + *first
	}
	if last != nil && hi-lo > *last {
		lo = hi - *last
	}
	page := all[lo:hi]
	conn := &model.CustomerPaymentConnection{
		Edges:      make([]*model.CustomerPaymentEdge, 0, len(page)),
		PageInfo:   &model.PageInfo{HasPreviousPage: lo > 0, HasNextPage: hi < len(all)},
		TotalCount: len(all),
	}
	for _, p := range page {
		conn.Edges = append(conn.Edges, &model.CustomerPaymentEdge{Cursor: relay.KeyCursor(typePayment, p.key.parts()...), Node: p.payment})
	}
	if len(conn.Edges) > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[len(conn.Edges)-1].Cursor
	}
	return conn, nil
}

// allPayments reads every credit's payments and sorts them newest first.
func allPayments(ctx context.Context) ([]keyedPayment, error) {
	list, err := loaders.For(ctx).Credits(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(list.Credits))
	for i, c := range list.Credits {
		ids[i] = c.ID.Value
	}
	lists, err := loaders.For(ctx).PaymentLists(ctx, ids)
	if err != nil {
		return nil, err
	}
	var all []keyedPayment
	for i, pl := range lists {
		for pos, p := range pl.Payments {
			all = append(all, keyedPayment{
				key:     paymentKey{date: p.Date, loanID: ids[i], paymentID: p.ID.Value, position: int64(pos)},
				payment: toPayment(p, ids[i]),
			})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].key.before(all[j].key) })
	return all, nil
}
