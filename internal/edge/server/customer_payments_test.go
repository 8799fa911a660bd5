package server_test

import (
	"testing"

	"github.com/serfigas/brilla-gateway/backends/brilla"
)

const customerPaymentsQuery = `query($first: Int, $after: String, $last: Int, $before: String) {
  viewer {
    payments(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { paymentId date amount installmentSequence credit { loanId name } } }
    }
  }
}`

type paymentEdge struct {
	Cursor string
	Node   struct {
		PaymentID, InstallmentSequence int
		Date                           string
		Amount                         int64
		Credit                         struct {
			LoanID int
			Name   string
		}
	}
}

type paymentsPage struct {
	Viewer struct {
		Payments struct {
			TotalCount int
			PageInfo   struct {
				HasNextPage, HasPreviousPage bool
				StartCursor, EndCursor       *string
			}
			Edges []paymentEdge
		}
	}
}

func TestCustomerPaymentsAcrossCredits(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")

	// What each credit lists, to compare with.
	var credits struct {
		Viewer struct {
			Credits []struct {
				LoanID   int
				Payments []struct {
					PaymentID int
					Date      string
				}
			}
		}
	}
	e.do(`{ viewer { credits { loanId payments { paymentId date } } } }`, nil, bearer(tok)).ok(t, &credits)
	loanOf := map[int]int{}
	for _, c := range credits.Viewer.Credits {
		for _, p := range c.Payments {
			loanOf[p.PaymentID] = c.LoanID
		}
	}
	if len(loanOf) < 10 || len(credits.Viewer.Credits) < 3 {
		t.Fatalf("demo data changed: %d payments on %d credits", len(loanOf), len(credits.Viewer.Credits))
	}

	// Forward, three at a time, with a fresh token so the calls are counted
	// (the customer cache holds the first token's reads).
	fresh := e.signIn("123456789", "12345678")
	e.resetStats()
	var forward []paymentEdge
	var after any
	for pages := 0; ; pages++ {
		var page paymentsPage
		e.do(customerPaymentsQuery, map[string]any{"first": 3, "after": after}, bearer(fresh)).ok(t, &page)
		p := page.Viewer.Payments
		if p.TotalCount != len(loanOf) {
			t.Fatalf("totalCount %d, credits list %d payments", p.TotalCount, len(loanOf))
		}
		if p.PageInfo.HasPreviousPage != (after != nil) {
			t.Errorf("page %d: hasPreviousPage %v", pages, p.PageInfo.HasPreviousPage)
		}
		forward = append(forward, p.Edges...)
		if !p.PageInfo.HasNextPage {
			break
		}
		if len(p.Edges) != 3 || *p.PageInfo.EndCursor != p.Edges[2].Cursor || pages > len(loanOf) {
			t.Fatalf("page %d: %d edges, endCursor %v", pages, len(p.Edges), p.PageInfo.EndCursor)
		}
		after = *p.PageInfo.EndCursor
	}
	// One credit list and one payments list per credit, for all the pages:
	// the loaders share them within a page and the customer cache across.
	wantCalls(t, e, map[string]int64{
		"GET " + brilla.PathCreditsSummary: 1,
		"GET " + brilla.PathCredits:        1,
		"GET " + brilla.PathCreditPayments: int64(len(credits.Viewer.Credits)),
	})

	if len(forward) != len(loanOf) {
		t.Fatalf("walked %d payments, want %d", len(forward), len(loanOf))
	}
	seen := map[int]bool{}
	for i, edge := range forward {
		n := edge.Node
		if seen[n.PaymentID] {
			t.Fatalf("payment %d twice", n.PaymentID)
		}
		seen[n.PaymentID] = true
		if loanOf[n.PaymentID] != n.Credit.LoanID || n.Credit.Name == "" {
			t.Errorf("payment %d: credit %+v, listed under %d", n.PaymentID, n.Credit, loanOf[n.PaymentID])
		}
		if i > 0 {
			prev := forward[i-1].Node
			if prev.Date < n.Date || (prev.Date == n.Date && prev.Credit.LoanID < n.Credit.LoanID) {
				t.Errorf("not newest first: %s (credit %d) before %s (credit %d)", prev.Date, prev.Credit.LoanID, n.Date, n.Credit.LoanID)
			}
		}
	}

	// Backward from the end, with last/before: the same payments.
	var backward []paymentEdge
	var before any
	for pages := 0; pages <= len(loanOf); pages++ {
		var page paymentsPage
		e.do(customerPaymentsQuery, map[string]any{"last": 5, "before": before}, bearer(fresh)).ok(t, &page)
		p := page.Viewer.Payments
		if p.PageInfo.HasNextPage != (before != nil) {
			t.Errorf("backward page %d: hasNextPage %v", pages, p.PageInfo.HasNextPage)
		}
		backward = append(append([]paymentEdge{}, p.Edges...), backward...)
		if !p.PageInfo.HasPreviousPage {
			break
		}
		before = *p.PageInfo.StartCursor
	}
	if len(backward) != len(forward) {
		t.Fatalf("backward walk found %d payments, forward %d", len(backward), len(forward))
	}
	for i := range forward {
		if backward[i].Node.PaymentID != forward[i].Node.PaymentID || backward[i].Cursor != forward[i].Cursor {
			t.Fatalf("walks differ at %d: %+v vs %+v", i, backward[i], forward[i])
		}
	}

	// A page is cacheable: every type it touches has a hint.
	hits := outcome(t, e.gateway, "hit")
	e.do(customerPaymentsQuery, map[string]any{"first": 3, "after": forward[2].Cursor}, bearer(fresh)).ok(t, &paymentsPage{})
	if outcome(t, e.gateway, "hit") != hits+1 {
		t.Errorf("a page read again was not answered from the response cache: %v", outcomesOf(t, e.gateway))
	}

	// A window between two cursors.
	var window paymentsPage
	e.do(customerPaymentsQuery, map[string]any{"after": forward[1].Cursor, "before": forward[5].Cursor, "first": 10}, bearer(fresh)).ok(t, &window)
	w := window.Viewer.Payments
	if len(w.Edges) != 3 || w.Edges[0].Node.PaymentID != forward[2].Node.PaymentID || !w.PageInfo.HasNextPage || !w.PageInfo.HasPreviousPage {
		t.Fatalf("window = %+v", w)
	}

	// The default page is 20.
	var all paymentsPage
	e.do(`{ viewer { payments { totalCount edges { cursor } pageInfo { hasNextPage } } } }`, nil, bearer(fresh)).ok(t, &all)
	if got := len(all.Viewer.Payments.Edges); got != min(20, len(loanOf)) || all.Viewer.Payments.PageInfo.HasNextPage != (len(loanOf) > 20) {
		t.Fatalf("default page: %d edges", got)
	}

	// Refusals, each naming its argument, with no Brilla call.
	e.resetStats()
	for _, tc := range []struct {
		vars  map[string]any
		field string
	}{
		{map[string]any{"first": 0}, "first"},
		{map[string]any{"first": 101}, "first"},
		{map[string]any{"last": -1}, "last"},
		{map[string]any{"first": 2, "after": "bm90LWEtY3Vyc29y"}, "after"},
		{map[string]any{"last": 2, "before": forward[0].Cursor[:len(forward[0].Cursor)-3]}, "before"},
	} {
		got := e.do(customerPaymentsQuery, tc.vars, bearer(fresh)).wantCode(t, "BAD_USER_INPUT")
		if got.Extensions["field"] != tc.field {
			t.Errorf("%v: field %v, want %s", tc.vars, got.Extensions["field"], tc.field)
		}
	}
	wantCalls(t, e, nil)
}

func TestCustomerPaymentsShareLoadsWithCredits(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("987654321", "87654321")
	e.resetStats()
	var out struct {
		Viewer struct {
			Credits []struct {
				LoanID   int
				Payments []struct{ PaymentID int }
			}
			Payments struct {
				TotalCount int
				Edges      []paymentEdge
			}
		}
	}
	e.do(`{ viewer {
	  credits { loanId payments { paymentId credit { loanId } } }
	  payments(last: 2) { totalCount edges { node { paymentId date credit { loanId } } } }
	} }`, nil, bearer(tok)).ok(t, &out)
	n := 0
	for _, c := range out.Viewer.Credits {
		n += len(c.Payments)
	}
	if out.Viewer.Payments.TotalCount != n || len(out.Viewer.Payments.Edges) != 2 {
		t.Fatalf("payments connection %+v, credits list %d", out.Viewer.Payments, n)
	}
	// last: 2 are the two oldest, oldest last.
	if e0, e1 := out.Viewer.Payments.Edges[0].Node, out.Viewer.Payments.Edges[1].Node; e0.Date < e1.Date {
		t.Errorf("last page not newest first: %s then %s", e0.Date, e1.Date)
	}
	wantCalls(t, e, map[string]int64{
		"GET " + brilla.PathCreditsSummary: 1,
		"GET " + brilla.PathCredits:        1,
		"GET " + brilla.PathCreditPayments: int64(len(out.Viewer.Credits)),
	})
}
