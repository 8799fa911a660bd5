// Package dues computes what Brilla does not report about a customer's
// credits: which installments are overdue and by how many days, what each
// credit has overdue, and what falls due next across credits.
//
// Brilla sends installments only as paid or pending, so an installment
// whose date has passed stays pending upstream for ever. Dates are
// Colombian calendar days: "today" is the date in America/Bogota (UTC-5,
// no daylight saving since 1993), taken from a fixed zone so the answer
// does not depend on the host's tzdata. An installment is overdue from the
// day after its due date: on the due date itself it can still be paid on
// time.
package dues

import (
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/graph/model"
)

// Colombia is America/Bogota: UTC-5 all year.
var Colombia = time.FixedZone("America/Bogota", -5*60*60)

// Day is a calendar date. The zero Day is no date.
type Day struct {
	// t is midnight UTC of the date, so that two days differ by a whole
	// number of 24-hour periods.
	t time.Time
}

// Today returns the Colombian calendar date at the instant now.
func Today(now time.Time) Day {
	c := now.In(Colombia)
	return Day{time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, time.UTC)}
}

// ParseDay reads one of Brilla's dates (YYYY-MM-DD); false for anything
// else.
func ParseDay(s string) (Day, bool) {
	t, err := time.Parse(brilla.DateLayout, strings.TrimSpace(s))
	if err != nil {
		return Day{}, false
	}
	return Day{t}, true
}

// DaysSince returns how many days d comes after earlier (negative when
// before).
func (d Day) DaysSince(earlier Day) int {
	return int(d.t.Sub(earlier.t) / (24 * time.Hour))
}

// String formats d as YYYY-MM-DD.
func (d Day) String() string { return d.t.Format(brilla.DateLayout) }

// Brilla's installment states, by their lower-case names.
var installmentStates = map[string]model.InstallmentState{
	"paid":    model.InstallmentStatePaid,
	"pending": model.InstallmentStatePending,
	"overdue": model.InstallmentStateOverdue,
}

// Status is an installment's state as the gateway reports it.
type Status struct {
	State model.InstallmentState
	// DaysPastDue is today minus the due date for an overdue installment,
	// 0 otherwise.
	DaysPastDue int
}

// Owing reports whether a credit in state (as Brilla lists it) can owe
// installments: a paid or cancelled credit owes nothing, whatever its
// schedule still says.
func Owing(state model.CreditState) bool {
	return state != model.CreditStatePaid && state != model.CreditStateCancelled
}

// Assess returns the state of installment i of a credit that is owing (see
// Owing) or not. A pending installment of an owing credit whose date is
// before today is overdue; Brilla's own overdue is kept (with the days
// since its date, 0 when the date cannot be read or is not past); any
// other state is reported as Brilla gives it.
func Assess(i brilla.Installment, owing bool, today Day) Status {
	state, ok := installmentStates[strings.ToLower(strings.TrimSpace(i.State))]
	if !ok {
		return Status{State: model.InstallmentStateUnknown}
	}
	due, dated := ParseDay(i.Date)
	switch {
	case state == model.InstallmentStateOverdue:
		if dated {
			return Status{State: state, DaysPastDue: max(0, today.DaysSince(due))}
		}
		return Status{State: state}
	case state == model.InstallmentStatePending && owing && dated && today.DaysSince(due) > 0:
		return Status{State: model.InstallmentStateOverdue, DaysPastDue: today.DaysSince(due)}
	}
	return Status{State: state}
}

// Credit is what a credit has overdue.
type Credit struct {
	// OverdueAmount sums the overdue installments' payment amounts.
	OverdueAmount int64
	// OverdueCount counts them.
	OverdueCount int
}

// ForCredit totals the overdue installments of a credit's schedule.
func ForCredit(schedule []brilla.Installment, owing bool, today Day) Credit {
	var c Credit
	for _, i := range schedule {
		if Assess(i, owing, today).State == model.InstallmentStateOverdue {
			c.OverdueAmount += i.PaymentAmount.Value
			c.OverdueCount++
		}
	}
	return c
}

// CreditState is a credit's state: Brilla's, except that a posted credit
// with an overdue installment is overdue.
func CreditState(listed model.CreditState, c Credit) model.CreditState {
	if listed == model.CreditStatePosted && c.OverdueCount > 0 {
		return model.CreditStateOverdue
	}
	return listed
}

// Schedule is one owing credit's schedule, for Next.
type Schedule struct {
	LoanID       int64
	Installments []brilla.Installment
}

// Due is one installment falling due, with its credit.
type Due struct {
	LoanID      int64
	Installment brilla.Installment
}

// NextDue is what falls due on the next due date.
type NextDue struct {
	Date Day
	// Amount sums the installments' payment amounts.
	Amount int64
	// Installments are in the order of the schedules given, then of each
	// schedule.
	Installments []Due
}

// Next returns the earliest date, today or later, on which an installment
// of the given owing credits falls due unpaid, with every installment due
// that day; false when none does. Overdue installments are not included:
// they are already due.
func Next(schedules []Schedule, today Day) (NextDue, bool) {
	var next NextDue
	found := false
	for _, s := range schedules {
		for _, i := range s.Installments {
			if Assess(i, true, today).State != model.InstallmentStatePending {
				continue
			}
			due, ok := ParseDay(i.Date)
			if !ok || due.DaysSince(today) < 0 {
				continue
			}
			switch {
			case !found || due.DaysSince(next.Date) < 0:
				next = NextDue{Date: due}
				found = true
			case due.DaysSince(next.Date) > 0:
				continue
			}
			next.Amount += i.PaymentAmount.Value
			next.Installments = append(next.Installments, Due{LoanID: s.LoanID, Installment: i})
		}
	}
	return next, found
}
