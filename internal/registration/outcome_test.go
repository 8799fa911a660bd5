package registration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// lostAnswer is the client's error for a register sent in full whose
// answer never came.
func lostAnswer() error {
	return &upstream.Error{Upstream: upstream.Brilla, Kind: upstream.KindUnavailable,
		Err: fmt.Errorf("send request: %w: %w", brilla.ErrOutcomeUnknown, context.DeadlineExceeded)}
}

// wantUnknown checks err is the unknown-outcome answer.
func wantUnknown(t *testing.T, label string, err error, retry bool) *UnknownOutcomeError {
	t.Helper()
	var u *UnknownOutcomeError
	if !errors.As(err, &u) {
		t.Fatalf("%s: %v, want an UnknownOutcomeError", label, err)
	}
	if codeOf(err) != apperr.UpstreamUnavailable || u.Retry != retry || u.AttemptedAt.IsZero() {
		t.Fatalf("%s: code %s, retry %v (want %v), attempted %v", label, codeOf(err), u.Retry, retry, u.AttemptedAt)
	}
	var presented *apperr.Error
	errors.As(err, &presented)
	for _, w := range []string{"may have been registered", "To check", "new " + HeaderIdempotencyKey} {
		if !strings.Contains(presented.Message, w) {
			t.Fatalf("%s: message %q lacks %q", label, presented.Message, w)
		}
	}
	if ext := u.Extensions(); ext["outcome"] != OutcomeUnknown || ext["code"] != string(apperr.UpstreamUnavailable) {
		t.Fatalf("%s: extensions %v", label, ext)
	}
	return u
}

func TestRetryAfterEachKindOfOutcome(t *testing.T) {
	tests := []struct {
		name string
		// first is the first call's outcome (nil: success).
		first func() error
		// noCode makes the first answer a success without a tracking code.
		noCode bool
		// wantCalls after the first call and one retry.
		wantCalls int64
		check     func(t *testing.T, firstRes *Result, firstErr error, retryRes *Result, retryErr error)
	}{
		{
			name:      "success: the retry gets the first answer",
			wantCalls: 1,
			check: func(t *testing.T, firstRes *Result, firstErr error, retryRes *Result, retryErr error) {
				if firstErr != nil || retryErr != nil || retryRes.TrackingCode != firstRes.TrackingCode || !retryRes.Replayed {
					t.Fatalf("first %+v %v, retry %+v %v", firstRes, firstErr, retryRes, retryErr)
				}
			},
		},
		{
			name: "definite failure (not sent): the retry calls Brilla",
			first: func() error {
				return &upstream.Error{Upstream: upstream.Brilla, Kind: upstream.KindUnavailable, Err: errors.New("connection refused")}
			},
			wantCalls: 2,
			check: func(t *testing.T, _ *Result, firstErr error, retryRes *Result, retryErr error) {
				var u *UnknownOutcomeError
				if errors.As(firstErr, &u) || codeOf(firstErr) != apperr.UpstreamUnavailable {
					t.Fatalf("first: %v, want a plain UPSTREAM_UNAVAILABLE", firstErr)
				}
				if retryErr != nil || retryRes.TrackingCode != "BRL0002" || retryRes.Replayed {
					t.Fatalf("retry: %+v %v, want a registration of its own", retryRes, retryErr)
				}
			},
		},
		{
			name: "definite failure (Brilla refused): the retry calls Brilla",
			first: func() error {
				return &upstream.Error{Upstream: upstream.Brilla, Kind: upstream.KindBadRequest, Status: 400}
			},
			wantCalls: 2,
			check: func(t *testing.T, _ *Result, firstErr error, retryRes *Result, retryErr error) {
				if codeOf(firstErr) != apperr.BadUserInput || retryErr != nil || retryRes.TrackingCode != "BRL0002" {
					t.Fatalf("first %v, retry %+v %v", firstErr, retryRes, retryErr)
				}
			},
		},
		{
			name:      "unknown (answer lost): the retry is refused with the clear answer",
			first:     lostAnswer,
			wantCalls: 1,
			check: func(t *testing.T, _ *Result, firstErr error, retryRes *Result, retryErr error) {
				first := wantUnknown(t, "first", firstErr, false)
				retry := wantUnknown(t, "retry", retryErr, true)
				if retryRes != nil || !retry.AttemptedAt.Equal(first.AttemptedAt) || retry.KeyUntil.IsZero() {
					t.Fatalf("retry %+v: attempted %v (first %v), key until %v", retryRes, retry.AttemptedAt, first.AttemptedAt, retry.KeyUntil)
				}
			},
		},
		{
			name:      "unknown (2xx without a tracking code): the retry is refused",
			noCode:    true,
			wantCalls: 1,
			check: func(t *testing.T, _ *Result, firstErr error, _ *Result, retryErr error) {
				wantUnknown(t, "first", firstErr, false)
				wantUnknown(t, "retry", retryErr, true)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &fakeBrilla{}
			if tt.first != nil {
				up.fail = func(n int64) error {
					if n == 1 {
						return tt.first()
					}
					return nil
				}
			}
			var reg Registrar = up
			if tt.noCode {
				reg = noTrackingCode{up}
			}
			s := newService(t, cache.NewMemory(100), nil)
			ctx := WithKey(context.Background(), "outcome-key")
			firstRes, firstErr := s.Register(ctx, reg, validInput())
			retryRes, retryErr := s.Register(ctx, reg, validInput())
			tt.check(t, firstRes, firstErr, retryRes, retryErr)
			if n := up.calls.Load(); n != tt.wantCalls {
				t.Fatalf("%d Brilla calls, want %d", n, tt.wantCalls)
			}
		})
	}
}

// noTrackingCode answers the first call with success and no tracking code.
type noTrackingCode struct{ *fakeBrilla }

func (n noTrackingCode) Register(ctx context.Context, req brilla.RegisterRequest) (*brilla.RegisterResponse, error) {
	resp, err := n.fakeBrilla.Register(ctx, req)
	if err == nil && n.calls.Load() == 1 {
		resp.TrackingCode = ""
	}
	return resp, err
}

func TestAnUnknownOutcomeHoldsForTheInputAndTheKey(t *testing.T) {
	up := &fakeBrilla{fail: func(n int64) error {
		if n == 1 {
			return lostAnswer()
		}
		return nil
	}}
	s := newService(t, cache.NewMemory(100), func(c *Config) { c.InputWindow = 300 * time.Millisecond })
	ctx := context.Background()
	wantUnknown(t, "first, with a key", func() error { _, err := s.Register(WithKey(ctx, "k1"), up, validInput()); return err }(), false)
	for _, c := range []struct {
		label string
		ctx   context.Context
	}{{"same key", WithKey(ctx, "k1")}, {"no key", ctx}, {"another key", WithKey(ctx, "k2")}} {
		_, err := s.Register(c.ctx, up, validInput())
		wantUnknown(t, c.label, err, true)
	}
	// The same key with another input is still a reused key.
	other := validInput()
	other.Email = "otra@example.com"
	if _, err := s.Register(WithKey(ctx, "k1"), up, other); codeOf(err) != apperr.BadUserInput {
		t.Fatalf("reused key: %v", err)
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("%d Brilla calls within the window, want 1", n)
	}
	// Past the input window: the same input with a new key (or none) is a
	// new attempt; the keys that named the lost one keep answering so.
	time.Sleep(400 * time.Millisecond)
	for _, k := range []string{"k1", "k2"} {
		_, err := s.Register(WithKey(ctx, k), up, validInput())
		wantUnknown(t, "key "+k+" after the input window", err, true)
		var presented *apperr.Error
		errors.As(err, &presented)
		if strings.Contains(presented.Message, "same details gets this answer") {
			t.Fatalf("after the input window the message still speaks of the input: %q", presented.Message)
		}
	}
	res, err := s.Register(WithKey(ctx, "k3"), up, validInput())
	if err != nil || res.TrackingCode != "BRL0002" || up.calls.Load() != 2 {
		t.Fatalf("new key after the input window: %+v, %v, %d calls", res, err, up.calls.Load())
	}
}

// degradable is a memory store that can say it is degraded, as
// cache.Resilient does while Redis is away.
type degradable struct {
	*cache.Memory
	down atomic.Bool
}

func (d *degradable) Healthy() bool { return !d.down.Load() }

func TestADegradedStoreRefusesInsteadOfRegisteringBlind(t *testing.T) {
	store := &degradable{Memory: cache.NewMemory(100)}
	up := &fakeBrilla{}
	s := newService(t, store, nil)
	store.down.Store(true)
	_, err := s.Register(WithKey(context.Background(), "k"), up, validInput())
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.UpstreamUnavailable || e.RetryAfter <= 0 || !strings.Contains(e.Message, "nothing was sent to Brilla") {
		t.Fatalf("degraded store: %v, want UPSTREAM_UNAVAILABLE with a Retry-After", err)
	}
	if up.calls.Load() != 0 {
		t.Fatal("registered while the store was degraded")
	}
	// Leases were released: once healthy, it registers at once.
	store.down.Store(false)
	if res, err := s.Register(WithKey(context.Background(), "k"), up, validInput()); err != nil || res.TrackingCode != "BRL0001" {
		t.Fatalf("after recovery: %+v, %v", res, err)
	}
}

func TestAnUnknownOutcomeIsSeenByEveryReplica(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	up := &fakeBrilla{fail: func(n int64) error {
		if n == 1 {
			return lostAnswer()
		}
		return nil
	}}
	a := newService(t, cache.NewRedis(rdb, prefix), nil)
	b := newService(t, cache.NewRedis(rdb, prefix), nil)
	_, err := a.Register(WithKey(context.Background(), "replicated"), up, validInput())
	wantUnknown(t, "replica A", err, false)
	_, err = b.Register(WithKey(context.Background(), "replicated"), up, validInput())
	wantUnknown(t, "replica B, same key", err, true)
	_, err = b.Register(context.Background(), up, validInput())
	wantUnknown(t, "replica B, no key", err, true)
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("%d Brilla calls, want 1", n)
	}
	keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
	for _, k := range keys {
		val, _ := rdb.Get(context.Background(), k).Result()
		for _, p := range []string{"1012345678", "ana.perez", "replicated"} {
			if strings.Contains(k, p) || strings.Contains(val, p) {
				t.Fatalf("Redis holds %q in clear", p)
			}
		}
	}
}
