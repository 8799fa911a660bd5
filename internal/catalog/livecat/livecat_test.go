package livecat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/catalog/livecat"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// fakeCatalog holds each company's taxes in memory and counts walks.
type fakeCatalog struct {
	mu        sync.Mutex
	records   map[string]catalog.Records // secret key -> taxes
	walks     int
	snapshots int
}

func (f *fakeCatalog) count(n *int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *n
}

func (f *fakeCatalog) set(secret string, id int64, desc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.records[secret] == nil {
		f.records[secret] = catalog.Records{}
	}
	f.records[secret][id] = json.RawMessage(fmt.Sprintf(`{"id":%d,"descripcion":%q}`, id, desc))
}

func (f *fakeCatalog) Check(ctx context.Context, cred serpi.Credential, collection string) error {
	_, err := f.Snapshot(ctx, cred, collection)
	return err
}

func (f *fakeCatalog) Snapshot(_ context.Context, cred serpi.Credential, _ string) (catalog.Records, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots++
	if cred.Token == "revoked" {
		return nil, errors.New("unauthorized")
	}
	return maps.Clone(f.records[cred.SecretKey]), nil
}

func (f *fakeCatalog) Refresh(ctx context.Context, cred serpi.Credential, collection string) (catalog.Records, error) {
	f.mu.Lock()
	f.walks++
	f.mu.Unlock()
	return f.Snapshot(ctx, cred, collection)
}

func newHub(t *testing.T, f *fakeCatalog, period time.Duration, buffer int) *livecat.Hub {
	t.Helper()
	h := livecat.New(livecat.Options{Catalog: f, Bus: cache.NewLocalBus(), Period: period, Lease: time.Second, Buffer: buffer})
	t.Cleanup(h.Close)
	return h
}

func record(id int64, desc string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%d,"descripcion":%q}`, id, desc))
}

func TestSlowSubscriberIsEndedWithoutHoldingUpOthers(t *testing.T) {
	f := &fakeCatalog{records: map[string]catalog.Records{}}
	h := newHub(t, f, time.Hour, 2)
	cred := serpi.Credential{SecretKey: "s1", Token: "t1"}
	slow, err := h.Subscribe(t.Context(), cred, []string{catalog.CollectionTaxes})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.Subscribe(t.Context(), cred, []string{catalog.CollectionTaxes})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for i := range int64(5) {
		// Announce never blocks on the slow reader (LocalBus delivers
		// before it returns); the other reads each change as it comes.
		if err := h.Announce(t.Context(), cred, catalog.CollectionTaxes, livecat.Created, catalog.Records{i: record(i, "x")}); err != nil {
			t.Fatal(err)
		}
		select {
		case ch := <-fast.C:
			got = append(got, ch.ID)
		default:
			t.Fatalf("change %d was not handed to the reading subscriber", i)
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("the reading subscriber got %v, want all five in order", got)
	}
	select {
	case <-slow.Done:
	default:
		t.Fatal("a subscriber three changes past its buffer of 2 is still running")
	}
	if !errors.Is(slow.Err(), livecat.ErrTooSlow) || len(slow.C) != 2 {
		t.Fatalf("slow subscriber: err %v, %d buffered; want ErrTooSlow with its 2 buffered changes", slow.Err(), len(slow.C))
	}
	if fast.Err() != nil {
		t.Fatalf("the reading subscriber was ended: %v", fast.Err())
	}
}

func TestSubscribersOnlySeeTheirOwnCompanyAndCollections(t *testing.T) {
	f := &fakeCatalog{records: map[string]catalog.Records{}}
	h := newHub(t, f, time.Hour, 8)
	mine := serpi.Credential{SecretKey: "company-a", Token: "t1"}
	other := serpi.Credential{SecretKey: "company-b", Token: "t1"} // same token, other secret key
	taxesA, _ := h.Subscribe(t.Context(), mine, []string{catalog.CollectionTaxes})
	branchesA, _ := h.Subscribe(t.Context(), mine, []string{catalog.CollectionBranches})
	allB, _ := h.Subscribe(t.Context(), other, nil)
	if err := h.Announce(t.Context(), mine, catalog.CollectionTaxes, livecat.Updated, catalog.Records{7: record(7, "a")}); err != nil {
		t.Fatal(err)
	}
	if ch := <-taxesA.C; ch.ID != 7 || ch.Kind != livecat.Updated || ch.Source != livecat.FromGateway {
		t.Fatalf("company A's taxes subscriber got %+v", ch)
	}
	if len(branchesA.C) != 0 || len(allB.C) != 0 {
		t.Fatalf("A's branches subscriber got %d, company B's got %d; want none", len(branchesA.C), len(allB.C))
	}
	if _, err := h.Subscribe(t.Context(), serpi.Credential{SecretKey: "company-a", Token: "revoked"}, nil); err == nil {
		t.Fatal("a credential the catalog refuses subscribed")
	}
	if _, err := h.Subscribe(t.Context(), mine, []string{"customers"}); err == nil {
		t.Fatal("an unknown collection was accepted")
	}
}

func TestPollFindsChangesAndNoGoroutineOutlivesTheSubscriptions(t *testing.T) {
	before := runtime.NumGoroutine()
	f := &fakeCatalog{records: map[string]catalog.Records{}}
	f.set("s1", 1, "IVA 19%")
	f.set("s1", 2, "IVA 5%")
	h := livecat.New(livecat.Options{Catalog: f, Bus: cache.NewLocalBus(), Period: 20 * time.Millisecond, Lease: 30 * time.Millisecond})
	cred := serpi.Credential{SecretKey: "s1", Token: "t1"}
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := h.Subscribe(ctx, cred, []string{catalog.CollectionTaxes})
	if err != nil {
		t.Fatal(err)
	}
	// Check, then the poller's baseline.
	testutil.WaitUntil(t, "the poller's baseline", func() bool { return f.count(&f.snapshots) >= 2 })
	// The gateway writes 3: announced at once, and not again by the poll.
	f.set("s1", 3, "IVA 8%")
	if err := h.Announce(t.Context(), cred, catalog.CollectionTaxes, livecat.Created, catalog.Records{3: record(3, "IVA 8%")}); err != nil {
		t.Fatal(err)
	}
	// Another system updates 2 and creates 4.
	f.set("s1", 2, "IVA 5% reducido")
	f.set("s1", 4, "ICA")
	want := map[int64]livecat.Kind{3: livecat.Created, 2: livecat.Updated, 4: livecat.Created}
	seen := map[int64]livecat.Kind{}
	timeout := time.After(5 * time.Second)
	for len(seen) < len(want) {
		select {
		case ch := <-sub.C:
			if _, dup := seen[ch.ID]; dup {
				t.Fatalf("record %d announced twice", ch.ID)
			}
			seen[ch.ID] = ch.Kind
		case <-timeout:
			t.Fatalf("after 5s: %v, want %v", seen, want)
		}
	}
	if !maps.Equal(seen, want) {
		t.Fatalf("changes %v, want %v", seen, want)
	}
	cancel()
	h.Close()
	testutil.WaitUntil(t, "the hub's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	walks := f.count(&f.walks)
	time.Sleep(60 * time.Millisecond)
	if n := f.count(&f.walks); n != walks {
		t.Fatalf("the poller walked %d more times after the last subscriber left", n-walks)
	}
}

// FuzzBusEvents feeds arbitrary bus messages (what Redis delivers from any
// replica) to a hub: none may panic, block, or reach a subscriber of
// another company or collection.
func FuzzBusEvents(f *testing.F) {
	mine := serpi.Credential{SecretKey: "s1", Token: "t1"}
	company := catalog.Company(mine)
	f.Add(fmt.Sprintf(`{"company":%q,"changes":[{"collection":"taxes","kind":"CREATED","id":1,"record":{"id":1},"source":"POLL"}]}`, company))
	f.Add(fmt.Sprintf(`{"company":%q,"changes":[{"collection":"branches","id":2,"record":null}]}`, company))
	f.Add(`{"company":"other","changes":[{"collection":"taxes","id":3}]}`)
	f.Add(``)
	f.Add(`{"company":`)
	f.Add(`[1,2,3]`)
	f.Fuzz(func(t *testing.T, payload string) {
		bus := cache.NewLocalBus()
		h := livecat.New(livecat.Options{Catalog: &fakeCatalog{records: map[string]catalog.Records{}}, Bus: bus, Period: time.Hour, Buffer: 4})
		defer h.Close()
		sub, err := h.Subscribe(t.Context(), mine, []string{catalog.CollectionTaxes})
		if err != nil {
			t.Fatal(err)
		}
		_ = bus.Publish(t.Context(), payload)
		var ev struct {
			Company string `json:"company"`
		}
		_ = json.Unmarshal([]byte(payload), &ev)
		for len(sub.C) > 0 {
			ch := <-sub.C
			if ev.Company != company || ch.Collection != catalog.CollectionTaxes {
				t.Fatalf("subscriber of %s taxes got %+v from %q", company, ch, payload)
			}
		}
	})
}
