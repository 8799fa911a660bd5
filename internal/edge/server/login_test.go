package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
)

const signInMutation = `mutation($in: GenerateTokenInput!) { generateToken(input: $in) { token } }`

func signInVars(vat, contract, answer string) map[string]any {
	return map[string]any{"in": map[string]any{"vat": vat, "contractNumber": contract, "questionId": 1, "answer": answer}}
}

// The sixth wrong answer in a row for one customer is RATE_LIMITED,
// whichever replica it hits, and costs Brilla nothing.
func TestSixthWrongAnswerIsRateLimitedOnEveryReplica(t *testing.T) {
	c := newCluster(t, 2, sim.Config{}, "")
	c.resetStats()
	for i := range 5 {
		r := post(t, c.replicas[i%2], signInMutation, signInVars("123456789", "12345678", "wrong"))
		r.wantCode(t, "UNAUTHENTICATED")
	}
	for i, h := range c.replicas {
		r := post(t, h, signInMutation, signInVars("123456789", "12345678", "wrong"))
		got := r.wantCode(t, "RATE_LIMITED")
		if secs, _ := got.Extensions["retryAfterSeconds"].(float64); secs <= 0 || secs > 15*60 {
			t.Errorf("replica %d: retryAfterSeconds = %v", i, got.Extensions["retryAfterSeconds"])
		}
	}
	// Locked means locked: even the right answer waits for the window.
	post(t, c.replicas[0], signInMutation, signInVars("123456789", "12345678", "mi_respuesta")).wantCode(t, "RATE_LIMITED")
	if n := c.stats().Calls["POST "+brilla.PathTokenGenerate]; n != 5 {
		t.Errorf("Brilla saw %d sign-ins, want 5 (locked attempts are not sent)", n)
	}
	// Another customer is not affected.
	var ok struct{ GenerateToken struct{ Token string } }
	post(t, c.replicas[1], signInMutation, signInVars("987654321", "87654321", "mi_respuesta")).ok(t, &ok)
	if ok.GenerateToken.Token == "" {
		t.Fatal("the other customer could not sign in")
	}
}

// A success clears the failures: four wrong answers, a right one, then
// four more wrong ones are still not locked.
func TestSuccessfulSignInResetsTheCount(t *testing.T) {
	e := newEnv(t)
	for range 4 {
		e.do(signInMutation, signInVars("123456789", "12345678", "wrong")).wantCode(t, "UNAUTHENTICATED")
	}
	var ok struct{ GenerateToken struct{ Token string } }
	e.do(signInMutation, signInVars("123456789", "12345678", "mi_respuesta")).ok(t, &ok)
	for range 4 {
		e.do(signInMutation, signInVars("123456789", "12345678", "wrong")).wantCode(t, "UNAUTHENTICATED")
	}
}

// Guesses sent in parallel cannot slip past the lockout: every attempt
// reserves its place before Brilla is asked.
func TestParallelGuessesReachBrillaAtMostFiveTimes(t *testing.T) {
	c := newCluster(t, 2, sim.Config{Latency: 20 * time.Millisecond}, "")
	c.resetStats()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(t, c.replicas[i%2], signInMutation, signInVars("123456789", "12345678", fmt.Sprintf("guess-%d", i)))
		}()
	}
	wg.Wait()
	if n := c.stats().Calls["POST "+brilla.PathTokenGenerate]; n != 5 {
		t.Fatalf("Brilla saw %d of 30 parallel guesses, want 5", n)
	}
}
