package brillacache

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/cache"
)

// fakeBrilla answers with the token in the data so a test can tell whose
// data it got, and counts calls.
type fakeBrilla struct {
	calls    atomic.Int64
	fail     atomic.Bool
	delay    time.Duration
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func (f *fakeBrilla) enter() func() {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(f.delay)
	return func() { f.inFlight.Add(-1) }
}

func (f *fakeBrilla) CreditsSummary(_ context.Context, token string) (*brilla.Summary, error) {
	defer f.enter()()
	if f.fail.Load() {
		return nil, &upstream.Error{Upstream: upstream.Brilla, Kind: upstream.KindServer}
	}
	return &brilla.Summary{Contract: brilla.Contract{Number: wire.Text(token[len(token)-6:])}}, nil
}

func (f *fakeBrilla) Credits(context.Context, string) (*brilla.CreditList, error) {
	defer f.enter()()
	return &brilla.CreditList{}, nil
}

func (f *fakeBrilla) Credit(_ context.Context, _ string, id int64) (*brilla.CreditDetail, error) {
	defer f.enter()()
	return &brilla.CreditDetail{Credit: brilla.Credit{ID: wire.NewInt(id)}}, nil
}

func (f *fakeBrilla) CreditPayments(_ context.Context, _ string, id int64) (*brilla.PaymentList, error) {
	defer f.enter()()
	return &brilla.PaymentList{LoanID: wire.NewInt(id)}, nil
}

// token builds an (unsigned) JWT with the given expiry; only Brilla
// verifies signatures, the cache reads exp.
func token(vat string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload := fmt.Sprintf(`{"vat":%q,"exp":%d}`, vat, exp.Unix())
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(payload)) + "." + enc([]byte("sig-"+vat))
}

func newCached(t *testing.T, next brilla.Reader, opts ...Option) *Cached {
	t.Helper()
	c := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(c.Close)
	return New(next, c, cache.NewKeyer([]byte("0123456789abcdef-test")), cache.Policy{Fresh: time.Minute, Stale: time.Minute}, opts...)
}

func TestCachesPerTokenAndResource(t *testing.T) {
	f := &fakeBrilla{}
	c := newCached(t, f)
	ctx := t.Context()
	a, b := token("111111111", time.Now().Add(time.Hour)), token("222222222", time.Now().Add(time.Hour))

	for range 3 {
		s, err := c.CreditsSummary(ctx, a)
		if err != nil || string(s.Contract.Number) != a[len(a)-6:] {
			t.Fatalf("summary for A = %+v, %v", s, err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("3 reads of one token's summary made %d calls, want 1", n)
	}
	s, err := c.CreditsSummary(ctx, b)
	if err != nil || string(s.Contract.Number) != b[len(b)-6:] {
		t.Fatalf("token B was served %+v (%v), not its own data", s, err)
	}
	for _, id := range []int64{1, 2, 1} {
		d, err := c.Credit(ctx, a, id)
		if err != nil || d.Credit.ID.Value != id {
			t.Fatalf("credit %d = %+v, %v", id, d, err)
		}
	}
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("calls = %d, want 4 (A summary, B summary, credits 1 and 2)", n)
	}
}

func TestNeverCachesErrorsExpiredOrUnreadableTokens(t *testing.T) {
	tests := []struct {
		name  string
		token string
		fail  bool
	}{
		{"upstream error", token("111111111", time.Now().Add(time.Hour)), true},
		{"expired token", token("111111111", time.Now().Add(-time.Minute)), false},
		{"token without expiry", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"vat":"1"}`)) + ".c", false},
		{"not a JWT", "opaque-token-value", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBrilla{}
			f.fail.Store(tc.fail)
			c := newCached(t, f)
			for range 3 {
				_, err := c.CreditsSummary(t.Context(), tc.token)
				var ue *upstream.Error
				if tc.fail != errors.As(err, &ue) {
					t.Fatalf("err = %v", err)
				}
			}
			if n := f.calls.Load(); n != 3 {
				t.Fatalf("%d upstream calls for 3 reads, want 3 (nothing cached)", n)
			}
		})
	}
}

func TestSerializerRunsOneCallPerTokenAtATime(t *testing.T) {
	f := &fakeBrilla{delay: 2 * time.Millisecond}
	c := newCached(t, f, WithSerializer(serializer.NewLocal()))
	tok := token("111111111", time.Now().Add(time.Hour))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Credit(t.Context(), tok, int64(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if f.calls.Load() != 20 || f.maxIn.Load() != 1 {
		t.Fatalf("calls %d, max in flight %d; want 20 and 1", f.calls.Load(), f.maxIn.Load())
	}
}
