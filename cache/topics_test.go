package cache_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestTopicsShareOneRedisSubscriptionAcrossReplicas(t *testing.T) {
	prefix := redistest.Prefix(t)
	type replica struct {
		topics             *cache.Topics
		invalidated, other keyLog
	}
	replicas := make([]*replica, 2)
	for i := range replicas {
		r := &replica{topics: cache.NewTopics(cache.NewRedisBus(redistest.Client(t, busDB), cache.RedisBusOptions{Prefix: prefix, AckTimeout: 5 * time.Second}))}
		t.Cleanup(func() { _ = r.topics.Close() })
		// Two subscribers on one RedisBus, which alone takes only one.
		if err := r.topics.Topic("").Subscribe(t.Context(), r.invalidated.add); err != nil {
			t.Fatal(err)
		}
		if err := r.topics.Topic("live").Subscribe(t.Context(), r.other.add); err != nil {
			t.Fatal(err)
		}
		replicas[i] = r
	}
	if err := replicas[0].topics.Topic("").Publish(t.Context(), "serpi:abc:taxes"); err != nil {
		t.Fatal(err)
	}
	if err := replicas[0].topics.Topic("live").Publish(t.Context(), `{"changes":1}`); err != nil {
		t.Fatal(err)
	}
	// Publish waited for every replica's acknowledgement: no waiting here.
	for i, r := range replicas {
		if got := r.invalidated.got(); len(got) != 1 || got[0] != "serpi:abc:taxes" {
			t.Errorf("replica %d default topic got %q, want only the key", i, got)
		}
		if got := r.other.got(); len(got) != 1 || got[0] != `{"changes":1}` {
			t.Errorf("replica %d live topic got %q, want only the payload", i, got)
		}
	}

	// A plain bus (a replica that knows no topics) exchanges keys with
	// the default topic.
	plain := cache.NewRedisBus(redistest.Client(t, busDB), cache.RedisBusOptions{Prefix: prefix, AckTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = plain.Close() })
	var plainLog keyLog
	if err := plain.Subscribe(t.Context(), plainLog.add); err != nil {
		t.Fatal(err)
	}
	if err := plain.Publish(t.Context(), "serpi:abc:articles"); err != nil {
		t.Fatal(err)
	}
	if !replicas[1].invalidated.has("serpi:abc:articles") || replicas[1].other.has("serpi:abc:articles") {
		t.Errorf("a plain key reached default %v, live %v; want the default topic only", replicas[1].invalidated.got(), replicas[1].other.got())
	}
}

func TestTopicsUnsubscribeAndLostNotices(t *testing.T) {
	topics := cache.NewTopics(cache.NewLocalBus())
	var a, b keyLog
	ctxA, cancelA := context.WithCancel(t.Context())
	if err := topics.Topic("a").Subscribe(ctxA, a.add); err != nil {
		t.Fatal(err)
	}
	if err := topics.Topic("b").Subscribe(t.Context(), b.add); err != nil {
		t.Fatal(err)
	}
	// LocalBus delivers "" when told nothing: every topic hears it.
	if err := topics.Topic("").Publish(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if !a.has("") || !b.has("") {
		t.Fatalf("lost-notices marker: a %q, b %q; want it in both", a.got(), b.got())
	}
	cancelA()
	probes := 0
	testutil.WaitUntil(t, "the cancelled subscription to end", func() bool {
		probes++
		probe := "probe-" + strconv.Itoa(probes)
		_ = topics.Topic("a").Publish(t.Context(), probe)
		_ = topics.Topic("b").Publish(t.Context(), probe)
		return b.has(probe) && !a.has(probe)
	})
	if err := topics.Close(); err != nil {
		t.Fatal(err)
	}
	if err := topics.Topic("b").Publish(t.Context(), "closed"); !errors.Is(err, cache.ErrBusClosed) {
		t.Fatalf("Publish after Close = %v, want ErrBusClosed", err)
	}
	if err := topics.Topic("b").Subscribe(t.Context(), b.add); !errors.Is(err, cache.ErrBusClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrBusClosed", err)
	}
}

// FuzzTopicsDispatch feeds arbitrary bus messages to Topics: a message
// without the topic mark reaches the default topic unchanged, a named one
// only its topic, and nothing panics.
func FuzzTopicsDispatch(f *testing.F) {
	for _, seed := range []string{"serpi:abc:taxes", "", "\x00live\x00{}", "\x00live", "\x00\x00", "\x00other\x00x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		bus := cache.NewLocalBus()
		topics := cache.NewTopics(bus)
		defer topics.Close()
		var def, live keyLog
		_ = topics.Topic("").Subscribe(t.Context(), def.add)
		_ = topics.Topic("live").Subscribe(t.Context(), live.add)
		_ = bus.Publish(t.Context(), msg)
		switch {
		case msg == "":
			if !def.has("") || !live.has("") {
				t.Fatalf("the lost-notices marker reached default %q, live %q", def.got(), live.got())
			}
		case !strings.HasPrefix(msg, "\x00"):
			if got := def.got(); len(got) != 1 || got[0] != msg || len(live.got()) != 0 {
				t.Fatalf("plain %q reached default %q, live %q", msg, got, live.got())
			}
		case strings.HasPrefix(msg, "\x00live\x00"):
			if got := live.got(); len(got) != 1 || got[0] != strings.TrimPrefix(msg, "\x00live\x00") || len(def.got()) != 0 {
				t.Fatalf("live %q reached default %q, live %q", msg, def.got(), got)
			}
		default:
			if len(live.got()) != 0 || len(def.got()) != 0 {
				t.Fatalf("%q reached default %q, live %q", msg, def.got(), live.got())
			}
		}
	})
}
