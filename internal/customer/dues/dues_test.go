package dues

import (
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
)

func row(seq int64, date, state string, amount int64) brilla.Installment {
	return brilla.Installment{Sequence: wire.NewInt(seq), Date: date, State: state, PaymentAmount: wire.NewInt(amount)}
}

func day(t *testing.T, s string) Day {
	t.Helper()
	d, ok := ParseDay(s)
	if !ok {
		t.Fatalf("ParseDay(%q) failed", s)
	}
	return d
}

func TestTodayIsTheColombianDate(t *testing.T) {
	for _, tc := range []struct {
		now  string
		want string
	}{
		{"2025-06-02T04:59:59Z", "2025-06-01"}, // 23:59:59 in Bogotá: still the 1st
		{"2025-06-02T05:00:00Z", "2025-06-02"},
		{"2025-06-01T23:30:00-05:00", "2025-06-01"},
		{"2026-01-01T03:00:00+09:00", "2025-12-31"}, // Dec 31, 18:00 UTC = 13:00 in Bogotá
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if got := Today(now).String(); got != tc.want {
			t.Errorf("Today(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}

func TestAssess(t *testing.T) {
	today := day(t, "2025-06-02")
	for _, tc := range []struct {
		name  string
		in    brilla.Installment
		owing bool
		want  Status
	}{
		{"paid long ago", row(1, "2025-01-01", "paid", 10), true, Status{State: model.InstallmentStatePaid}},
		{"pending, due today", row(2, "2025-06-02", "pending", 10), true, Status{State: model.InstallmentStatePending}},
		{"pending, due tomorrow", row(3, "2025-06-03", "pending", 10), true, Status{State: model.InstallmentStatePending}},
		{"pending, due yesterday", row(4, "2025-06-01", "pending", 10), true, Status{State: model.InstallmentStateOverdue, DaysPastDue: 1}},
		{"pending, a year late", row(5, "2024-06-02", "PENDING", 10), true, Status{State: model.InstallmentStateOverdue, DaysPastDue: 365}},
		{"pending on a cancelled credit", row(6, "2025-01-01", "pending", 10), false, Status{State: model.InstallmentStatePending}},
		{"Brilla's own overdue kept", row(7, "2025-05-30", "overdue", 10), true, Status{State: model.InstallmentStateOverdue, DaysPastDue: 3}},
		{"Brilla's overdue, undated", row(8, "soon", "overdue", 10), true, Status{State: model.InstallmentStateOverdue}},
		{"pending, unreadable date", row(9, "01/05/2025", "pending", 10), true, Status{State: model.InstallmentStatePending}},
		{"unknown state", row(10, "2025-01-01", "refinanced", 10), true, Status{State: model.InstallmentStateUnknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Assess(tc.in, tc.owing, today); got != tc.want {
				t.Errorf("Assess = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestForCreditAndCreditState(t *testing.T) {
	today := day(t, "2025-06-02")
	schedule := []brilla.Installment{
		row(1, "2025-04-01", "paid", 100),
		row(2, "2025-05-01", "pending", 110),
		row(3, "2025-06-01", "pending", 120),
		row(4, "2025-07-01", "pending", 130),
	}
	got := ForCredit(schedule, true, today)
	if got != (Credit{OverdueAmount: 230, OverdueCount: 2}) {
		t.Fatalf("ForCredit = %+v", got)
	}
	if s := CreditState(model.CreditStatePosted, got); s != model.CreditStateOverdue {
		t.Errorf("posted with overdue installments: %s", s)
	}
	if s := CreditState(model.CreditStatePosted, Credit{}); s != model.CreditStatePosted {
		t.Errorf("posted, nothing overdue: %s", s)
	}
	if s := CreditState(model.CreditStateUnknown, got); s != model.CreditStateUnknown {
		t.Errorf("an unknown state stays unknown: %s", s)
	}
	if got := ForCredit(schedule, false, today); got != (Credit{}) {
		t.Errorf("a credit that owes nothing has nothing overdue: %+v", got)
	}
}

func TestNext(t *testing.T) {
	today := day(t, "2025-06-02")
	schedules := []Schedule{
		{LoanID: 2, Installments: []brilla.Installment{
			row(1, "2025-05-01", "pending", 50), // overdue: not next
			row(2, "2025-07-01", "pending", 60),
			row(3, "2025-08-01", "pending", 60),
		}},
		{LoanID: 1, Installments: []brilla.Installment{
			row(4, "2025-06-01", "pending", 70), // overdue since today
			row(5, "2025-07-01", "pending", 80),
		}},
		{LoanID: 9, Installments: []brilla.Installment{
			row(1, "2025-07-01", "paid", 90), // paid early: not due
			row(2, "2025-07-15", "pending", 90),
		}},
	}
	next, ok := Next(schedules, today)
	if !ok || next.Date.String() != "2025-07-01" || next.Amount != 140 || len(next.Installments) != 2 ||
		next.Installments[0].LoanID != 2 || next.Installments[1].LoanID != 1 {
		t.Fatalf("Next = %+v, %v", next, ok)
	}
	// Due today is next, not overdue.
	next, ok = Next(schedules, day(t, "2025-06-01"))
	if !ok || next.Date.String() != "2025-06-01" || next.Amount != 70 {
		t.Fatalf("Next on the due date = %+v, %v", next, ok)
	}
	if _, ok := Next(schedules, day(t, "2025-08-02")); ok {
		t.Fatal("nothing falls due after the last installment")
	}
}
