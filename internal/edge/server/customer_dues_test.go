package server_test

import (
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// withClock replaces e's gateway with one whose "today" is now.
func (e *env) withClock(now time.Time) {
	e.t.Helper()
	e.gateway = newGateway(e.t, e, func(c *server.Config) { c.Now = func() time.Time { return now } })
}

const duesQuery = `{
  viewer {
    overdueAmount overdueCount
    nextDue { date amount installments { credit { loanId } installment { sequence date state daysPastDue paymentAmount } } }
    credits {
      loanId state overdueAmount overdueCount
      nextInstallment { sequence date state daysPastDue paymentAmount }
    }
  }
}`

type dueInstallment struct {
	Sequence, DaysPastDue int
	Date, State           string
	PaymentAmount         int64
}

type duesAnswer struct {
	Viewer struct {
		OverdueAmount int64
		OverdueCount  int
		NextDue       *struct {
			Date         string
			Amount       int64
			Installments []struct {
				Credit      struct{ LoanID int }
				Installment dueInstallment
			}
		}
		Credits []struct {
			LoanID          int
			State           string
			OverdueAmount   int64
			OverdueCount    int
			NextInstallment *dueInstallment
		}
	}
}

// The demo customer 123456789 has credit 1 (12 installments from
// 2025-02-01, 4 paid), credit 2 (24 from 2025-04-01, 2 paid) and credit 3
// (paid off). Both open credits next owe on 2025-06-01, which is overdue
// from midnight in Bogotá: 05:00 UTC.
func TestOverdueIsComputedInColombianTime(t *testing.T) {
	cases := []struct {
		name, now string
		// per loan id: state, overdue count, next installment's state and days past due
		state     map[int]string
		count     map[int]int
		days      map[int]int
		nextDue   string
		nextLoans []int
	}{
		{
			name:    "the due date's last minute in Bogotá (already the 2nd in UTC)",
			now:     "2025-06-02T04:59:00Z",
			state:   map[int]string{1: "POSTED", 2: "POSTED", 3: "PAID"},
			count:   map[int]int{1: 0, 2: 0, 3: 0},
			days:    map[int]int{1: 0, 2: 0},
			nextDue: "2025-06-01", nextLoans: []int{2, 1},
		},
		{
			name:    "midnight in Bogotá",
			now:     "2025-06-02T05:00:00Z",
			state:   map[int]string{1: "OVERDUE", 2: "OVERDUE", 3: "PAID"},
			count:   map[int]int{1: 1, 2: 1, 3: 0},
			days:    map[int]int{1: 1, 2: 1},
			nextDue: "2025-07-01", nextLoans: []int{2, 1},
		},
		{
			// Issue 13: credit 1's next installment is 18 months old.
			name:    "eighteen months later",
			now:     "2026-12-01T15:00:00Z",
			state:   map[int]string{1: "OVERDUE", 2: "OVERDUE", 3: "PAID"},
			count:   map[int]int{1: 8, 2: 18, 3: 0}, // credit 1: 2025-06-01..2026-01-01; credit 2: 2025-06-01..2026-11-01
			days:    map[int]int{1: 548, 2: 548},
			nextDue: "2026-12-01", nextLoans: []int{2}, // due today: not overdue yet
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			now, err := time.Parse(time.RFC3339, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			e.withClock(now)
			tok := e.signIn("123456789", "12345678")
			e.resetStats()

			var out duesAnswer
			e.do(duesQuery, nil, bearer(tok)).ok(t, &out)
			v := out.Viewer
			var amount int64
			count := 0
			for _, c := range v.Credits {
				if c.State != tc.state[c.LoanID] || c.OverdueCount != tc.count[c.LoanID] {
					t.Errorf("credit %d: state %s with %d overdue, want %s with %d", c.LoanID, c.State, c.OverdueCount, tc.state[c.LoanID], tc.count[c.LoanID])
				}
				if n := c.NextInstallment; n != nil {
					wantState := "PENDING"
					if tc.days[c.LoanID] > 0 {
						wantState = "OVERDUE"
					}
					if n.State != wantState || n.DaysPastDue != tc.days[c.LoanID] {
						t.Errorf("credit %d: next installment %+v, want %s %d days past due", c.LoanID, n, wantState, tc.days[c.LoanID])
					}
				}
				if (c.OverdueCount == 0) != (c.OverdueAmount == 0) {
					t.Errorf("credit %d: %d overdue installments amount to %d", c.LoanID, c.OverdueCount, c.OverdueAmount)
				}
				amount += c.OverdueAmount
				count += c.OverdueCount
			}
			if v.OverdueAmount != amount || v.OverdueCount != count {
				t.Errorf("customer owes %d in %d installments, credits say %d in %d", v.OverdueAmount, v.OverdueCount, amount, count)
			}
			nd := v.NextDue
			if nd == nil || nd.Date != tc.nextDue || len(nd.Installments) != len(tc.nextLoans) {
				t.Fatalf("nextDue = %+v, want %s on credits %v", nd, tc.nextDue, tc.nextLoans)
			}
			var sum int64
			for i, in := range nd.Installments {
				if in.Credit.LoanID != tc.nextLoans[i] || in.Installment.Date != tc.nextDue || in.Installment.State != "PENDING" || in.Installment.DaysPastDue != 0 {
					t.Errorf("nextDue installment %d = %+v", i, in)
				}
				sum += in.Installment.PaymentAmount
			}
			if sum != nd.Amount {
				t.Errorf("nextDue amount %d, installments sum to %d", nd.Amount, sum)
			}

			// Each schedule is read once (nextInstallment reads all three).
			wantCalls(t, e, map[string]int64{
				"GET " + brilla.PathCreditsSummary: 1,
				"GET " + brilla.PathCredits:        1,
				"GET " + brilla.PathCreditDetail:   3,
				"GET " + brilla.PathCreditPayments: 0,
			})
			// The answer is cacheable: every type it touches has a hint.
			hits := outcome(t, e.gateway, "hit")
			e.do(duesQuery, nil, bearer(tok)).ok(t, &out)
			if outcome(t, e.gateway, "hit") != hits+1 {
				t.Errorf("the same query again was not answered from the response cache: %v", outcomesOf(t, e.gateway))
			}

			// The computed values alone read the two open credits'
			// schedules, never the paid-off credit's (a new token: the
			// customer cache holds the first one's reads).
			fresh := e.signIn("123456789", "12345678")
			e.resetStats()
			e.do(`{ viewer { overdueAmount nextDue { date } credits { state overdueCount } } }`, nil, bearer(fresh)).ok(t, &out)
			wantCalls(t, e, map[string]int64{
				"GET " + brilla.PathCreditsSummary: 1,
				"GET " + brilla.PathCredits:        1,
				"GET " + brilla.PathCreditDetail:   2,
			})
		})
	}
}

// The amounts match the schedule: overdueAmount is the sum of the overdue
// rows of amortization.
func TestOverdueAmountIsTheSumOfOverdueInstallments(t *testing.T) {
	e := newEnv(t)
	e.withClock(time.Date(2025, 9, 15, 12, 0, 0, 0, time.UTC))
	tok := e.signIn("987654321", "87654321")
	var out struct {
		Viewer struct {
			Credits []struct {
				LoanID        int
				OverdueAmount int64
				OverdueCount  int
				Amortization  []dueInstallment
			}
		}
	}
	e.do(`{ viewer { credits { loanId overdueAmount overdueCount amortization { sequence date state daysPastDue paymentAmount } } } }`, nil, bearer(tok)).ok(t, &out)
	if len(out.Viewer.Credits) == 0 {
		t.Fatal("no credits")
	}
	for _, c := range out.Viewer.Credits {
		var sum int64
		n := 0
		for _, row := range c.Amortization {
			overdue := row.State == "OVERDUE"
			if overdue != (row.Date < "2025-09-15" && row.State != "PAID") || overdue != (row.DaysPastDue > 0) {
				t.Errorf("credit %d #%d: %+v", c.LoanID, row.Sequence, row)
			}
			if overdue {
				sum += row.PaymentAmount
				n++
			}
		}
		if n == 0 || sum != c.OverdueAmount || n != c.OverdueCount {
			t.Errorf("credit %d: overdue %d in %d, rows say %d in %d", c.LoanID, c.OverdueAmount, c.OverdueCount, sum, n)
		}
	}
}

// wantCalls asserts the Brilla and SERPI calls since the last reset are
// exactly want.
func wantCalls(t *testing.T, e *env, want map[string]int64) {
	t.Helper()
	calls := e.stats().Calls
	for k, n := range calls {
		if n != want[k] {
			t.Errorf("%s called %d times, want %d (all calls: %v)", k, n, want[k], calls)
		}
	}
	for k, n := range want {
		if calls[k] != n {
			t.Errorf("%s called %d times, want %d (all calls: %v)", k, calls[k], n, calls)
		}
	}
}
