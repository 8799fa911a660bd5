package catalog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
)

// fakeChecker answers credential checks from a table and counts them.
type fakeChecker struct {
	mu     sync.Mutex
	answer map[string]error // by token; absent: accepted
	calls  map[string]int
}

func (f *fakeChecker) CheckCredential(_ context.Context, cred serpi.Credential) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[cred.Token]++
	return f.answer[cred.Token]
}

func (f *fakeChecker) set(token string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer[token] = err
}

func (f *fakeChecker) count(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

func TestCheckCredentialsRefusesARevokedTokenAndKeepsTheCacheForOthers(t *testing.T) {
	const period = 30 * time.Millisecond
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 5, Taxes: 5, Articles: 5,
		Credentials: map[string][]string{"secret": {"tok-a", "tok-b"}}}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	shared := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer shared.Close()
	c := NewCached(NewLoader(serpi.NewClient(up.URL), 0), shared, cache.Policy{Fresh: time.Hour, Stale: time.Hour}, time.Nanosecond)
	checker := &fakeChecker{answer: map[string]error{}, calls: map[string]int{}}
	c.CheckCredentials(checker, period)
	credA := serpi.Credential{SecretKey: "secret", Token: "tok-a"}
	credB := serpi.Credential{SecretKey: "secret", Token: "tok-b"}
	walks := func() int64 { return ctl.Stats.Snapshot().Calls["GET /api/v1/Impuesto"] }

	if _, err := c.Taxes(t.Context(), credA); err != nil {
		t.Fatal(err)
	}
	if checker.count("tok-a") != 0 {
		t.Fatal("the walk's own credential was checked again")
	}
	walked := walks()
	if _, err := c.Taxes(t.Context(), credB); err != nil || checker.count("tok-b") != 1 {
		t.Fatalf("second token: err %v, %d checks; want one check", err, checker.count("tok-b"))
	}
	if _, err := c.Taxes(t.Context(), credB); err != nil || checker.count("tok-b") != 1 {
		t.Fatalf("within the period the verdict was not reused (%d checks, err %v)", checker.count("tok-b"), err)
	}

	checker.set("tok-b", &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindUnauthorized})
	time.Sleep(period + 10*time.Millisecond)
	_, err := c.Taxes(t.Context(), credB)
	ue, ok := upstream.As(err)
	if !ok || ue.Kind != upstream.KindUnauthorized || ue.Upstream != upstream.Serpi {
		t.Fatalf("revoked token: %v, want a SERPI KindUnauthorized", err)
	}
	// The refusal is remembered for the period: no call per read.
	calls := checker.count("tok-b")
	if _, err := c.Taxes(t.Context(), credB); err == nil || checker.count("tok-b") != calls {
		t.Fatalf("refusal not reused: err %v, %d checks (had %d)", err, checker.count("tok-b"), calls)
	}
	if _, err := c.Taxes(t.Context(), credA); err != nil || walks() != walked {
		t.Fatalf("the healthy token: err %v, %d tax GETs (had %d)", err, walks(), walked)
	}
}

func TestCheckCredentialsServesTheCacheWhenSerpiCannotBeAsked(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 5, Taxes: 5, Articles: 5,
		Credentials: map[string][]string{"secret": {"tok-a", "tok-b"}}}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	shared := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer shared.Close()
	c := NewCached(NewLoader(serpi.NewClient(up.URL), 0), shared, cache.Policy{Fresh: time.Hour, Stale: time.Hour}, time.Nanosecond)
	checker := &fakeChecker{answer: map[string]error{
		"tok-b": &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindUnavailable},
	}, calls: map[string]int{}}
	c.CheckCredentials(checker, time.Hour)
	if _, err := c.Taxes(t.Context(), serpi.Credential{SecretKey: "secret", Token: "tok-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Taxes(t.Context(), serpi.Credential{SecretKey: "secret", Token: "tok-b"}); err != nil {
		t.Fatalf("an unanswered check refused the read: %v", err)
	}
}

func TestUnreadableVerdictFailsClosed(t *testing.T) {
	for v, want := range map[string]upstream.Kind{
		verdictUnauthorized: upstream.KindUnauthorized,
		verdictForbidden:    upstream.KindForbidden,
		"garbage":           upstream.KindUnauthorized,
	} {
		ue, ok := upstream.As(refusal(v))
		if !ok || ue.Kind != want {
			t.Errorf("verdict %q: %v, want %v", v, ue, want)
		}
	}
	if err := refusal(verdictAccepted); err != nil {
		t.Errorf("accepted verdict: %v", err)
	}
	if !errors.Is(refusal("garbage"), errUnreadableVerdict) {
		t.Error("an unreadable verdict does not say so")
	}
}
