package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// Issue 11, findings 2, 3, 7 and 8: catalog writes lose no data.

// putRecorder sits between the gateway and the simulators and keeps the
// JSON keys of every PUT body SERPI receives, per path.
type putRecorder struct {
	mu   sync.Mutex
	keys map[string][][]string // path -> the keys of each item of each PUT
}

func (p *putRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			var items []map[string]json.RawMessage
			if err := json.Unmarshal(body, &items); err != nil {
				var one map[string]json.RawMessage
				_ = json.Unmarshal(body, &one)
				items = []map[string]json.RawMessage{one}
			}
			p.mu.Lock()
			for _, it := range items {
				var ks []string
				for k := range it {
					ks = append(ks, k)
				}
				sort.Strings(ks)
				p.keys[r.URL.Path] = append(p.keys[r.URL.Path], ks)
			}
			p.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (p *putRecorder) last(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	all := p.keys[path]
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// newRecordingEnv is newEnvWith with a putRecorder in front of the
// simulators.
func newRecordingEnv(t *testing.T, cfg sim.Config) (*env, *putRecorder) {
	t.Helper()
	s := sim.New(cfg)
	rec := &putRecorder{keys: map[string][][]string{}}
	up := httptest.NewServer(rec.wrap(s.Handler()))
	t.Cleanup(up.Close)
	e := &env{t: t, sim: s, upstream: up, logs: &strings.Builder{}, logMu: &sync.Mutex{}}
	e.gateway = newGateway(t, e, nil)
	return e, rec
}

// stored reads SERPI's own record id of a collection from the simulator,
// bypassing the gateway.
func (e *env) stored(path string, id int) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.upstream.URL+path+"?limite=1000&pagina=1", nil)
	req.Header["secretkey"] = []string{simSecret}
	req.Header.Set("Authorization", "Bearer "+simToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct{ Result []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range env.Result {
		if n, _ := r["id"].(float64); int(n) == id {
			return r
		}
	}
	e.t.Fatalf("SERPI holds no record %d under %s", id, path)
	return nil
}

func sortedKeys(s string) []string {
	ks := strings.Fields(s)
	sort.Strings(ks)
	return ks
}

// The keys of the seeds' PUT examples (serpi-*-api.txt).
var (
	seedTaxPutKeys    = sortedKeys(`id descripcion valor aplica _base cuenta_impuesto cuenta_impuesto_devolucion cuenta_impuesto_bonificado`)
	seedBranchPutKeys = sortedKeys(`id id_tercero codigo referencia_sucursal descripcion direccion direccion2 telefono telefono2 ext ext2 movil
		id_ciudad id_departamento id_pais id_vendedor id_cobrador es_direccionCobro es_direccionDespacho`)
	// The Articulo PUT example is its POST example plus the id (its
	// "camposcliente" is read as the GET's and POST's camposPersonalizados).
	seedArticlePutKeys = sortedKeys(`id codigo referencia barras descripcion idgrupocontable descripcionalterna idlinea idcategoria
		idpresentacion idmarca idunidadmedida peso costo costou activo posicionarancel porcentajeArancel diasMaximo diasminimo
		diasoptimo dias_reposicion tipoPlaneacion multiploCompra pedidoMinimo stockMinimoUnidades stockOptimoUnidades
		aplicaPromocion aplicaKit exportable volumen ubicacion ubicacionAlfanumerica palabrasClave camposPersonalizados
		aplicaAiu porcentajeAiu idgrupocontableAiu`)
)

func TestLoseNoData2_UpdatesKeepWhatTheyDontName(t *testing.T) {
	e, puts := newRecordingEnv(t, sim.Config{Serpi: serpi.SimConfig{Branches: 30, Taxes: 20, Articles: 30}})

	t.Run("updateArticles", func(t *testing.T) {
		full := articleInput("KEEP-1")
		for k, v := range map[string]any{"reference": "REF-9", "barcode": "7701234567890", "cost": "1500.50", "weight": "2.25",
			"keywords": []string{"gas", "estufa"}, "customFields": map[string]any{"AUTOR": "Juan"}, "planningType": "CUSTOM"} {
			full[k] = v
		}
		var ca struct{ CreateArticles bulkOut }
		e.do(createArticlesM, map[string]any{"in": []any{full}}, key(testKey)).ok(t, &ca)
		if len(ca.CreateArticles.Articles) != 1 {
			t.Fatalf("createArticles: %+v", ca.CreateArticles)
		}
		id := ca.CreateArticles.Articles[0].SerpiID

		// Only the required fields, as the client sent them.
		only := articleInput("KEEP-1")
		only["id"] = fmt.Sprint(id)
		only["description"] = "RENAMED"
		var ua struct{ UpdateArticles bulkOut }
		e.do(updateArticlesM, map[string]any{"in": []any{only}}, key(testKey)).ok(t, &ua)
		if ua.UpdateArticles.Updated != 1 {
			t.Fatalf("updateArticles: %+v", ua.UpdateArticles)
		}
		got := e.stored(serpi.PathArticulo, id)
		want := map[string]any{"descripcion": "RENAMED", "referencia": "REF-9", "barras": "7701234567890", "costo": 1500.5,
			"peso": 2.25, "palabrasClave": "gas,estufa", "tipoPlaneacion": 1.0}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("SERPI's %s after the update = %v, want %v", k, got[k], v)
			}
		}
		if cf, _ := got["camposPersonalizados"].(map[string]any); cf["AUTOR"] != "Juan" {
			t.Errorf("SERPI's camposPersonalizados after the update = %v, want AUTOR kept", got["camposPersonalizados"])
		}
		if k := puts.last(serpi.PathArticulo); !slices.Equal(k, seedArticlePutKeys) {
			t.Errorf("PUT keys\n got %v\nwant %v", k, seedArticlePutKeys)
		}
	})

	t.Run("updateTax", func(t *testing.T) {
		in := taxInput("KEEP TAX")
		in["refundAccountId"] = 2400
		var ct struct{ CreateTax struct{ Tax *taxOut } }
		e.do(createTaxMutation, map[string]any{"in": in}, key(testKey)).ok(t, &ct)
		if ct.CreateTax.Tax == nil {
			t.Fatal("createTax answered no tax")
		}
		id := ct.CreateTax.Tax.SerpiID
		// Every required field, without the refund and bonus accounts:
		// both kept.
		e.do(updateTaxMutation, map[string]any{"in": map[string]any{"id": fmt.Sprint(id), "description": "KEEP TAX 8%", "rate": "8",
			"appliesTo": 1, "base": "1000", "accountId": 2659}}, key(testKey)).ok(t, &struct{}{})
		got := e.stored(serpi.PathImpuesto, id)
		if got["descripcion"] != "KEEP TAX 8%" || got["valor"] != 8.0 || got["cuenta_impuesto_devolucion"] != 2400.0 ||
			got["cuenta_impuesto_bonificado"] != 2365.0 || got["cuenta_impuesto"] != 2659.0 || got["_base"] != 1000.0 {
			t.Errorf("SERPI's tax after an update naming description and rate: %v", got)
		}
		if k := puts.last(serpi.PathImpuesto); !slices.Equal(k, seedTaxPutKeys) {
			t.Errorf("PUT keys\n got %v\nwant %v", k, seedTaxPutKeys)
		}
		// Only the rate: everything else kept.
		e.do(updateTaxMutation, map[string]any{"in": map[string]any{"id": fmt.Sprint(id), "rate": "9"}}, key(testKey)).ok(t, &struct{}{})
		if got := e.stored(serpi.PathImpuesto, id); got["descripcion"] != "KEEP TAX 8%" || got["valor"] != 9.0 || got["cuenta_impuesto_devolucion"] != 2400.0 {
			t.Errorf("SERPI's tax after an update naming only the rate: %v", got)
		}
		// An explicit null clears.
		e.do(updateTaxMutation, map[string]any{"in": map[string]any{"id": fmt.Sprint(id), "bonusAccountId": nil}},
			key(testKey)).ok(t, &struct{}{})
		if got := e.stored(serpi.PathImpuesto, id); got["cuenta_impuesto_bonificado"] != nil || got["cuenta_impuesto_devolucion"] != 2400.0 {
			t.Errorf("SERPI's tax after bonusAccountId: null: %v", got)
		}
		// A required field cannot be cleared.
		r := e.do(updateTaxMutation, map[string]any{"in": map[string]any{"id": fmt.Sprint(id), "rate": nil}}, key(testKey))
		if g := r.wantCode(t, "BAD_USER_INPUT"); g.Extensions["field"] != "input.rate" {
			t.Errorf("rate: null answered %s", r.raw)
		}
	})

	t.Run("updateBranch", func(t *testing.T) {
		in := branchInput("KB")
		in["collectorId"] = 42
		in["mobile"] = "3001234567"
		var cb struct{ CreateBranch struct{ Branch *branchOut } }
		e.do(createBranchMutation, map[string]any{"in": in}, key(testKey)).ok(t, &cb)
		if cb.CreateBranch.Branch == nil {
			t.Fatal("createBranch answered no branch")
		}
		id := cb.CreateBranch.Branch.SerpiID
		// The seed's PUT example's fields only: no collector, mobile or codes.
		e.do(updateBranchMutation, map[string]any{"in": map[string]any{"id": fmt.Sprint(id), "thirdPartyId": 1804, "code": "KB",
			"description": "BODEGA CAMBIADA", "address": "cra 22 #4-44", "cityId": 5001, "departmentId": 5, "countryId": 1,
			"sellerId": 3418, "isBillingAddress": false, "isShippingAddress": false}}, key(testKey)).ok(t, &struct{}{})
		got := e.stored(serpi.PathSucursales, id)
		if got["descripcion"] != "BODEGA CAMBIADA" || got["id_cobrador"] != 42.0 || got["movil"] != "3001234567" ||
			got["telefono"] != "6045551234" || got["nit_tercero"] != "900985549" || got["codigo_ciudad"] != "05001" {
			t.Errorf("SERPI's branch after the update: %v", got)
		}
		if k := puts.last(serpi.PathSucursales); !slices.Equal(k, seedBranchPutKeys) {
			t.Errorf("PUT keys\n got %v\nwant %v", k, seedBranchPutKeys)
		}
	})
}

func TestLoseNoData3_ConcurrentCreatesGetTheirOwnRecord(t *testing.T) {
	e := newEnvWith(t, sim.Config{Latency: 3 * time.Millisecond, Serpi: serpi.SimConfig{Branches: 30, Taxes: 20, Articles: 10}})
	const runs = 4
	for run := range runs {
		// Two clients create at the same moment with the same description
		// (taxes) or NIT and code (branches), differing in one field.
		type outcome struct {
			own, got string
			id       int
			raw      string
		}
		results := make(chan outcome, 4)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, rate := range []string{"11", "12"} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				in := taxInput(fmt.Sprintf("CONCURRENTE %d", run))
				in["rate"] = rate
				var out struct{ CreateTax struct{ Tax *taxOut } }
				r := e.do(createTaxMutation, map[string]any{"in": in}, key(testKey))
				o := outcome{own: "tax rate " + rate, raw: r.raw}
				if json.Unmarshal(r.Data, &out) == nil && out.CreateTax.Tax != nil {
					o.got, o.id = "tax rate "+out.CreateTax.Tax.Rate, out.CreateTax.Tax.SerpiID
				}
				results <- o
			}()
			go func() {
				defer wg.Done()
				<-start
				in := branchInput(fmt.Sprintf("C%d", run))
				in["description"] = fmt.Sprintf("BODEGA CLIENTE %d", i)
				var out struct{ CreateBranch struct{ Branch *branchOut } }
				r := e.do(createBranchMutation, map[string]any{"in": in}, key(testKey))
				o := outcome{own: "branch " + in["description"].(string), raw: r.raw}
				if json.Unmarshal(r.Data, &out) == nil && out.CreateBranch.Branch != nil {
					o.got, o.id = "branch "+out.CreateBranch.Branch.Description, out.CreateBranch.Branch.SerpiID+1_000_000
				}
				results <- o
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		ids := map[int]string{}
		for o := range results {
			if o.got != o.own {
				t.Errorf("run %d: a client that created %q got back %q: %s", run, o.own, o.got, o.raw)
			}
			if prev, dup := ids[o.id]; dup && o.id != 0 {
				t.Errorf("run %d: %q and %q got the same record", run, prev, o.own)
			}
			ids[o.id] = o.own
		}
	}
}

func TestLoseNoData7_BranchGeography(t *testing.T) {
	e := newEnv(t)
	var cb struct{ CreateBranch struct{ Branch *branchOut } }
	e.do(createBranchMutation, map[string]any{"in": branchInput("GEO")}, key(testKey)).ok(t, &cb)
	existing := fmt.Sprint(cb.CreateBranch.Branch.SerpiID)
	for _, tc := range []struct {
		name, query string
		in          map[string]any
		wantField   string // "" = accepted
	}{
		{"issue's cityId 5001 with cityCode 5001", createBranchMutation, with(branchInput("G1"), "cityCode", "5001"), "input.cityCode"},
		{"DANE code of cityId", createBranchMutation, branchInput("G2"), ""},
		{"cityCode of another department", createBranchMutation, with(branchInput("G3"), "cityCode", "08001", "cityId", 8001), "input.cityCode"},
		{"cityCode not cityId's", createBranchMutation, with(branchInput("G4"), "cityCode", "05002"), "input.cityCode"},
		{"six digits", createBranchMutation, with(branchInput("G5"), "cityCode", "050010"), "input.cityCode"},
		{"one-digit departmentCode", createBranchMutation, with(branchInput("G6"), "departmentCode", "5"), "input.departmentCode"},
		{"update: cityCode without its zero", updateBranchMutation, with(branchInput("GEO"), "id", existing, "cityCode", "5001"), "input.cityCode"},
		{"update: cityCode of another city than the new cityId", updateBranchMutation,
			with(branchInput("GEO"), "id", existing, "cityId", 13001), "input.cityCode"},
		{"update: only the city, with its codes", updateBranchMutation,
			map[string]any{"id": existing, "cityId": 13001, "cityCode": "13001", "departmentId": 13, "departmentCode": "13"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.resetStats()
			r := e.do(tc.query, map[string]any{"in": tc.in}, key(testKey))
			if tc.wantField == "" {
				if len(r.Errors) > 0 {
					t.Fatalf("refused: %s", r.raw)
				}
				return
			}
			if g := r.wantCode(t, "BAD_USER_INPUT"); g.Extensions["field"] != tc.wantField {
				t.Fatalf("want field %s: %s", tc.wantField, r.raw)
			}
			if n := writes(e.stats()); n != 0 {
				t.Fatalf("a refused branch reached SERPI (%d writes)", n)
			}
		})
	}
}

func TestLoseNoData8_WriteDuringRedisOutageIsFlagged(t *testing.T) {
	opts, err := redis.ParseURL(redistest.URL(t, redisDB))
	if err != nil {
		t.Fatal(err)
	}
	_ = redistest.Client(t, redisDB) // skips (or fails under CI) without Redis
	proxy := redistest.NewCuttable(t, opts.Addr)
	c := newCluster(t, 2, sim.Config{Serpi: serpi.SimConfig{Branches: 20, Taxes: 20, Articles: 10}},
		fmt.Sprintf("redis://%s/%d", proxy.Addr(), redisDB))
	a, b := c.replicas[0], c.replicas[1]
	const taxID = 7
	rateOn := func(h http.Handler) string {
		t.Helper()
		var out struct{ Tax *taxOut }
		doOn(t, h, fmt.Sprintf(`{ tax(id: "%d") { rate } }`, taxID), key(testKey)).ok(t, &out)
		if out.Tax == nil {
			t.Fatalf("tax %d not found", taxID)
		}
		return out.Tax.Rate
	}
	old := rateOn(a)
	if rateOn(b) != old {
		t.Fatal("replicas disagree before the outage")
	}

	proxy.Cut()
	// B notices the outage at its next recheck and keeps a copy of its own
	// (memory), read before the write.
	time.Sleep(1200 * time.Millisecond)
	if rateOn(b) != old {
		t.Fatal("B changed before the write")
	}

	// Every required field (the update as the client sent it).
	var cur struct{ Tax taxOut }
	doOn(t, a, fmt.Sprintf(`{ tax(id: "%d") { description appliesTo base accountId } }`, taxID), key(testKey)).ok(t, &cur)
	r := post(t, a, `mutation($in: UpdateTaxInput!) { updateTax(input: $in) { tax { rate } } }`, map[string]any{"in": map[string]any{
		"id": fmt.Sprint(taxID), "description": cur.Tax.Description, "rate": "77.5", "appliesTo": cur.Tax.AppliesTo,
		"base": cur.Tax.Base, "accountId": *cur.Tax.AccountID}}, key(testKey))
	if len(r.Errors) > 0 {
		t.Fatalf("write during the outage: %s", r.raw)
	}
	var ext struct {
		Extensions struct {
			Warnings []struct {
				Code            string
				Message         string
				MaxStaleSeconds int
			}
		}
	}
	_ = json.Unmarshal([]byte(r.raw), &ext)
	bound := 0
	if w := ext.Extensions.Warnings; len(w) != 1 || w[0].Code != "STALE_ELSEWHERE" || w[0].MaxStaleSeconds <= 0 {
		t.Errorf("the write's answer does not say other replicas may be stale: %s", r.raw)
	} else {
		bound = w[0].MaxStaleSeconds
		t.Logf("warning: %s (maxStaleSeconds %d)", w[0].Message, bound)
	}
	if bound == 0 {
		bound = 10 // keep checking B against a bound as short as the fix's
	}

	// B serves the new value within the bound (plus one SERPI walk), Redis
	// still down.
	waitRate := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(time.Duration(bound)*time.Second + 2*time.Second)
		for {
			got := rateOn(b)
			if got == "77.5" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replica B still serves rate %s %ds after the write (bound %ds)", phase, got, bound+2, bound)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitRate("Redis down")

	// Redis returns: its copy from before the outage must not come back
	// for longer than the bound either.
	proxy.Restore()
	time.Sleep(time.Duration(bound) * time.Second)
	for i := range 10 {
		if got := rateOn(b); got != "77.5" {
			t.Fatalf("Redis back for %ds: replica B serves rate %s again (read %d)", bound, got, i)
		}
		if got := rateOn(a); got != "77.5" {
			t.Fatalf("Redis back for %ds: replica A serves rate %s (read %d)", bound, got, i)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
