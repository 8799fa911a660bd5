package resolvers

import (
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/customer/loginguard"
)

func TestSignInRefusalGivesTheRealWait(t *testing.T) {
	tests := []struct {
		verdict loginguard.Verdict
		words   []string
	}{
		{loginguard.Verdict{Wait: 15 * time.Minute}, []string{"document and contract", "15 minutes"}},
		{loginguard.Verdict{Wait: 14*time.Minute + time.Second}, []string{"15 minutes"}},
		{loginguard.Verdict{Wait: 90 * time.Second, ByAddress: true}, []string{"this address", "90 seconds"}},
		{loginguard.Verdict{Wait: 300 * time.Millisecond}, []string{"1 second"}},
	}
	for _, tt := range tests {
		err := signInRefusal(tt.verdict)
		own, ok := err.(*apperr.Error)
		if !ok || own.Code != apperr.RateLimited || own.RetryAfter != tt.verdict.Wait {
			t.Fatalf("%+v: %#v", tt.verdict, err)
		}
		for _, w := range tt.words {
			if !strings.Contains(own.Message, w) {
				t.Errorf("%+v: %q lacks %q", tt.verdict, own.Message, w)
			}
		}
	}
}
