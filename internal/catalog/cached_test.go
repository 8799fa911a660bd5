package catalog

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/cache"
)

func TestCachedWalksOnceReusesTheIndexAndInvalidates(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 30, Taxes: 5, Articles: 5,
		Credentials: map[string][]string{"secret": {"tok-a", "tok-b"}, "other-secret": {"tok-c"}}}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	c := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Close()
	cached := NewCached(NewLoader(serpi.NewClient(up.URL), 10), c, cache.Policy{Fresh: time.Minute, Stale: time.Minute}, time.Nanosecond)
	credA := serpi.Credential{SecretKey: "secret", Token: "tok-a"}
	credB := serpi.Credential{SecretKey: "secret", Token: "tok-b"}
	credC := serpi.Credential{SecretKey: "other-secret", Token: "tok-c"}
	ctx := t.Context()

	first, err := cached.Branches(ctx, credA)
	if err != nil || first.Len() != 30 {
		t.Fatalf("branches = %v, %v", first, err)
	}
	walk := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"] // 4 pages of 10 and the empty one
	again, _ := cached.Branches(ctx, credA)
	if again != first {
		t.Error("the same cached bytes rebuilt the index")
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != walk {
		t.Errorf("second read walked SERPI again (%d calls, had %d)", n, walk)
	}
	// Another token of the same client company reads the same catalog...
	if _, err := cached.Branches(ctx, credB); err != nil {
		t.Fatal(err)
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != walk {
		t.Errorf("token B walked again (%d calls, had %d)", n, walk)
	}
	// ... another secret key is another company: its own entry.
	if _, err := cached.Branches(ctx, credC); err != nil {
		t.Fatal(err)
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != 2*walk {
		t.Errorf("another secret key did not walk its own copy (%d calls, want %d)", n, 2*walk)
	}
	// A write through token A invalidates what token B reads.
	if err := cached.Invalidate(ctx, credA, CollectionBranches); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Branches(ctx, credB); err != nil {
		t.Fatal(err)
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != 3*walk {
		t.Errorf("after Invalidate token B's read did not walk SERPI (%d calls, want %d)", n, 3*walk)
	}
	if Key(credA, CollectionBranches) != Key(credB, CollectionBranches) || Key(credA, CollectionBranches) == Key(credC, CollectionBranches) {
		t.Error("cache keys do not follow the secret key")
	}
	if strings.Contains(Key(credA, CollectionBranches), "secret") {
		t.Error("the key holds the secret key")
	}
}

func TestCachedRechecksTheSharedCacheAtMostEveryInterval(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 5, Taxes: 5, Articles: 5}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	shared := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer shared.Close()
	policy := cache.Policy{Fresh: time.Hour, Stale: time.Hour}
	loader := NewLoader(serpi.NewClient(up.URL), 0)
	a := NewCached(loader, shared, policy, time.Minute)
	b := NewCached(loader, shared, policy, time.Minute)
	now := time.Now()
	a.now = func() time.Time { return now }
	cred := serpi.Credential{SecretKey: "demo-secret", Token: "demo-token"}
	// A walk of a few taxes is two calls: the page and SERPI's empty one.
	walks := func() int64 { return ctl.Stats.Snapshot().Calls["GET /api/v1/Impuesto"] / 2 }

	first, err := a.Taxes(t.Context(), cred)
	if err != nil {
		t.Fatal(err)
	}
	// Replica B's write invalidates the shared entry.
	if err := b.Invalidate(t.Context(), cred, CollectionTaxes); err != nil {
		t.Fatal(err)
	}
	before := walks()
	if again, _ := a.Taxes(t.Context(), cred); again != first || walks() != before {
		t.Fatal("within the recheck interval replica A consulted the shared cache")
	}
	now = now.Add(2 * time.Minute)
	if _, err := a.Taxes(t.Context(), cred); err != nil {
		t.Fatal(err)
	}
	if walks() != before+1 {
		t.Fatalf("after the interval replica A did not see the invalidation (walks %d, want %d)", walks(), before+1)
	}
}

func TestCachedDropsEveryReplicasIndexThroughTheBus(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 5, Taxes: 5, Articles: 5}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	shared := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer shared.Close()
	policy := cache.Policy{Fresh: time.Hour, Stale: time.Hour}
	client := serpi.NewClient(up.URL)
	loader := NewLoader(client, 0)
	bus := cache.NewLocalBus()
	defer bus.Close()
	// A recheck interval of an hour: only the bus can tell A in time.
	a := NewCached(loader, shared, policy, time.Hour)
	b := NewCached(loader, shared, policy, time.Hour)
	for _, c := range []*Cached{a, b} {
		if err := c.Attach(t.Context(), bus, nil); err != nil {
			t.Fatal(err)
		}
	}
	cred := serpi.Credential{SecretKey: "demo-secret", Token: "demo-token"}
	// A walk of a few taxes is two calls: the page and SERPI's empty one.
	walks := func() int64 { return ctl.Stats.Snapshot().Calls["GET /api/v1/Impuesto"] / 2 }

	first, err := a.Taxes(t.Context(), cred)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Taxes(t.Context(), cred); err != nil {
		t.Fatal(err)
	}
	// Replica B writes a tax and invalidates.
	if _, err := client.CreateImpuesto(t.Context(), cred, serpi.Impuesto{Descripcion: "NUEVO 1%", Valor: "1", Aplica: wire.NewInt(1),
		Base: "0", CuentaImpuesto: wire.NewInt(2659)}); err != nil {
		t.Fatal(err)
	}
	before := walks()
	if err := b.Invalidate(t.Context(), cred, CollectionTaxes); err != nil {
		t.Fatal(err)
	}
	again, err := a.Taxes(t.Context(), cred)
	if err != nil {
		t.Fatal(err)
	}
	if again == first || again.Len() != first.Len()+1 || walks() != before+1 {
		t.Fatalf("replica A after B's invalidation: %d taxes (had %d), %d walks (want %d)", again.Len(), first.Len(), walks(), before+1)
	}
	if fromB, _ := b.Taxes(t.Context(), cred); fromB.Len() != again.Len() || walks() != before+1 {
		t.Fatalf("replica B did not reuse the shared copy A stored (%d taxes, %d walks)", fromB.Len(), walks())
	}

	// "" (a subscription that may have missed keys) drops every index.
	if err := bus.Publish(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if third, _ := a.Taxes(t.Context(), cred); third == again {
		t.Fatal(`after "" replica A still answered from its old index`)
	}
}

func TestCachedDoesNotKeepAnIndexReadBeforeAnInvalidation(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 5, Taxes: 5, Articles: 5}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	shared := cache.New(cache.NewMemory(100), nil)
	defer shared.Close()
	c := NewCached(NewLoader(serpi.NewClient(up.URL), 0), shared, cache.Policy{Fresh: time.Hour, Stale: time.Hour}, time.Hour)
	bus := cache.NewLocalBus()
	if err := c.Attach(t.Context(), bus, nil); err != nil {
		t.Fatal(err)
	}
	cred := serpi.Credential{SecretKey: "demo-secret", Token: "demo-token"}
	// An invalidation arrives while a read is between fetching the bytes
	// and keeping its index: the read answers, but the index is not kept.
	var once sync.Once
	c.now = func() time.Time {
		once.Do(func() { _ = bus.Publish(t.Context(), Key(cred, CollectionTaxes)) })
		return time.Now()
	}
	if _, err := c.Taxes(t.Context(), cred); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, kept := c.indexes[Key(cred, CollectionTaxes)]
	c.mu.Unlock()
	if kept {
		t.Fatal("an index built from bytes read before an invalidation was kept")
	}
}
