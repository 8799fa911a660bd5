package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// busDB is the Redis database of the bus tests. Pub/sub channels are not
// per database, so each test also uses a prefix of its own.
const busDB = 6

// keyLog records the keys a bus handler received.
type keyLog struct {
	mu   sync.Mutex
	keys []string
}

func (l *keyLog) add(k string) {
	l.mu.Lock()
	l.keys = append(l.keys, k)
	l.mu.Unlock()
}

func (l *keyLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

func (l *keyLog) has(k string) bool { return slices.Contains(l.got(), k) }

func TestLocalBusCallsEveryHandlerBeforePublishReturns(t *testing.T) {
	bus := cache.NewLocalBus()
	var a, b keyLog
	ctxA, cancelA := context.WithCancel(t.Context())
	if err := bus.Subscribe(ctxA, a.add); err != nil {
		t.Fatal(err)
	}
	if err := bus.Subscribe(t.Context(), b.add); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(t.Context(), "k1"); err != nil {
		t.Fatal(err)
	}
	if !a.has("k1") || !b.has("k1") {
		t.Fatalf("after Publish: a %v, b %v; want k1 in both", a.got(), b.got())
	}
	cancelA()
	probes := 0
	testutil.WaitUntil(t, "the cancelled subscription to end", func() bool {
		probes++
		probe := "probe-" + strconv.Itoa(probes)
		_ = bus.Publish(t.Context(), probe)
		return b.has(probe) && !a.has(probe)
	})
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(t.Context(), "k2"); !errors.Is(err, cache.ErrBusClosed) || b.has("k2") {
		t.Fatalf("Publish after Close = %v (b %v), want ErrBusClosed and no delivery", err, b.got())
	}
}

// newRedisBus returns a bus on its own client (a replica of its own).
func newRedisBus(t *testing.T, client redis.UniversalClient, prefix string, opts cache.RedisBusOptions) *cache.RedisBus {
	t.Helper()
	opts.Prefix = prefix
	b := cache.NewRedisBus(client, opts)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRedisBusPublishReturnsOnceEveryReplicaHandledTheKey(t *testing.T) {
	prefix := redistest.Prefix(t)
	const replicas = 3
	buses := make([]*cache.RedisBus, replicas)
	logs := make([]*keyLog, replicas)
	for i := range replicas {
		buses[i] = newRedisBus(t, redistest.Client(t, busDB), prefix, cache.RedisBusOptions{AckTimeout: 5 * time.Second})
		logs[i] = &keyLog{}
		log := logs[i]
		slow := i == 2
		if err := buses[i].Subscribe(t.Context(), func(k string) {
			if slow {
				// A replica slower than the network: Publish must wait for it.
				time.Sleep(100 * time.Millisecond)
			}
			log.add(k)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for round, from := range []int{0, 1, 2, 0} {
		key := "serpi:abc:taxes#" + string(rune('a'+round))
		if err := buses[from].Publish(t.Context(), key); err != nil {
			t.Fatalf("round %d: Publish: %v", round, err)
		}
		// No waiting here: Publish has returned, so every replica has
		// handled the key, the publisher's own included.
		for i, l := range logs {
			if !l.has(key) {
				t.Fatalf("round %d: replica %d had not handled %q when Publish returned (it has %v)", round, i, key, l.got())
			}
		}
	}
	// Another deployment (another prefix) hears nothing of this one.
	other := newRedisBus(t, redistest.Client(t, busDB), redistest.Prefix(t), cache.RedisBusOptions{})
	var otherLog keyLog
	if err := other.Subscribe(t.Context(), otherLog.add); err != nil {
		t.Fatal(err)
	}
	if err := buses[0].Publish(t.Context(), "mine"); err != nil {
		t.Fatal(err)
	}
	if otherLog.has("mine") {
		t.Fatal("a bus with another prefix received the key")
	}
}

func TestRedisBusPublishGivesUpOnAReplicaThatDoesNotAnswer(t *testing.T) {
	prefix := redistest.Prefix(t)
	fast := newRedisBus(t, redistest.Client(t, busDB), prefix, cache.RedisBusOptions{AckTimeout: 150 * time.Millisecond})
	stuck := newRedisBus(t, redistest.Client(t, busDB), prefix, cache.RedisBusOptions{})
	if err := fast.Subscribe(t.Context(), func(string) {}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	if err := stuck.Subscribe(t.Context(), func(k string) {
		if k != "" {
			<-release
		}
	}); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	err := fast.Publish(t.Context(), "k")
	close(release)
	if err == nil {
		t.Fatal("Publish returned without the stuck replica's acknowledgement")
	}
	if d := time.Since(started); d > time.Second {
		t.Fatalf("Publish waited %v for a stuck replica; AckTimeout is 150ms", d)
	}
}

func TestRedisBusCloseEndsTheSubscription(t *testing.T) {
	prefix := redistest.Prefix(t)
	client := redistest.Client(t, busDB)
	b := cache.NewRedisBus(client, cache.RedisBusOptions{Prefix: prefix})
	var log keyLog
	if err := b.Subscribe(t.Context(), log.add); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(t.Context(), log.add); err == nil {
		t.Fatal("a second subscription on one bus was accepted")
	}
	subscribers := func() int64 {
		n, err := client.PubSubNumSub(t.Context(), prefix+"invalidate").Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[prefix+"invalidate"]
	}
	if n := subscribers(); n != 1 {
		t.Fatalf("%d subscribers on the channel, want 1", n)
	}
	done := make(chan struct{})
	go func() { _ = b.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the subscription goroutine is still running")
	}
	testutil.WaitUntil(t, "Redis to drop the closed subscription", func() bool { return subscribers() == 0 })
	if err := client.Publish(t.Context(), prefix+"invalidate", "id after-close").Err(); err != nil {
		t.Fatal(err)
	}
	if log.has("after-close") {
		t.Fatal("a closed bus still handled a key")
	}
	if err := b.Publish(t.Context(), "k"); !errors.Is(err, cache.ErrBusClosed) {
		t.Fatalf("Publish after Close = %v, want ErrBusClosed", err)
	}
}

func TestRedisBusSaysWhenItMayHaveMissedKeys(t *testing.T) {
	prefix := redistest.Prefix(t)
	_ = redistest.Client(t, busDB) // skips without Redis
	opt, err := redis.ParseURL(redistest.URL(t, busDB))
	if err != nil {
		t.Fatal(err)
	}
	proxy := redistest.NewCuttable(t, opt.Addr)
	opt.Addr = proxy.Addr()
	viaProxy := redis.NewClient(opt)
	t.Cleanup(func() { _ = viaProxy.Close() })

	rec := &logRecorder{}
	b := newRedisBus(t, viaProxy, prefix, cache.RedisBusOptions{HealthInterval: 100 * time.Millisecond, Logger: slog.New(rec)})
	var log keyLog
	if err := b.Subscribe(t.Context(), log.add); err != nil {
		t.Fatal(err)
	}
	publisher := newRedisBus(t, redistest.Client(t, busDB), prefix, cache.RedisBusOptions{})

	proxy.Cut()
	testutil.WaitUntil(t, `the handler to get "" for the interruption`, func() bool { return log.has("") })
	proxy.Restore()
	// Once subscribed again the handler hears "" once more (keys published
	// meanwhile were lost), then new keys again.
	testutil.WaitUntil(t, "the bus to subscribe again", func() bool {
		n := 0
		for _, k := range log.got() {
			if k == "" {
				n++
			}
		}
		return n >= 2
	})
	testutil.WaitUntil(t, "a key published after the interruption", func() bool {
		_ = publisher.Publish(t.Context(), "after")
		return log.has("after")
	})
	if rec.count(slog.LevelWarn, "invalidation bus: subscription interrupted; resubscribing") != 1 {
		t.Errorf("want one warning for the interruption, got %d", rec.count(slog.LevelWarn, "invalidation bus: subscription interrupted; resubscribing"))
	}
}

func TestForgetKeepsAnInFlightFetchFromStoring(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	p := cache.Policy{Fresh: time.Hour, Stale: time.Hour}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan []byte)
	go func() {
		v, _ := c.Fetch(context.Background(), "k", p, func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("read before the write"), nil
		})
		done <- v
	}()
	<-started
	c.Forget("k") // another replica invalidated k meanwhile
	close(release)
	if v := <-done; string(v) != "read before the write" {
		t.Fatalf("the waiting caller got %q", v)
	}
	if _, ok, _ := store.Get(context.Background(), "k"); ok {
		t.Fatal("a fetch forgotten while in flight stored its result")
	}
	v, _ := c.Fetch(context.Background(), "k", p, func(context.Context) ([]byte, error) { return []byte("fresh"), nil })
	if string(v) != "fresh" {
		t.Fatalf("next Fetch = %q, want a new fetch", v)
	}
}

func TestReplaceWinsOverAFetchInFlight(t *testing.T) {
	store := cache.NewMemory(10)
	c := cache.New(store, nil)
	defer c.Close()
	p := cache.Policy{Fresh: time.Hour, Stale: time.Hour}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Fetch(context.Background(), "k", p, func(context.Context) ([]byte, error) {
			close(started)
			<-release
			return []byte("read before"), nil
		})
	}()
	<-started
	if err := c.Replace(context.Background(), "k", []byte("polled"), p); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	v, err := c.Fetch(context.Background(), "k", p, func(context.Context) ([]byte, error) {
		t.Error("Fetch read the upstream although a fresh copy was stored")
		return nil, errors.New("unexpected")
	})
	if err != nil || string(v) != "polled" {
		t.Fatalf("Fetch after Replace = %q, %v; want the replaced copy, fresh", v, err)
	}
}
