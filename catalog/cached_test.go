package catalog

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/cache"
)

func TestCachedWalksOnceReusesTheIndexAndInvalidates(t *testing.T) {
	ctl := simkit.NewControl(0)
	s := serpi.NewSimulator(serpi.SimConfig{Branches: 30, Taxes: 5, Articles: 5,
		Credentials: map[string][]string{"secret": {"tok-a", "tok-b"}}}, ctl)
	up := httptest.NewServer(s.Handler())
	defer up.Close()
	c := cache.New(cache.NewMemory(100), slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Close()
	cached := NewCached(NewLoader(serpi.NewClient(up.URL), 10), c, cache.Policy{Fresh: time.Minute, Stale: time.Minute})
	credA := serpi.Credential{SecretKey: "secret", Token: "tok-a"}
	credB := serpi.Credential{SecretKey: "secret", Token: "tok-b"}
	ctx := t.Context()

	first, err := cached.Branches(ctx, credA)
	if err != nil || first.Len() != 30 {
		t.Fatalf("branches = %v, %v", first, err)
	}
	walk := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"] // 4 pages of 10
	again, _ := cached.Branches(ctx, credA)
	if again != first {
		t.Error("the same cached bytes rebuilt the index")
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != walk {
		t.Errorf("second read walked SERPI again (%d calls, had %d)", n, walk)
	}
	// Another credential is another entry: never served from A's.
	if _, err := cached.Branches(ctx, credB); err != nil {
		t.Fatal(err)
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != 2*walk {
		t.Errorf("credential B did not walk its own copy (%d calls, want %d)", n, 2*walk)
	}
	if err := cached.Invalidate(ctx, credA, CollectionBranches); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Branches(ctx, credA); err != nil {
		t.Fatal(err)
	}
	if n := ctl.Stats.Snapshot().Calls["GET /api/v1/Sucursales"]; n != 3*walk {
		t.Errorf("after Invalidate the next read did not walk SERPI (%d calls, want %d)", n, 3*walk)
	}
	if Key(credA, CollectionBranches) == Key(credB, CollectionBranches) {
		t.Error("two credentials share a cache key")
	}
}
