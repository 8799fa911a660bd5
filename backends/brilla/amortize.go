package brilla

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/serfigas/brilla-gateway/backends/wire"
)

// MaxPeriods bounds the number of installments Amortize accepts (30 years
// of monthly payments): beyond it the exact arithmetic grows for no
// business reason.
const MaxPeriods = 360

// Installment states.
const (
	InstallmentPending = "pending"
	InstallmentPaid    = "paid"
)

// DateLayout is the layout of Brilla's calendar dates.
const DateLayout = "2006-01-02"

// Amortize computes a French-method (fixed installment) schedule for
// amount whole pesos at monthlyRatePercent (a decimal percent such as
// "1.99") over periods months. Installment i falls i months after start
// (clamped to the end of shorter months). Every installment is pending.
//
// The arithmetic is exact (math/big.Rat), never binary floating point,
// because the schedule is money and the gateway must agree with Brilla to
// the peso:
//
//   - payment = round(amount * r / (1 - (1+r)^-periods)), r = rate/100
//     (amount/periods when the rate is zero);
//   - interest of a period = round(pending principal * r);
//   - principal = payment - interest;
//   - the last installment takes all the remaining principal, so the
//     principal column sums to amount and pending principal ends at 0.
//
// Rounding is half up to whole pesos.
func Amortize(amount int64, monthlyRatePercent string, periods int, start time.Time) ([]Installment, error) {
	if amount <= 0 {
		return nil, fmt.Errorf("amortize: amount must be positive, got %d", amount)
	}
	if periods <= 0 || periods > MaxPeriods {
		return nil, fmt.Errorf("amortize: periods must be within 1..%d, got %d", MaxPeriods, periods)
	}
	rate, err := wire.ParseDecimal(monthlyRatePercent)
	if err != nil {
		return nil, fmt.Errorf("amortize: rate: %w", err)
	}
	r, ok := new(big.Rat).SetString(string(rate))
	if !ok {
		return nil, fmt.Errorf("amortize: rate %q is not a number", monthlyRatePercent)
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		return nil, fmt.Errorf("amortize: monthly rate must be within 0..100%%, got %s", rate)
	}
	r.Quo(r, big.NewRat(100, 1))

	bigAmount := new(big.Rat).SetInt64(amount)
	var exact *big.Rat
	if r.Sign() == 0 {
		exact = new(big.Rat).Quo(bigAmount, big.NewRat(int64(periods), 1))
	} else {
		// amount * r * f / (f - 1) with f = (1+r)^n is the same as
		// amount * r / (1 - (1+r)^-n) without a reciprocal.
		f := ratPow(new(big.Rat).Add(big.NewRat(1, 1), r), periods)
		num := new(big.Rat).Mul(bigAmount, r)
		num.Mul(num, f)
		den := new(big.Rat).Sub(f, big.NewRat(1, 1))
		exact = num.Quo(num, den)
	}
	payment, err := roundHalfUp(exact)
	if err != nil {
		return nil, fmt.Errorf("amortize: payment: %w", err)
	}

	first := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	out := make([]Installment, 0, periods)
	pending := amount
	for i := 1; i <= periods; i++ {
		interest, err := roundHalfUp(new(big.Rat).Mul(new(big.Rat).SetInt64(pending), r))
		if err != nil {
			return nil, fmt.Errorf("amortize: interest %d: %w", i, err)
		}
		principal := payment - interest
		// The last installment absorbs the rounding of every earlier
		// one; the clamps only matter for amounts of a few pesos, where
		// rounding could otherwise overshoot or go negative.
		if i == periods || principal > pending {
			principal = pending
		}
		if principal < 0 {
			principal = 0
		}
		pending -= principal
		out = append(out, Installment{
			Sequence:         wire.NewInt(int64(i)),
			Date:             addMonths(first, i).Format(DateLayout),
			PaymentAmount:    wire.NewInt(principal + interest),
			PrincipalAmount:  wire.NewInt(principal),
			InterestAmount:   wire.NewInt(interest),
			PendingPrincipal: wire.NewInt(pending),
			State:            InstallmentPending,
		})
	}
	return out, nil
}

// ratPow returns x^n for n >= 0 by repeated squaring.
func ratPow(x *big.Rat, n int) *big.Rat {
	result := big.NewRat(1, 1)
	base := new(big.Rat).Set(x)
	for n > 0 {
		if n&1 == 1 {
			result.Mul(result, base)
		}
		base.Mul(base, base)
		n >>= 1
	}
	return result
}

// roundHalfUp rounds a non-negative x to the nearest integer, halves up.
func roundHalfUp(x *big.Rat) (int64, error) {
	if x.Sign() < 0 {
		return 0, errors.New("negative amount")
	}
	// floor((2*num + den) / (2*den))
	num := new(big.Int).Lsh(x.Num(), 1)
	num.Add(num, x.Denom())
	den := new(big.Int).Lsh(x.Denom(), 1)
	q := num.Quo(num, den)
	if !q.IsInt64() {
		return 0, errors.New("amount overflows int64")
	}
	return q.Int64(), nil
}

// addMonths adds n calendar months to t, clamping the day to the last day
// of the target month (Jan 31 + 1 month = Feb 28), as billing calendars do;
// time.AddDate would roll over into March instead.
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	firstOfTarget := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, t.Location())
	last := firstOfTarget.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(firstOfTarget.Year(), firstOfTarget.Month(), d, 0, 0, 0, 0, t.Location())
}
