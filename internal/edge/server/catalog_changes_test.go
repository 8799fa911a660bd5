package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

const catalogChangesQuery = `subscription($c: [CatalogCollection!]) { catalogChanges(collections: $c) {
  collection kind source serpiId at record { __typename ... on Tax { id description rate } ... on Branch { code } } } }`

// taxesPath is how the simulator counts tax page reads.
const taxesPath = "GET " + serpi.PathImpuesto

// catalogEvent is one catalogChanges event.
type catalogEvent struct {
	Collection, Kind, Source string
	SerpiID                  int
	Record                   struct {
		Typename        string `json:"__typename"`
		ID, Description string
	}
}

// nextChange reads the next catalogChanges event of subscription id.
func (c *wsClient) nextChange(id string, timeout time.Duration) (catalogEvent, []gqlError) {
	c.t.Helper()
	m := c.next(id, timeout)
	if m.Type != "next" {
		c.t.Fatalf("want a catalogChanges event, got %s %s", m.Type, m.Payload)
	}
	var p struct {
		Data   struct{ CatalogChanges *catalogEvent }
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		c.t.Fatalf("next payload: %v: %s", err, m.Payload)
	}
	if p.Data.CatalogChanges == nil {
		return catalogEvent{}, p.Errors
	}
	return *p.Data.CatalogChanges, p.Errors
}

// liveEnv is n replicas sharing Redis whose catalog is fresh for period
// (the live catalog's poll period).
func liveEnv(t *testing.T, n int, period time.Duration) *subEnv {
	t.Helper()
	return newSubEnv(t, n, 0, true, func(c *server.Config) {
		c.CatalogCache = cache.Policy{Fresh: period, Stale: time.Hour}
		// Only the walks count at the simulator, not the token checks.
		c.CatalogCredentialCheck = time.Hour
		c.CatalogLiveLease = 3 * time.Second
	})
}

// waitLive waits until a replica has said, in Redis, that it has
// subscribers of the taxes (the subscription joined its hub) and the
// poller has its baseline: from then on every change is pushed.
func waitLive(t *testing.T, se *subEnv) {
	t.Helper()
	rdb := redistest.Client(t, redisDB)
	company := catalog.Company(serpi.Credential{SecretKey: simSecret})
	for _, k := range []string{se.prefix + "live:want:" + company + ":taxes", se.prefix + "live:base:" + company + ":taxes"} {
		testutil.WaitUntil(t, "the subscription to go live", func() bool { return rdb.Exists(context.Background(), k).Val() == 1 })
	}
}

func TestCatalogChangesOnReplicaBSeeWritesOnAAtOnceAndExternalChangesWithinOnePoll(t *testing.T) {
	const period = 300 * time.Millisecond
	se := liveEnv(t, 2, period)
	b := dialWS(t, se.replicas[1].wsURL(), map[string]any{"X-Api-Key": testKey}, nil)
	b.subscribe("live", catalogChangesQuery, map[string]any{"c": []string{"TAXES"}})
	waitLive(t, se)

	// A write through replica A reaches B's subscriber before A answers
	// (the bus waits for every replica), and without a poll.
	var created struct{ CreateTax struct{ Tax taxOut } }
	post(t, se.replicas[0].gw, createTaxMutation, map[string]any{"in": taxInput("IVA EN VIVO 7,5%")}, key(testKey)).ok(t, &created)
	ev, errs := b.nextChange("live", 5*time.Second)
	if len(errs) > 0 || ev.Kind != "CREATED" || ev.Source != "GATEWAY" || ev.Collection != "TAXES" ||
		ev.SerpiID != created.CreateTax.Tax.SerpiID || ev.Record.Typename != "Tax" || ev.Record.Description != "IVA EN VIVO 7,5%" {
		t.Fatalf("B's event after A's write: %+v %+v; want the created tax %d from the gateway", ev, errs, created.CreateTax.Tax.SerpiID)
	}

	// A tax created straight at SERPI (another system) is found by the
	// poll.
	direct := serpi.NewClient(se.upstream.URL)
	_, err := direct.CreateImpuesto(context.Background(), serpi.Credential{SecretKey: simSecret, Token: simToken}, serpi.Impuesto{
		Descripcion: "IVA EXTERNO 19%", Valor: wire.Decimal("19"), Aplica: wire.Int{Value: 1, Valid: true}, Base: wire.Decimal("0"),
		CuentaImpuesto: wire.Int{Value: 2659, Valid: true}, CuentaImpuestoBonificado: wire.Int{Value: 2365, Valid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, errs = b.nextChange("live", 20*period)
	if len(errs) > 0 || ev.Kind != "CREATED" || ev.Source != "POLL" || ev.Record.Description != "IVA EXTERNO 19%" {
		t.Fatalf("B's event after the external create: %+v %+v; want it created, from the poll", ev, errs)
	}
	// The poll did not announce the gateway's own write again, and it
	// refreshed the cache: a read on A answers with the external tax.
	var read struct{ Taxes struct{ TotalCount int } }
	doOn(t, se.replicas[0].gw, `{ taxes(first: 1, filter: {search: "externo"}) { totalCount } }`, key(testKey)).ok(t, &read)
	if read.Taxes.TotalCount != 1 {
		t.Fatalf("a read after the poll finds %d external taxes, want 1", read.Taxes.TotalCount)
	}
	m, err := b.read(2 * period)
	if err == nil && m.ID == "live" {
		t.Fatalf("a further event: %s %s", m.Type, m.Payload)
	}
}

func TestCatalogChangesOnePollerAcrossThreeReplicas(t *testing.T) {
	const period = 100 * time.Millisecond
	se := liveEnv(t, 3, period)
	for _, r := range se.replicas {
		c := dialWS(t, r.wsURL(), map[string]any{"X-Api-Key": testKey}, nil)
		c.subscribe("live", catalogChangesQuery, map[string]any{"c": []string{"TAXES"}})
	}
	waitLive(t, se)
	// Let every replica's subscription join and contend for the lease.
	time.Sleep(3 * period)
	se.resetStats()
	start := time.Now()
	time.Sleep(20 * period)
	calls := se.stats().Calls[taxesPath]
	elapsed := time.Since(start)
	// One walk of 10 taxes is 2 pages (the last one empty). One poller
	// walks at most once per period (plus one walk in flight at each end);
	// three would walk three times as often.
	walks := calls / 2
	most := int64(elapsed/period) + 2
	t.Logf("%v with subscribers on 3 replicas: %d tax page reads (%d walks; one poller allows %d)", elapsed.Round(time.Millisecond), calls, walks, most)
	if walks > most {
		t.Fatalf("%d walks in %v at one per %v: more than one poller", walks, elapsed, period)
	}
	if walks < 2 {
		t.Fatalf("%d walks in %v: nobody polled", walks, elapsed)
	}
}

func TestCatalogChangesNeedCatalogRead(t *testing.T) {
	se := liveEnv(t, 1, time.Minute)
	anon := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	anon.subscribe("live", catalogChangesQuery, nil)
	res := anon.follow("live", 5*time.Second)
	if len(res.errors) == 0 || res.errors[0].code() != "UNAUTHENTICATED" {
		t.Fatalf("anonymous catalogChanges: %+v; want UNAUTHENTICATED", res)
	}
	rdb := redistest.Client(t, redisDB)
	if keys := rdb.Keys(context.Background(), se.prefix+"live:*").Val(); len(keys) != 0 {
		t.Fatalf("a refused subscription left live catalog state: %v", keys)
	}
	// Over SSE too, with a key: the subscription starts (no event yet).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, se.replicas[0].srv.URL+"/graphql",
		strings.NewReader(`{"query":"subscription { catalogChanges { kind } }"}`))
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testReadOnlyKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSE catalogChanges with a read-only key: status %d", resp.StatusCode)
	}
}
