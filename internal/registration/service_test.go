package registration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// redisDB is this package's Redis database.
const redisDB = 7

// fakeBrilla counts register calls and answers with BRL0001, BRL0002, ...
type fakeBrilla struct {
	calls atomic.Int64
	delay time.Duration
	fail  func(n int64) error
	mu    sync.Mutex
	// endErr is the call context's error when the last call ended.
	endErr error
}

func (f *fakeBrilla) Register(ctx context.Context, _ brilla.RegisterRequest) (*brilla.RegisterResponse, error) {
	n := f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	f.endErr = ctx.Err()
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return nil, err
		}
	}
	return &brilla.RegisterResponse{Success: true, TrackingCode: fmt.Sprintf("BRL%04d", n), RequestID: wire.NewInt(n), State: "pending", Message: "recibida"}, nil
}

func newService(t *testing.T, store cache.Store, tune func(*Config)) *Service {
	t.Helper()
	cfg := Config{
		Store:  store,
		Secret: []byte("registration-test-secret-0123456789"),
		Limits: Limits{MaxFileBytes: 1024, MaxTotalBytes: 2048, MaxFiles: 3},
		Now:    func() time.Time { return fixedNow },
	}
	if tune != nil {
		tune(&cfg)
	}
	return New(cfg)
}

func codeOf(err error) apperr.Code { return apperr.CodeOf(err) }

func TestSameKeyRegistersOnceAndReusedKeyIsRefused(t *testing.T) {
	up := &fakeBrilla{}
	s := newService(t, cache.NewMemory(100), nil)
	ctx := WithKey(context.Background(), "8d1e7a7e-5b55-4d5c-9f0e-1a2b3c4d5e6f")

	first, err := s.Register(ctx, up, validInput())
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Register(ctx, up, validInput())
	if err != nil {
		t.Fatal(err)
	}
	if up.calls.Load() != 1 || again.TrackingCode != first.TrackingCode || !again.Replayed || first.Replayed {
		t.Fatalf("calls %d, first %+v, again %+v; want one call and the same result replayed", up.calls.Load(), first, again)
	}
	if *again.RequestID != 1 || again.State != "pending" || again.Message != "recibida" {
		t.Fatalf("replayed result %+v lost fields", again)
	}

	other := validInput()
	other.Email = "someone.else@example.com"
	_, err = s.Register(ctx, up, other)
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.BadUserInput || e.Field != HeaderIdempotencyKey {
		t.Fatalf("same key, different input: %v, want BAD_USER_INPUT on %s", err, HeaderIdempotencyKey)
	}
	if up.calls.Load() != 1 {
		t.Fatalf("a reused key reached Brilla: %d calls", up.calls.Load())
	}
}

func TestSameInputWithinTheWindowRegistersOnce(t *testing.T) {
	up := &fakeBrilla{}
	s := newService(t, cache.NewMemory(100), func(c *Config) { c.InputWindow = 200 * time.Millisecond })
	ctx := context.Background()

	first, err := s.Register(ctx, up, validInput())
	if err != nil {
		t.Fatal(err)
	}
	// Cosmetic differences normalize away: the same registration.
	same := validInput()
	same.Name, same.Email, same.Phone, same.Vat = "Ana María   Pérez", "ana.perez@example.com", "300-123-4567", "1012345678"
	again, err := s.Register(ctx, up, same)
	if err != nil || again.TrackingCode != first.TrackingCode || up.calls.Load() != 1 {
		t.Fatalf("identical input: %+v, %v, %d calls; want the first result and 1 call", again, err, up.calls.Load())
	}
	// A new key does not make an identical input a new registration.
	withKey, err := s.Register(WithKey(ctx, "a-new-key"), up, validInput())
	if err != nil || withKey.TrackingCode != first.TrackingCode || up.calls.Load() != 1 {
		t.Fatalf("identical input with a new key: %+v, %v, %d calls", withKey, err, up.calls.Load())
	}
	// Another attachment is another registration.
	changed := validInput()
	changed.Attachments[0].Base64 = b64(pngBytes)
	changed.Attachments[0].Name = "cedula.png"
	if res, err := s.Register(ctx, up, changed); err != nil || res.TrackingCode == first.TrackingCode {
		t.Fatalf("different attachment: %+v, %v; want a new registration", res, err)
	}

	time.Sleep(300 * time.Millisecond)
	late, err := s.Register(ctx, up, validInput())
	if err != nil || late.TrackingCode == first.TrackingCode || late.Replayed {
		t.Fatalf("after the window: %+v, %v; want a new registration", late, err)
	}
	// The key bound during the window outlives it.
	keyed, err := s.Register(WithKey(ctx, "a-new-key"), up, validInput())
	if err != nil || keyed.TrackingCode != first.TrackingCode {
		t.Fatalf("key after the input window: %+v, %v; want %s", keyed, err, first.TrackingCode)
	}
	if n := up.calls.Load(); n != 3 {
		t.Fatalf("%d Brilla calls, want 3", n)
	}
}

func TestInvalidInputOrKeyNeverReachesBrilla(t *testing.T) {
	up := &fakeBrilla{}
	s := newService(t, cache.NewMemory(100), nil)
	bad := validInput()
	bad.Email = "nope"
	_, err := s.Register(context.Background(), up, bad)
	var problems Problems
	if !errors.As(err, &problems) || len(problems) != 1 || problems[0].Field != "input.email" {
		t.Fatalf("bad email: %v", err)
	}
	_, err = s.Register(WithKey(context.Background(), strings.Repeat("k", MaxKeyLength+1)), up, bad)
	if !errors.As(err, &problems) || len(problems) != 2 || problems[1].Field != HeaderIdempotencyKey {
		t.Fatalf("bad email and an overlong key: %v, want both reported", err)
	}
	for _, key := range []string{"with space", "tab\tkey", "ñandú"} {
		_, err = s.Register(WithKey(context.Background(), key), up, validInput())
		if !errors.As(err, &problems) || problems[0].Field != HeaderIdempotencyKey {
			t.Fatalf("key %q: %v", key, err)
		}
	}
	if n := up.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached Brilla", n)
	}
}

func TestConcurrentIdenticalRequestsMakeOneCall(t *testing.T) {
	up := &fakeBrilla{delay: 100 * time.Millisecond}
	s := newService(t, cache.NewMemory(100), nil)
	const n = 20
	codes := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				ctx = WithKey(ctx, "shared-key")
			}
			res, err := s.Register(ctx, up, validInput())
			errs[i] = err
			if err == nil {
				codes[i] = res.TrackingCode
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || codes[i] != codes[0] {
			t.Fatalf("request %d: %q, %v; request 0: %q", i, codes[i], errs[i], codes[0])
		}
	}
	if c := up.calls.Load(); c != 1 {
		t.Fatalf("%d concurrent identical requests made %d Brilla calls, want 1", n, c)
	}
}

func TestAFailedRegistrationIsNotRememberedAndAWaiterTakesOver(t *testing.T) {
	up := &fakeBrilla{delay: 50 * time.Millisecond, fail: func(n int64) error {
		if n == 1 {
			return &upstream.Error{Upstream: upstream.Brilla, Kind: upstream.KindUnavailable, Err: errors.New("boom")}
		}
		return nil
	}}
	s := newService(t, cache.NewMemory(100), nil)
	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(10 * time.Millisecond) // the second arrives while the first is in flight
			}
			results[i], errs[i] = s.Register(context.Background(), up, validInput())
		}()
	}
	wg.Wait()
	if codeOf(errs[0]) != apperr.UpstreamUnavailable {
		t.Fatalf("first: %v, want UPSTREAM_UNAVAILABLE", errs[0])
	}
	if errs[1] != nil || results[1].TrackingCode != "BRL0002" {
		t.Fatalf("second: %+v, %v; want it to register itself after the first failed", results[1], errs[1])
	}
	if c := up.calls.Load(); c != 2 {
		t.Fatalf("%d calls, want 2", c)
	}
}

func TestWaitingForAnotherReplicaGivesUpWithRateLimited(t *testing.T) {
	store := cache.NewMemory(100)
	up := &fakeBrilla{}
	s := newService(t, store, func(c *Config) { c.InFlight = 300 * time.Millisecond })
	checked, problems := s.validator.Validate(validInput())
	if problems != nil {
		t.Fatal(problems)
	}
	// Another replica holds the lease and never answers.
	if ok, _ := store.TryLease(context.Background(), "reg:lease:in:"+s.fingerprint(checked), time.Minute); !ok {
		t.Fatal("lease not taken")
	}
	started := time.Now()
	_, err := s.Register(context.Background(), up, validInput())
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.RateLimited || !strings.Contains(e.Message, "in progress") {
		t.Fatalf("got %v, want RATE_LIMITED in progress", err)
	}
	if d := time.Since(started); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("gave up after %v, want about 300ms", d)
	}
	if up.calls.Load() != 0 {
		t.Fatal("called Brilla while another replica held the lease")
	}
}

func TestACallerHangingUpDoesNotLoseTheRegistration(t *testing.T) {
	up := &fakeBrilla{delay: 150 * time.Millisecond}
	s := newService(t, cache.NewMemory(100), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _ = s.Register(ctx, up, validInput())
	up.mu.Lock()
	callErr := up.endErr
	up.mu.Unlock()
	if callErr != nil {
		t.Fatalf("the upstream call was cancelled with its caller: %v", callErr)
	}
	res, err := s.Register(context.Background(), up, validInput())
	if err != nil || res.TrackingCode != "BRL0001" || up.calls.Load() != 1 {
		t.Fatalf("retry: %+v, %v, %d calls; want the first registration's result", res, err, up.calls.Load())
	}
}

func TestReplicasSharingRedisRegisterOnceAndStoreNoPersonalData(t *testing.T) {
	rdb := redistest.Client(t, redisDB)
	prefix := redistest.Prefix(t)
	up := &fakeBrilla{delay: 50 * time.Millisecond}
	a := newService(t, cache.NewRedis(rdb, prefix), nil)
	b := newService(t, cache.NewRedis(rdb, prefix), nil)

	var wg sync.WaitGroup
	codes := make([]string, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			res, err := s.Register(WithKey(context.Background(), "cross-replica-key"), up, validInput())
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			codes[i] = res.TrackingCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != codes[0] {
			t.Fatalf("request %d got %q, request 0 %q", i, c, codes[0])
		}
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("two replicas made %d Brilla calls for one registration, want 1", n)
	}
	// Later, on the other replica, without the key: still the same.
	res, err := b.Register(context.Background(), up, validInput())
	if err != nil || res.TrackingCode != codes[0] || up.calls.Load() != 1 {
		t.Fatalf("replica B, no key: %+v, %v", res, err)
	}

	keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("Redis keys %v (%v), want the input record and the key record (leases released)", keys, err)
	}
	personal := []string{"1012345678", "ana.perez", "example.com", "3001234567", "12345678", "1990-05-20", "Barranquilla", "cross-replica-key", "Ana"}
	for _, k := range keys {
		val, _ := rdb.Get(context.Background(), k).Result()
		for _, p := range personal {
			if strings.Contains(k, p) || strings.Contains(val, p) {
				t.Fatalf("Redis holds %q in clear (key %q)", p, k)
			}
		}
		if ttl := rdb.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > DefaultKeyWindow {
			t.Fatalf("key %q has TTL %v", k, ttl)
		}
	}
}
