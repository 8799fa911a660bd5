package regwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// redisDB is this package's Redis database.
const redisDB = 8

// fakeBrilla is Brilla's registration status: a code stays PENDING until
// its decision time, then takes its final state.
type fakeBrilla struct {
	mu      sync.Mutex
	regs    map[string]fakeReg
	calls   atomic.Int64
	perCode sync.Map // code → *atomic.Int64
}

type fakeReg struct {
	decideAt time.Time
	final    model.RegistrationState
}

func newFake() *fakeBrilla { return &fakeBrilla{regs: map[string]fakeReg{}} }

// add registers code, decided after delay.
func (f *fakeBrilla) add(code string, delay time.Duration, final model.RegistrationState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs[code] = fakeReg{decideAt: time.Now().Add(delay), final: final}
}

func (f *fakeBrilla) fetch(ctx context.Context, code string) (*model.Registration, error) {
	f.calls.Add(1)
	n, _ := f.perCode.LoadOrStore(code, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	reg, ok := f.regs[code]
	f.mu.Unlock()
	if !ok {
		return nil, &upstream.Error{Upstream: upstream.Brilla, Op: "GET register/status", Kind: upstream.KindNotFound, Status: 404}
	}
	out := &model.Registration{TrackingCode: code, State: model.RegistrationStatePending, Message: ptr("Solicitud en revision")}
	if !time.Now().Before(reg.decideAt) {
		out.State = reg.final
		out.Message = ptr("decidida")
		at := reg.decideAt.Truncate(time.Second)
		out.UpdatedAt = &at
	}
	return out, nil
}

func (f *fakeBrilla) callsFor(code string) int64 {
	n, ok := f.perCode.Load(code)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func ptr[T any](v T) *T { return &v }

// testOptions polls fast: 20ms doubling to 80ms. The fast window is off,
// so that the bounds on Brilla calls these tests assert follow from the
// backoff alone (fast_test.go turns it on).
func testOptions(f *fakeBrilla) Options {
	return Options{Fetch: f.fetch, PollMin: 20 * time.Millisecond, PollMax: 80 * time.Millisecond, Lease: 400 * time.Millisecond, FastWindow: -1}
}

func newHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	h := New(opts)
	t.Cleanup(h.Close)
	return h
}

// redisHubs returns n hubs sharing one Redis prefix, each with its own
// client (as replicas have), and a client for the test's own looks.
func redisHubs(t *testing.T, n int, f *fakeBrilla, tune func(*Options)) ([]*Hub, redis.UniversalClient, string) {
	t.Helper()
	prefix := redistest.Prefix(t)
	var hubs []*Hub
	for range n {
		opts := testOptions(f)
		opts.Redis = redistest.Client(t, redisDB)
		opts.Prefix = prefix
		if tune != nil {
			tune(&opts)
		}
		hubs = append(hubs, newHub(t, opts))
	}
	return hubs, redistest.Client(t, redisDB), prefix
}

// collect reads ch until it closes or timeout passes.
func collect(t *testing.T, ch <-chan *model.Registration, timeout time.Duration) (states []model.RegistrationState, closed bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return states, true
			}
			states = append(states, r.State)
		case <-deadline:
			return states, false
		}
	}
}

func wantStates(t *testing.T, who string, got []model.RegistrationState, closed bool, final model.RegistrationState) {
	t.Helper()
	if !closed {
		t.Fatalf("%s: channel not closed after %v", who, got)
	}
	if len(got) != 2 || got[0] != model.RegistrationStatePending || got[1] != final {
		t.Fatalf("%s: got %v, want [PENDING %s]", who, got, final)
	}
}

func TestWatchEmitsPendingThenFinalThenClosesInMemory(t *testing.T) {
	for _, final := range []model.RegistrationState{model.RegistrationStateApproved, model.RegistrationStateRejected} {
		t.Run(string(final), func(t *testing.T) {
			f := newFake()
			f.add("BRL1", 150*time.Millisecond, final)
			h := newHub(t, testOptions(f))
			const watchers = 5
			chans := make([]<-chan *model.Registration, watchers)
			for i := range chans {
				ch, err := h.Watch(context.Background(), "BRL1")
				if err != nil {
					t.Fatal(err)
				}
				chans[i] = ch
			}
			for i, ch := range chans {
				got, closed := collect(t, ch, 3*time.Second)
				wantStates(t, fmt.Sprintf("watcher %d", i), got, closed, final)
			}
			// One poller for five watchers: the first read, then polls at
			// 20, 60, 140, 220ms... until the decision at 150ms.
			if n := f.callsFor("BRL1"); n > 6 {
				t.Errorf("%d Brilla calls for %d watchers, want one poller's (<= 6)", n, watchers)
			}
		})
	}
}

func TestWatchUnknownCodeFailsBeforeAnyEvent(t *testing.T) {
	f := newFake()
	h := newHub(t, testOptions(f))
	ch, err := h.Watch(context.Background(), "BRL404")
	if !upstream.IsKind(err, upstream.KindNotFound) || ch != nil {
		t.Fatalf("Watch(unknown) = %v, %v; want a NotFound error and no channel", ch, err)
	}
	if _, err := h.Watch(context.Background(), "../credits"); err == nil {
		t.Fatal("Watch accepted a malformed code")
	}
	h.mu.Lock()
	n := len(h.topics)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d topics left after failed watches", n)
	}
}

func TestWatchAfterFinalSendsItAtOnceWithoutBrilla(t *testing.T) {
	f := newFake()
	f.add("BRL2", 0, model.RegistrationStateRejected)
	hubs, _, _ := redisHubs(t, 2, f, nil)
	got, closed := collect(t, mustWatch(t, hubs[0], "BRL2"), 2*time.Second)
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateRejected {
		t.Fatalf("first watcher: %v closed=%v, want [REJECTED] then close", got, closed)
	}
	before := f.calls.Load()
	got, closed = collect(t, mustWatch(t, hubs[1], "BRL2"), 2*time.Second)
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateRejected {
		t.Fatalf("late watcher on another replica: %v closed=%v, want [REJECTED] then close", got, closed)
	}
	if n := f.calls.Load() - before; n != 0 {
		t.Fatalf("late watcher made %d Brilla calls, want 0 (shared state)", n)
	}
	// The query reads the same state, without Brilla either.
	reg, err := hubs[1].Current(context.Background(), "BRL2")
	if err != nil || reg.State != model.RegistrationStateRejected || f.calls.Load() != before {
		t.Fatalf("Current = %+v, %v after %d calls; want REJECTED from the shared state", reg, err, f.calls.Load()-before)
	}
}

func mustWatch(t *testing.T, h *Hub, code string) <-chan *model.Registration {
	t.Helper()
	ch, err := h.Watch(context.Background(), code)
	if err != nil {
		t.Fatalf("Watch(%s): %v", code, err)
	}
	return ch
}

func TestReplicasShareOnePollerPerCode(t *testing.T) {
	f := newFake()
	f.add("BRL3", 250*time.Millisecond, model.RegistrationStateApproved)
	hubs, _, _ := redisHubs(t, 3, f, nil)
	var chans []<-chan *model.Registration
	for i := range 12 {
		chans = append(chans, mustWatch(t, hubs[i%3], "BRL3"))
	}
	for i, ch := range chans {
		got, closed := collect(t, ch, 3*time.Second)
		wantStates(t, fmt.Sprintf("watcher %d on replica %d", i, i%3), got, closed, model.RegistrationStateApproved)
	}
	// One poller: the first read (the others read the shared state), then
	// polls every 20, 40, 80, 80ms... until 250ms: about 6. Three pollers
	// would make about 18.
	n := f.callsFor("BRL3")
	t.Logf("12 watchers on 3 replicas: %d Brilla calls", n)
	if n > 8 {
		t.Fatalf("%d Brilla calls, want one poller's (<= 8)", n)
	}
}

func TestCrashedPollersLeaseExpiresAndAnotherReplicaTakesOver(t *testing.T) {
	f := newFake()
	f.add("BRL4", 100*time.Millisecond, model.RegistrationStateApproved)
	hubs, rdb, prefix := redisHubs(t, 1, f, nil)
	ctx := context.Background()
	// A replica that crashed while polling: its lease stays for 600ms and
	// nobody renews it.
	if err := rdb.Set(ctx, prefix+"lease:BRL4", "crashed-replica", 600*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ch := mustWatch(t, hubs[0], "BRL4")
	first := <-ch
	if first.State != model.RegistrationStatePending {
		t.Fatalf("first state %s, want PENDING", first.State)
	}
	time.Sleep(300 * time.Millisecond) // decided by now, but the lease is not ours
	if n := f.callsFor("BRL4"); n != 1 {
		t.Fatalf("%d Brilla calls while another replica held the lease, want 1 (the first read)", n)
	}
	got, closed := collect(t, ch, 3*time.Second)
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateApproved {
		t.Fatalf("after the lease expired: %v closed=%v, want [APPROVED] then close", got, closed)
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Fatalf("final state after %v: the crashed replica's lease was not respected", took)
	}
	testutil.WaitUntil(t, "the lease released after the final state", func() bool {
		n, _ := rdb.Exists(ctx, prefix+"lease:BRL4").Result()
		return n == 0
	})
}

func TestClosedReplicaHandsItsPollerOver(t *testing.T) {
	f := newFake()
	f.add("BRL5", 500*time.Millisecond, model.RegistrationStateApproved)
	// Long lease and resync: only the release event can make B take over
	// in time.
	hubs, rdb, prefix := redisHubs(t, 2, f, func(o *Options) { o.Lease = 10 * time.Second })
	ctx := context.Background()
	chA := mustWatch(t, hubs[0], "BRL5")
	testutil.WaitUntil(t, "replica A's lease", func() bool {
		n, _ := rdb.Exists(ctx, prefix+"lease:BRL5").Result()
		return n == 1
	})
	owner, _ := rdb.Get(ctx, prefix+"lease:BRL5").Result()
	chB := mustWatch(t, hubs[1], "BRL5")
	if r := <-chB; r.State != model.RegistrationStatePending {
		t.Fatalf("B's first state %s", r.State)
	}
	hubs[0].Close()
	if _, closed := collect(t, chA, time.Second); !closed {
		t.Fatal("A's watch not closed by Close")
	}
	got, closed := collect(t, chB, 3*time.Second)
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateApproved {
		t.Fatalf("B after A closed: %v closed=%v, want [APPROVED] then close", got, closed)
	}
	if owner == "" || owner[:16] != hubs[0].id {
		t.Fatalf("lease owner %q was not replica A (%s)", owner, hubs[0].id)
	}
}

func TestLostMessagesAreCaughtUpFromTheSharedState(t *testing.T) {
	f := newFake()
	f.add("BRL6", time.Hour, model.RegistrationStateApproved)
	hubs, rdb, prefix := redisHubs(t, 1, f, nil)
	ctx := context.Background()
	// Another replica polls (its lease is alive for the whole test) and
	// its pub/sub message is lost: only the state key says APPROVED.
	if err := rdb.Set(ctx, prefix+"lease:BRL6", "other-replica", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ch := mustWatch(t, hubs[0], "BRL6")
	if r := <-ch; r.State != model.RegistrationStatePending {
		t.Fatalf("first state %s", r.State)
	}
	raw, _ := json.Marshal(model.Registration{TrackingCode: "BRL6", State: model.RegistrationStateApproved})
	if err := rdb.Set(ctx, prefix+"state:BRL6", raw, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got, closed := collect(t, ch, 2*time.Second) // resync every Lease/2 = 200ms
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateApproved {
		t.Fatalf("after a lost message: %v closed=%v, want [APPROVED] then close", got, closed)
	}
	if n := f.callsFor("BRL6"); n != 1 {
		t.Fatalf("%d Brilla calls, want 1: another replica holds the lease", n)
	}
}

func TestSharedStateNeverGoesBackFromFinal(t *testing.T) {
	f := newFake()
	hubs, rdb, prefix := redisHubs(t, 1, f, nil)
	ctx := context.Background()
	b := hubs[0].st
	final := &model.Registration{TrackingCode: "BRL7", State: model.RegistrationStateApproved}
	pending := &model.Registration{TrackingCode: "BRL7", State: model.RegistrationStatePending}
	for _, r := range []*model.Registration{pending, final, pending} {
		if err := b.save(ctx, "BRL7", r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.load(ctx, "BRL7")
	if err != nil || got.State != model.RegistrationStateApproved {
		t.Fatalf("stored %+v, %v; want APPROVED kept", got, err)
	}
	if ttl := rdb.PTTL(ctx, prefix+"state:BRL7").Val(); ttl <= 0 || ttl > DefaultStateTTL {
		t.Fatalf("state TTL %v, want (0, %v]", ttl, DefaultStateTTL)
	}
	m := newMemoryBackend(time.Hour)
	for _, r := range []*model.Registration{pending, final, pending} {
		_ = m.save(ctx, "BRL7", r)
	}
	if got, _ := m.load(ctx, "BRL7"); got.State != model.RegistrationStateApproved {
		t.Fatalf("memory stored %s, want APPROVED kept", got.State)
	}
}

func TestNewer(t *testing.T) {
	t0 := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	pending := func(msg string, at *time.Time) *model.Registration {
		return &model.Registration{State: model.RegistrationStatePending, Message: &msg, UpdatedAt: at}
	}
	approved := &model.Registration{State: model.RegistrationStateApproved}
	rejected := &model.Registration{State: model.RegistrationStateRejected}
	for _, c := range []struct {
		name      string
		cur, next *model.Registration
		want      bool
	}{
		{"first state", nil, pending("a", nil), true},
		{"nothing", pending("a", nil), nil, false},
		{"same", pending("a", &t0), pending("a", &t0), false},
		{"pending to final", pending("a", nil), approved, true},
		{"final is final", approved, pending("a", nil), false},
		{"final to another final", approved, rejected, false},
		{"pending message changed", pending("a", &t0), pending("b", &t1), true},
		{"older pending", pending("b", &t1), pending("a", &t0), false},
	} {
		if got := newer(c.cur, c.next); got != c.want {
			t.Errorf("%s: newer = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSlowWatcherStillGetsTheFinalState(t *testing.T) {
	f := newFake()
	f.add("BRL8", 50*time.Millisecond, model.RegistrationStateApproved)
	h := newHub(t, testOptions(f))
	slow := mustWatch(t, h, "BRL8")
	fast := mustWatch(t, h, "BRL8")
	got, closed := collect(t, fast, 2*time.Second)
	wantStates(t, "fast", got, closed, model.RegistrationStateApproved)
	// The slow watcher read nothing meanwhile; it gets the first state
	// (already handed over) and then the latest, final one.
	got, closed = collect(t, slow, 2*time.Second)
	if !closed || got[len(got)-1] != model.RegistrationStateApproved {
		t.Fatalf("slow watcher: %v closed=%v, want to end on APPROVED", got, closed)
	}
}

func TestWatchEndsWithItsContextAndCloseEndsEverything(t *testing.T) {
	f := newFake()
	f.add("BRL9", time.Hour, model.RegistrationStateApproved)
	f.add("BRL10", time.Hour, model.RegistrationStateApproved)
	base := runtime.NumGoroutine()
	hubs, _, _ := redisHubs(t, 1, f, nil)
	h := hubs[0]

	ctx, cancel := context.WithCancel(context.Background())
	ch, err := h.Watch(ctx, "BRL9")
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	if _, closed := collect(t, ch, time.Second); !closed {
		t.Fatal("watch did not end with its context")
	}
	testutil.WaitUntil(t, "topic removed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.topics) == 0
	})

	var chans []<-chan *model.Registration
	for range 20 {
		chans = append(chans, mustWatch(t, h, "BRL10"))
	}
	h.Close()
	for i, c := range chans {
		if _, closed := collect(t, c, time.Second); !closed {
			t.Fatalf("watch %d still open after Close", i)
		}
	}
	if _, err := h.Watch(context.Background(), "BRL10"); err == nil {
		t.Fatal("Watch after Close succeeded")
	}
	// Everything the hub started is gone (its Redis client is the test's).
	testutil.WaitUntil(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+4 })
}

func TestRedisOutageFallsBackToPollingLocally(t *testing.T) {
	f := newFake()
	f.add("BRL11", 100*time.Millisecond, model.RegistrationStateApproved)
	real := redistest.Client(t, redisDB) // skips without Redis
	proxy := redistest.NewCuttable(t, real.(*redis.Client).Options().Addr)
	opt := &redis.UniversalOptions{Addrs: []string{proxy.Addr()}, DB: redisDB, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1}
	rdb := redis.NewUniversalClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	proxy.Cut()
	opts := testOptions(f)
	opts.Redis = rdb
	opts.Prefix = redistest.Prefix(t)
	h := newHub(t, opts)
	got, closed := collect(t, mustWatch(t, h, "BRL11"), 3*time.Second)
	wantStates(t, "watcher without Redis", got, closed, model.RegistrationStateApproved)
}
