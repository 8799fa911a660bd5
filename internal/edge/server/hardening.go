package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/redis/go-redis/v9"
	"github.com/rs/cors"

	"github.com/serfigas/brilla-gateway/backends/resilience"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/internal/edge/hideschema"
	"github.com/serfigas/brilla-gateway/internal/edge/limits"
	"github.com/serfigas/brilla-gateway/internal/edge/literals"
	"github.com/serfigas/brilla-gateway/internal/edge/metrics"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
)

// Hardening is what an operator of a public GraphQL API tunes: abuse
// limits, persisted queries, upstream resilience, per-client rate limits,
// observability and CORS. The zero value means the safe defaults.
type Hardening struct {
	// MaxDepth, MaxAliases and MaxComplexity refuse abusive operations
	// before they run (limits.Default* when zero; -1 disables one).
	MaxDepth      int
	MaxAliases    int
	MaxComplexity int
	// MaxTokens, MaxFields and MaxFieldRepeats bound a document before
	// gqlgen parses and validates it: its tokens, its field selections
	// once fragments are expanded, and how often one place of the
	// response is selected (limits.Default* when zero; -1 disables one).
	MaxTokens       int
	MaxFields       int
	MaxFieldRepeats int
	// DisableIntrospection turns off __schema and __type.
	DisableIntrospection bool
	// APQTTL is how long a registered persisted-query hash is kept
	// (persisted.DefaultTTL when zero).
	APQTTL time.Duration
	// TrustedDocuments, when set, lets only its operations run and turns
	// automatic registration of new hashes off.
	TrustedDocuments *persisted.Manifest
	// Retry configures retries and circuit breaking per upstream.
	Retry resilience.Policy
	// RateLimits per client; zero fields take DefaultRateLimits'.
	// DisableRateLimits turns them off.
	RateLimits        ratelimit.Limits
	DisableRateLimits bool
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client for per-address limits; none: the connection's address.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the browser origins allowed to call the API from
	// other sites ("*" allows any); none: same-origin only.
	CORSOrigins []string
	// CORSAllowedHeaders are the request headers cross-site pages may
	// send; DefaultCORSAllowedHeaders when empty. Extra names are added
	// to, not swapped for, the ones the gateway itself reads.
	CORSAllowedHeaders []string
	// Tracing exports spans; nil: tracing off.
	Tracing *observability.Tracing
	// SeparateMetrics leaves /metrics off the public mux; serve
	// Gateway.Metrics() on an internal listener instead.
	SeparateMetrics bool
	// CSRFPrevention (Apollo's CSRF prevention) refuses requests a
	// browser could send cross-site without a CORS preflight (GET, or a
	// POST with a text/plain, form or multipart content type) unless they
	// carry a non-empty GraphQL-Preflight, Apollo-Require-Preflight or
	// X-Apollo-Operation-Name header: 400 BAD_REQUEST. Off by default: no
	// credential travels implicitly (see internal/auth), and plain GET
	// clients and the GraphQL-over-HTTP audit send no such header.
	CSRFPrevention bool
	// MetricsOperations are operation names (the product's frontends')
	// that always keep their own metrics label; see metrics.KnownOperations.
	MetricsOperations []string
	// DisablePlayground leaves GraphiQL (the page at / and its assets)
	// off the mux: those paths answer 404.
	DisablePlayground bool
	// PlaygroundPersistHeaders lets GraphiQL keep its headers editor
	// (bearer tokens, API keys) in the browser's localStorage; off, they
	// last as long as the page.
	PlaygroundPersistHeaders bool
}

// DefaultRateLimits are per-minute budgets generous for people and
// integrations, low enough to blunt scraping and floods.
func DefaultRateLimits() ratelimit.Limits {
	return ratelimit.Limits{
		APIKey:   ratelimit.PerMinute(3000),
		Customer: ratelimit.PerMinute(600),
		IP:       ratelimit.PerMinute(300),
	}
}

func (h *Hardening) validate() []error {
	var errs []error
	if h.MaxDepth < -1 || h.MaxAliases < -1 || h.MaxComplexity < -1 {
		errs = append(errs, errors.New("MAX_DEPTH, MAX_ALIASES and MAX_COMPLEXITY must be positive (or -1 to disable)"))
	}
	if h.MaxTokens < -1 || h.MaxFields < -1 || h.MaxFieldRepeats < -1 {
		errs = append(errs, errors.New("MAX_TOKENS, MAX_FIELDS and MAX_FIELD_REPEATS must be positive (or -1 to disable)"))
	}
	for _, o := range h.CORSOrigins {
		if o != "*" && !isOrigin(o) {
			errs = append(errs, fmt.Errorf("CORS_ORIGINS entries must be origins such as https://app.example.com, got %q", o))
		}
	}
	return errs
}

// isOrigin reports whether o is what a browser sends as Origin: an
// http(s) scheme and a host, nothing else ("https://app.example.com",
// "http://localhost:3000").
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Hostname() != "" &&
		u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && !strings.ContainsAny(o, " \t")
}

func (h *Hardening) applyDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&h.MaxDepth, limits.DefaultMaxDepth)
	def(&h.MaxAliases, limits.DefaultMaxAliases)
	def(&h.MaxComplexity, limits.DefaultMaxComplexity)
	def(&h.MaxTokens, limits.DefaultMaxTokens)
	def(&h.MaxFields, limits.DefaultMaxFields)
	def(&h.MaxFieldRepeats, limits.DefaultMaxFieldRepeats)
	d := DefaultRateLimits()
	if h.RateLimits.APIKey.IsZero() {
		h.RateLimits.APIKey = d.APIKey
	}
	if h.RateLimits.Customer.IsZero() {
		h.RateLimits.Customer = d.Customer
	}
	if h.RateLimits.IP.IsZero() {
		h.RateLimits.IP = d.IP
	}
	if h.Tracing == nil {
		h.Tracing, _ = observability.SetupTracing(context.Background(), "", "")
	}
}

// useGraphQLExtensions installs the operation-level protections.
func useGraphQLExtensions(gql *handler.Server, schema *ast.Schema, h Hardening, store cache.Store, prefix string, m *metrics.Metrics) {
	// First: every later extension may read arguments, which panics on a
	// number literal no Go value holds.
	gql.Use(literals.Check{})
	gql.Use(m.Extension())
	m.KnownOperations(h.MetricsOperations...)
	if h.TrustedDocuments != nil {
		m.KnownOperations(h.TrustedDocuments.OperationNames()...)
	}
	// Decimal and Money number literals reach their scalars as written
	// (literals.ExactNumbers), whichever rule set is in use.
	if !h.DisableIntrospection {
		gql.Use(extension.Introspection{})
		gql.SetValidationRulesFn(literals.Rules)
	} else {
		// No "Did you mean" nor type names in validation errors either.
		hideschema.Install(gql, schema, literals.Rules)
	}
	// Admission refuses abusive documents before gqlgen parses and
	// validates them; gqlgen's own token limit is the same, should a
	// document ever reach its parser some other way.
	admission := limits.NewAdmission(limits.Limits{
		MaxTokens:       max(h.MaxTokens, 0),
		MaxDepth:        max(h.MaxDepth, 0),
		MaxAliases:      max(h.MaxAliases, 0),
		MaxFields:       max(h.MaxFields, 0),
		MaxFieldRepeats: max(h.MaxFieldRepeats, 0),
		NoIntrospection: h.DisableIntrospection,
	}, 0)
	gql.SetParserTokenLimit(max(h.MaxTokens, 0))
	if h.MaxComplexity > 0 {
		// Ours, not extension.FixedComplexityLimit: it costs each fragment once.
		gql.Use(&limits.ComplexityLimit{Max: h.MaxComplexity})
	}
	if h.TrustedDocuments != nil {
		gql.Use(persisted.Trusted{Manifest: h.TrustedDocuments})
	} else {
		// Only an admitted, valid query is remembered for a week.
		accept := func(query string) bool {
			if !admission.Accepts(query) {
				return false
			}
			_, errs := gqlparser.LoadQueryWithRules(schema, query, nil)
			return errs == nil
		}
		gql.Use(extension.AutomaticPersistedQuery{Cache: persisted.NewStore(store, prefix+"apq:", h.APQTTL, accept)})
	}
	// After the persisted-query extensions: it sees the text a hash
	// resolves to.
	gql.Use(admission)
}

// upstreamClient is an HTTP client for one upstream: pooled connections,
// a span per call, retries of reads and a circuit breaker.
func upstreamClient(name string, h Hardening, m *metrics.Metrics) (*http.Client, *resilience.Transport) {
	rt := resilience.New(h.Tracing.TraceTransport(newTransport()), name, h.Retry, m)
	return &http.Client{Transport: rt}, rt
}

// rateLimiter shares per-client counters through Redis when there is one.
func rateLimiter(rdb redis.UniversalClient, prefix string, gate *degrade.Gate) ratelimit.Limiter {
	memory := ratelimit.NewMemory()
	if rdb == nil {
		return memory
	}
	return &ratelimit.Fallback{Primary: ratelimit.NewRedis(rdb, prefix), Secondary: memory, Gate: gate}
}

// gatewayHeaders are the request headers the gateway reads: a browser on
// an allowed origin must always be let to send them.
var gatewayHeaders = []string{"Authorization", "X-Api-Key", "Content-Type", "Accept", "Idempotency-Key", "X-Request-Id",
	"Apollo-Require-Preflight", "GraphQL-Preflight", "X-Apollo-Operation-Name"}

// DefaultCORSAllowedHeaders adds to the gateway's own headers those that
// frontends' clients and tracing send: W3C trace context and Apollo's and
// graphql-client's client identification.
func DefaultCORSAllowedHeaders() []string {
	return []string{"traceparent", "tracestate", "baggage", "apollographql-client-name", "apollographql-client-version", "graphql-client-name", "graphql-client-version"}
}

// withCORS answers preflights and sets CORS headers for the allowed
// origins; without origins it adds nothing (same-origin only).
func withCORS(origins, extraHeaders []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	if len(extraHeaders) == 0 {
		extraHeaders = DefaultCORSAllowedHeaders()
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders: append(slices.Clone(gatewayHeaders), extraHeaders...),
		ExposedHeaders: []string{"X-Request-Id", "Retry-After"},
		MaxAge:         600,
	}).Handler(next)
}

// readiness tells a load balancer whether to send this replica traffic.
// Ready (200) whenever it can serve: with Redis down it serves from its
// per-process fallbacks, and says so ("status":"degraded", "redis":"down"
// and the components on their fallback) without leaving the pool, since
// a Redis blip would otherwise take every replica out at once. Not ready
// (503) only while it cannot serve: draining (shutting down), or every
// upstream circuit open.
type readiness struct {
	redis     *redisHealth
	upstreams map[string]*resilience.Transport
	draining  *atomic.Bool
}

// Redis health checks: a PING every redisCheckEvery, bounded by
// redisCheckTimeout, in the background, so that /readyz answers at once
// (a probe's usual timeout is 1 s; go-redis retries a failing PING for
// longer) and gateway_redis_degraded is current without probes or traffic.
const (
	redisCheckEvery   = 2 * time.Second
	redisCheckTimeout = time.Second
)

// readyBody is /readyz's JSON answer.
type readyBody struct {
	// Status is ready, degraded (serving, Redis down), draining or not
	// ready.
	Status string `json:"status"`
	// Redis is up, down or none (not configured).
	Redis string `json:"redis"`
	// Fallbacks are the Redis-backed components serving from memory.
	Fallbacks []string          `json:"fallbacks,omitempty"`
	Circuits  map[string]string `json:"circuits"`
	Problems  map[string]string `json:"problems,omitempty"`
}

func (rd readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := readyBody{Status: "ready", Redis: "none", Circuits: map[string]string{}, Problems: map[string]string{}}
	if rd.redis.configured() {
		body.Redis = "up"
		if rd.redis.pingFailed.Load() {
			body.Redis = "down"
		}
		body.Fallbacks = rd.redis.fallbacks()
		if body.Redis == "down" || len(body.Fallbacks) > 0 {
			body.Status = "degraded"
		}
	}
	open := 0
	for name, t := range rd.upstreams {
		state := t.State()
		body.Circuits[name] = state
		if state == "open" {
			open++
		}
	}
	if len(rd.upstreams) > 0 && open == len(rd.upstreams) {
		body.Status = "not ready"
		body.Problems["upstreams"] = "every upstream circuit is open"
	}
	if rd.draining.Load() {
		body.Status = "draining"
		body.Problems["draining"] = "the gateway is shutting down"
	}
	code := http.StatusOK
	if len(body.Problems) > 0 {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// redisHealth is what the gateway knows of Redis: the last background
// PING (watch), and the components (the shared cache, rate limits, serializer,
// sign-in guard) that switched to their per-process fallback. It feeds
// /readyz and gateway_redis_degraded.
type redisHealth struct {
	rdb        redis.UniversalClient // nil without Redis
	pingFailed atomic.Bool
	components []redisComponent
}

// redisComponent is one Redis-backed component and how to tell whether
// it is on its fallback.
type redisComponent struct {
	name       string
	onFallback func() bool
}

func (h *redisHealth) configured() bool { return h.rdb != nil }

// watch pings Redis every interval until ctx ends, remembering whether
// the last PING failed; it returns at once without Redis.
func (h *redisHealth) watch(ctx context.Context, every, timeout time.Duration) {
	if !h.configured() {
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		ping, cancel := context.WithTimeout(ctx, timeout)
		err := h.rdb.Ping(ping).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.pingFailed.Store(err != nil)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// fallbacks names the components on their fallback.
func (h *redisHealth) fallbacks() []string {
	var names []string
	for _, c := range h.components {
		if c.onFallback() {
			names = append(names, c.name)
		}
	}
	return names
}

// degraded reports whether Redis is configured and the gateway is
// serving without it, in whole or in part.
func (h *redisHealth) degraded() bool {
	return h.configured() && (h.pingFailed.Load() || len(h.fallbacks()) > 0)
}
