package regwatch

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// receivedAt makes fetch report pending states as received at at, as
// Brilla's updatedAt does.
func receivedAt(at time.Time, fetch Fetcher) Fetcher {
	return func(ctx context.Context, code string) (*model.Registration, error) {
		r, err := fetch(ctx, code)
		if r != nil && r.State == model.RegistrationStatePending {
			r.UpdatedAt = &at
		}
		return r, err
	}
}

// A young registration is polled every FastPoll, whatever the backoff: with
// a backoff of an hour, the decision still arrives.
func TestYoungRegistrationIsPolledFast(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "redis"}[shared]
		t.Run(name, func(t *testing.T) {
			f := newFake()
			code := "BRLFAST" + strings.ToUpper(name)
			f.add(code, 100*time.Millisecond, model.RegistrationStateApproved)
			tune := func(o *Options) {
				o.Fetch = receivedAt(time.Now(), f.fetch)
				o.PollMin, o.PollMax = time.Hour, time.Hour
				o.FastPoll, o.FastWindow = 10*time.Millisecond, time.Minute
			}
			var h *Hub
			if shared {
				hubs, _, _ := redisHubs(t, 1, f, tune)
				h = hubs[0]
			} else {
				opts := testOptions(f)
				tune(&opts)
				h = newHub(t, opts)
			}
			ch, err := h.Watch(t.Context(), code)
			if err != nil {
				t.Fatal(err)
			}
			got, closed := collect(t, ch, 10*time.Second)
			if !closed || len(got) != 2 || got[1] != model.RegistrationStateApproved {
				t.Fatalf("states %v closed=%v, want [PENDING APPROVED] then close", got, closed)
			}
		})
	}
}

func TestYoungIsCountedFromReceipt(t *testing.T) {
	h := newHub(t, Options{Fetch: newFake().fetch, FastPoll: time.Second, FastWindow: time.Minute})
	now := time.Now()
	for _, tc := range []struct {
		name     string
		received *time.Time
		started  time.Time
		want     bool
	}{
		{"received 10 s ago", ptr(now.Add(-10 * time.Second)), now, true},
		{"received 59.5 s ago: the next poll falls outside", ptr(now.Add(-59500 * time.Millisecond)), now, false},
		{"received an hour ago, watched just now", ptr(now.Add(-time.Hour)), now, false},
		{"receipt unknown, loop just started", nil, now, true},
		{"receipt unknown, loop started 2 min ago", nil, now.Add(-2 * time.Minute), false},
		{"receipt in the future (clock skew): the loop's start counts", ptr(now.Add(time.Hour)), now, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := &topic{latest: &model.Registration{State: model.RegistrationStatePending, UpdatedAt: tc.received}}
			if got := h.young(tp, tc.started); got != tc.want {
				t.Errorf("young = %v, want %v", got, tc.want)
			}
		})
	}
	off := newHub(t, Options{Fetch: newFake().fetch, FastWindow: -1})
	if off.young(&topic{}, time.Now()) {
		t.Error("a negative FastWindow turns fast polling off")
	}
	if d := newHub(t, Options{Fetch: newFake().fetch, PollMin: 50 * time.Millisecond}).opts.FastPoll; d != 50*time.Millisecond {
		t.Errorf("FastPoll defaults to %v with PollMin 50ms; never slower than the backoff's start", d)
	}
}

// After PollBudget polls of a code, its loops stop polling, and a new
// watch of the same code does not start them again.
func TestPollBudgetCapsPollsPerCode(t *testing.T) {
	f := newFake()
	f.add("BRLBUDGET", time.Hour, model.RegistrationStateApproved)
	logs := &testutil.SyncBuffer{}
	opts := testOptions(f)
	opts.FastPoll, opts.FastWindow, opts.PollBudget = time.Millisecond, time.Hour, 5
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	h := newHub(t, opts)

	spent := func(n int) func() bool {
		return func() bool { return strings.Count(logs.String(), "poll budget spent") >= n }
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := h.Watch(ctx, "BRLBUDGET")
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitUntil(t, "the budget to be spent", spent(1))
	if n := f.callsFor("BRLBUDGET"); n != 1+5 {
		t.Fatalf("%d Brilla calls, want the first read and 5 polls", n)
	}
	cancel()
	for range ch {
	}

	// A new watcher gets the stored state, and its loop stops at once.
	ch, err = h.Watch(t.Context(), "BRLBUDGET")
	if err != nil {
		t.Fatal(err)
	}
	if r := <-ch; r.State != model.RegistrationStatePending {
		t.Fatalf("first state %s", r.State)
	}
	testutil.WaitUntil(t, "the second loop to stop", spent(2))
	if n := f.callsFor("BRLBUDGET"); n != 1+5 {
		t.Fatalf("%d Brilla calls after a new watch, want still 6", n)
	}
	// The registration query still reads Brilla, and the watcher gets it.
	f.add("BRLBUDGET", 0, model.RegistrationStateApproved)
	if r, err := h.Current(t.Context(), "BRLBUDGET"); err != nil || r.State != model.RegistrationStateApproved {
		t.Fatalf("Current = %+v, %v", r, err)
	}
	got, closed := collect(t, ch, 5*time.Second)
	if !closed || len(got) != 1 || got[0] != model.RegistrationStateApproved {
		t.Fatalf("after Current: %v closed=%v, want [APPROVED] then close", got, closed)
	}
}

// The budget is per code across replicas: when the poller's replica has
// spent it, the replica taking the lease over does not poll either.
func TestPollBudgetIsSharedByReplicas(t *testing.T) {
	f := newFake()
	f.add("BRLSHARED", time.Hour, model.RegistrationStateApproved)
	var logs [2]*testutil.SyncBuffer
	i := 0
	hubs, rdb, prefix := redisHubs(t, 2, f, func(o *Options) {
		o.FastPoll, o.FastWindow, o.PollBudget = time.Millisecond, time.Hour, 5
		logs[i] = &testutil.SyncBuffer{}
		o.Logger = slog.New(slog.NewTextHandler(logs[i], nil))
		i++
	})
	for _, h := range hubs {
		if _, err := h.Watch(t.Context(), "BRLSHARED"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range logs {
		testutil.WaitUntil(t, "each replica to find the budget spent", func() bool {
			return strings.Contains(logs[i].String(), "poll budget spent")
		})
	}
	// Two first reads at most (one per replica), then 5 polls in all.
	if n := f.callsFor("BRLSHARED"); n < 5 || n > 2+5 {
		t.Fatalf("%d Brilla calls, want 5 polls and at most 2 first reads", n)
	}
	key := prefix + "polls:BRLSHARED"
	if ttl := rdb.PTTL(t.Context(), key).Val(); ttl <= 0 || ttl > DefaultStateTTL {
		t.Fatalf("poll count TTL %v, want (0, %v]", ttl, DefaultStateTTL)
	}
}
