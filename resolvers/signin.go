package resolvers

import (
	"fmt"
	"math"
	"time"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/customer/loginguard"
)

// signInRefusal is the RATE_LIMITED error of a sign-in the guard refused:
// it says which allowance is spent and the real wait, in words and in
// retryAfterSeconds.
func signInRefusal(v loginguard.Verdict) error {
	what := "for this document and contract"
	if v.ByAddress {
		what = "from this address"
	}
	return &apperr.Error{Code: apperr.RateLimited, RetryAfter: v.Wait,
		Message: fmt.Sprintf("too many failed sign-in attempts %s; try again in %s", what, humanWait(v.Wait))}
}

// humanWait rounds d up to whole seconds, or minutes from two minutes on.
func humanWait(d time.Duration) string {
	secs := int(math.Ceil(d.Seconds()))
	switch {
	case secs <= 1:
		return "1 second"
	case secs < 120:
		return fmt.Sprintf("%d seconds", secs)
	default:
		return fmt.Sprintf("%d minutes", int(math.Ceil(float64(secs)/60)))
	}
}
