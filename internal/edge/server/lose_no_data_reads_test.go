package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// serpiProxy stands between the gateway and the simulators and bends
// SERPI's answers the way a real deployment may: capping "limite",
// serving a page again, refusing a revoked token. It records every SERPI
// GET it forwards.
type serpiProxy struct {
	*httptest.Server
	// capLimit, when > 0, silently clamps "limite" to it.
	capLimit int
	// repeatFrom, when > 0, answers every "pagina" >= repeatFrom with the
	// page before it, as an upstream that ignores pages past some point.
	repeatFrom int

	mu      sync.Mutex
	revoked map[string]bool // bearer tokens SERPI now refuses
	gets    []proxiedGet
}

// proxiedGet is one SERPI GET as the gateway sent it.
type proxiedGet struct {
	token, path string
	limit       int
}

func newSerpiProxy(t *testing.T, target string, capLimit, repeatFrom int) *serpiProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &serpiProxy{capLimit: capLimit, repeatFrom: repeatFrom, revoked: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer"))
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limite"))
		p.mu.Lock()
		refused := p.revoked[token]
		if r.Method == http.MethodGet {
			p.gets = append(p.gets, proxiedGet{token: token, path: r.URL.Path, limit: limit})
		}
		p.mu.Unlock()
		if refused {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"success":false,"code":401,"errors":["El token de autorizacion no es valido"],"message":"No autorizado"}`))
			return
		}
		if p.capLimit > 0 && limit > p.capLimit {
			q.Set("limite", strconv.Itoa(p.capLimit))
		}
		if page, _ := strconv.Atoi(q.Get("pagina")); p.repeatFrom > 0 && page >= p.repeatFrom {
			q.Set("pagina", strconv.Itoa(p.repeatFrom-1))
		}
		r.URL.RawQuery = q.Encode()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *serpiProxy) revoke(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked[token] = true
}

// walkCalls counts the GETs made with token that read more than one
// record, i.e. pages of a collection walk (a credential check reads one).
func (p *serpiProxy) walkCalls(token string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.gets {
		if g.token == token && g.limit != 1 {
			n++
		}
	}
	return n
}

const countsQuery = `{ branches { totalCount } taxes { totalCount } articles { totalCount } }`

type counts struct {
	Branches, Taxes, Articles struct{ TotalCount int }
}

// Finding 1: behind a SERPI that caps "limite" at 50, every collection is
// walked to its end and a record past the first 50 is found.
func TestLoseNoData1_WalkBehindAPageCap(t *testing.T) {
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 130, Taxes: 120, Articles: 450}})
	proxy := newSerpiProxy(t, e.upstream.URL, 50, 0)
	h := newGateway(t, e, func(c *server.Config) { c.SerpiURL = proxy.URL })

	var got counts
	doOn(t, h, countsQuery, key(testKey)).ok(t, &got)
	cfg := e.sim.Serpi.Config()
	// The simulator adds the seeds' own records to the generated ones:
	// compare with what a walk without the cap sees.
	var want counts
	doOn(t, newGateway(t, e, nil), countsQuery, key(testKey)).ok(t, &want)
	if want.Branches.TotalCount < cfg.Branches || want.Taxes.TotalCount < cfg.Taxes || want.Articles.TotalCount < cfg.Articles {
		t.Fatalf("uncapped counts %+v below the simulator's %d/%d/%d", want, cfg.Branches, cfg.Taxes, cfg.Articles)
	}
	if got != want {
		t.Fatalf("behind a 50-record cap: branches/taxes/articles = %d/%d/%d, want %d/%d/%d",
			got.Branches.TotalCount, got.Taxes.TotalCount, got.Articles.TotalCount,
			want.Branches.TotalCount, want.Taxes.TotalCount, want.Articles.TotalCount)
	}

	var art struct{ Article *struct{ Code string } }
	doOn(t, h, `{ article(id: "400") { code } }`, key(testKey)).ok(t, &art)
	if art.Article == nil {
		t.Fatal(`article(id: "400") is null behind the page cap`)
	}
}

// Finding 1: a SERPI that serves a page again (here: every page from the
// third on repeats the second) makes the walk fail with UPSTREAM_ERROR,
// never answer partial totals.
func TestLoseNoData1_InconsistentWalkFails(t *testing.T) {
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 130, Taxes: 120, Articles: 450}})
	proxy := newSerpiProxy(t, e.upstream.URL, 50, 3)
	h := newGateway(t, e, func(c *server.Config) { c.SerpiURL = proxy.URL })

	r := doOn(t, h, `{ branches { totalCount } }`, key(testKey))
	r.wantCode(t, "UPSTREAM_ERROR", "serpi")
	if strings.Contains(string(r.Data), "totalCount") {
		t.Fatalf("an inconsistent walk still answered data: %s", r.raw)
	}
}

// Finding 9: a key whose SERPI token SERPI refuses stops reading within
// the credential check period, while a healthy key of the same company
// keeps reading the shared cache without walking SERPI again.
func TestLoseNoData9_RevokedKeyStopsReading(t *testing.T) {
	const healthyToken, revokedToken = "token-healthy", "token-revoked"
	const check = 100 * time.Millisecond
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 60, Taxes: 20, Articles: 30,
		Credentials: map[string][]string{simSecret: {simToken, healthyToken, revokedToken}}}})
	proxy := newSerpiProxy(t, e.upstream.URL, 0, 0)
	h := newGateway(t, e, func(c *server.Config) {
		c.SerpiURL = proxy.URL
		c.CatalogCredentialCheck = check
		c.APIKeys = append(c.APIKeys,
			auth.KeyConfig{Name: "healthy", SHA256: auth.HashKey("healthy-key"), Scopes: []string{"catalog:read"}, SerpiToken: healthyToken},
			auth.KeyConfig{Name: "revoked", SHA256: auth.HashKey("revoked-key"), Scopes: []string{"catalog:read"}, SerpiToken: revokedToken})
	})

	var warm counts
	doOn(t, h, countsQuery, key("healthy-key")).ok(t, &warm)
	var before counts
	doOn(t, h, countsQuery, key("revoked-key")).ok(t, &before)
	if before != warm || warm.Branches.TotalCount == 0 {
		t.Fatalf("before revocation the second key read %+v, the first %+v", before, warm)
	}
	walks := proxy.walkCalls(healthyToken)
	if proxy.walkCalls(revokedToken) != 0 {
		t.Fatal("the second key walked SERPI although the cache was warm")
	}

	proxy.revoke(revokedToken)
	revokedAt := time.Now()
	var refused result
	for {
		refused = doOn(t, h, `{ branches { totalCount } }`, key("revoked-key"))
		if len(refused.Errors) > 0 {
			break
		}
		// The bound is one check period; the margin covers a slow runner.
		if time.Since(revokedAt) > check+5*time.Second {
			t.Fatalf("a key whose SERPI token is revoked still reads %s after %v", refused.Data, time.Since(revokedAt))
		}
		time.Sleep(10 * time.Millisecond)
	}
	refused.wantCode(t, "UPSTREAM_ERROR", "serpi")
	if refused.Data != nil && string(refused.Data) != "null" {
		t.Fatalf("the refused read still answered data: %s", refused.raw)
	}

	// The healthy key still reads everything, from the cache.
	time.Sleep(check) // its own check is due again too
	var after counts
	doOn(t, h, countsQuery, key("healthy-key")).ok(t, &after)
	if after != warm {
		t.Fatalf("the healthy key reads %+v after the revocation, want %+v", after, warm)
	}
	if n := proxy.walkCalls(healthyToken); n != walks {
		t.Fatalf("the healthy key walked SERPI again (%d page calls, had %d)", n, walks)
	}
}
