// Package server assembles the gateway: upstream clients, access control,
// the gqlgen server with its transports and extensions, the playground and
// the health endpoint, behind one http.Handler.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/resilience"
	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/catalog/livecat"
	"github.com/serfigas/brilla-gateway/internal/customer/brillacache"
	"github.com/serfigas/brilla-gateway/internal/customer/loginguard"
	"github.com/serfigas/brilla-gateway/internal/edge/deadline"
	"github.com/serfigas/brilla-gateway/internal/edge/limits"
	"github.com/serfigas/brilla-gateway/internal/edge/metrics"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/playground"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/respcache"
	edgetransport "github.com/serfigas/brilla-gateway/internal/edge/transport"
	"github.com/serfigas/brilla-gateway/internal/registration"
	"github.com/serfigas/brilla-gateway/internal/registration/regwatch"
	"github.com/serfigas/brilla-gateway/resolvers"
	"github.com/serfigas/brilla-gateway/resolvers/loaders"
)

// Config is everything the gateway needs to serve.
type Config struct {
	// BrillaURL and SerpiURL are the upstreams' base URLs (scheme and host,
	// optionally a path prefix before /api/...).
	BrillaURL string
	SerpiURL  string
	// SerpiSecretKey and SerpiToken are the gateway's SERPI credential:
	// customers' own branches are read with it, and API keys without a
	// token of their own are bound to it.
	SerpiSecretKey string
	SerpiToken     string
	// APIKeys are the back-office keys, hashed.
	APIKeys []auth.KeyConfig
	// DefaultMonthlyRate is creditQuote's rate (percent) when no customer
	// rate applies.
	DefaultMonthlyRate string
	// UpstreamTimeout bounds every upstream call.
	UpstreamTimeout time.Duration
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// RequestTimeout bounds a whole GraphQL request, waiting for a SERPI
	// token's turn included: past it the request answers
	// UPSTREAM_UNAVAILABLE instead of hanging.
	RequestTimeout time.Duration
	// Playground is what the GraphiQL page pre-fills.
	PlaygroundHeaders string
	PlaygroundQuery   string
	// RedisURL enables the shared cache and the cross-replica serializer
	// (redis://, rediss://, redis-sentinel://, redis-cluster://; see
	// cache.NewClientFromURL). Empty: memory cache, per-process serializer.
	RedisURL string
	// RedisPrefix prefixes every key the gateway writes (default "gw:"),
	// so several deployments (or tests) can share one Redis.
	RedisPrefix string
	// CacheSecret keys the HMAC that turns customer tokens into cache keys.
	// Replicas sharing a Redis must share it. Empty without Redis: a random
	// per-process secret.
	CacheSecret string
	// CatalogCache is how long SERPI collections stay fresh, then stale.
	CatalogCache cache.Policy
	// CatalogRecheck is how long a replica answers from its own index
	// before comparing it with the shared cache (catalog.DefaultRecheck
	// when zero); writes on other replicas reach it at once through the
	// invalidation bus regardless.
	CatalogRecheck time.Duration
	// CatalogCredentialCheck is how often each API key's own SERPI
	// credential is checked with one cheap SERPI call, so that a token
	// SERPI revoked stops reading the shared catalog within it plus
	// CatalogRecheck (default CatalogCache.Fresh).
	CatalogCredentialCheck time.Duration
	// SerpiPageSize is the "limite" of catalog walks (default
	// serpi.DefaultPageSize, the seeds' 50); walks end on SERPI's empty
	// page whatever size it honours, so this only trades calls for bytes.
	SerpiPageSize int
	// CustomerCache is how long a customer's Brilla reads stay fresh, then
	// stale.
	CustomerCache cache.Policy
	// SerializeBrilla runs a customer token's Brilla calls one at a time
	// across replicas, as SERPI calls always are.
	SerializeBrilla bool
	// LoginPolicy locks generateToken for a document + contract after too
	// many failures (default 5 within 15 minutes).
	LoginPolicy loginguard.Policy
	// MemoryCacheEntries bounds the in-memory cache.
	MemoryCacheEntries int
	// ResponseCacheBytes bounds the in-process tier of the operation
	// response cache (respcache.DefaultMemoryBytes when zero); negative
	// turns the response cache off. With Redis, replicas also share
	// answers there.
	ResponseCacheBytes int64
	// MaxAttachmentBytes bounds each registration attachment (decoded
	// size), MaxAttachmentsTotalBytes their sum and MaxAttachments their
	// number. A multipart request may be MaxAttachmentsTotalBytes plus
	// MaxBodyBytes long; base64 attachments travel inside the JSON body,
	// which MaxBodyBytes bounds.
	MaxAttachmentBytes       int64
	MaxAttachmentsTotalBytes int64
	MaxAttachments           int
	// UploadBudgetBytes bounds the bytes of multipart requests the process
	// holds at once, their execution included; an upload that does not
	// fit is refused at once (503 RATE_LIMITED, Retry-After). Default
	// (zero): two maximum-size multipart requests.
	UploadBudgetBytes int64
	// IdempotencyKeyWindow is how long register remembers an
	// Idempotency-Key; RegisterDedupeWindow how long it answers an
	// identical input with the first result.
	IdempotencyKeyWindow time.Duration
	RegisterDedupeWindow time.Duration
	// SubscriptionsPerConnection caps the subscriptions one websocket
	// connection runs at once; the next one is refused (RATE_LIMITED).
	// DefaultSubscriptionsPerConnection when zero.
	SubscriptionsPerConnection int
	// WebsocketsPerAddress caps the websockets one client address (as
	// TRUSTED_PROXIES resolves it) holds open at once; the next upgrade is
	// refused (429 RATE_LIMITED). DefaultWebsocketsPerAddress when zero.
	WebsocketsPerAddress int
	// WebsocketOrigins lists the origins, besides the gateway's own, whose
	// pages may open websockets: host patterns matched with path.Match
	// ("app.example.com", "*.example.com") or scheme://host patterns
	// ("https://app.example.com"). Clients sending no Origin (not
	// browsers) are always accepted.
	WebsocketOrigins []string
	// WebsocketPing is how often the server pings graphql-transport-ws
	// clients (one not answering is dropped after two intervals) and
	// sends SSE keepalive comments; DefaultWebsocketPing when zero.
	WebsocketPing time.Duration
	// RegistrationPollMin and RegistrationPollMax bound the backoff of
	// the one poller following a watched registration (regwatch
	// defaults: 1s doubling to 30s). A registration received less than a
	// minute ago is polled every RegistrationPollMin or every second,
	// whichever is shorter, within regwatch.DefaultPollBudget polls per
	// code.
	RegistrationPollMin time.Duration
	RegistrationPollMax time.Duration
	// RegistrationLease is how long a poller's lease outlives a replica
	// that died; watchers elsewhere re-read the shared state every half
	// of it. regwatch.DefaultLease when zero.
	RegistrationLease time.Duration
	// CatalogLiveLease is how long the live catalog's poller lease of a
	// SERPI company outlives a replica that died (livecat.DefaultLease
	// when zero); the poll period is CatalogCache.Fresh.
	CatalogLiveLease time.Duration
	// CatalogLiveBuffer is how many changes a catalogChanges subscriber
	// may fall behind before it is ended (livecat.DefaultBuffer when
	// zero).
	CatalogLiveBuffer int
	// Hardening holds the abuse limits, persisted queries, resilience,
	// rate limits, observability and CORS settings.
	Hardening Hardening
	// Logger receives error logs; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock of the customer's computed values (overdue
	// installments, next due date) and of quote dates; time.Now when nil.
	// Tests set it to fix "today".
	Now func() time.Time
}

// Defaults of Config's optional fields.
const (
	DefaultMonthlyRate        = "1.99"
	DefaultUpstreamTimeout    = 10 * time.Second
	DefaultMaxBodyBytes       = int64(1 << 20)
	DefaultRequestTimeout     = 30 * time.Second
	DefaultMemoryCacheEntries = 10_000
	DefaultRedisPrefix        = "gw:"
	// MaxSerpiPageSize bounds SERPI_PAGE_SIZE: the largest "limite" the
	// simulator accepts; a page of it stays far below the client's
	// response cap.
	MaxSerpiPageSize = 1000
)

// DefaultCatalogCache keeps SERPI collections fresh for five minutes, the
// pace SERPI asks for, and serves them stale for ten more while one
// replica refreshes.
func DefaultCatalogCache() cache.Policy {
	return cache.Policy{Fresh: 5 * time.Minute, Stale: 10 * time.Minute}
}

// DefaultCustomerCache keeps a customer's Brilla reads briefly: a quota
// moves when the customer pays.
func DefaultCustomerCache() cache.Policy {
	return cache.Policy{Fresh: 30 * time.Second, Stale: 30 * time.Second}
}

// Validate reports every configuration problem at once, one per line.
func (c *Config) Validate() error {
	var errs []error
	for name, raw := range map[string]string{"BRILLA_URL": c.BrillaURL, "SERPI_URL": c.SerpiURL} {
		if raw == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL such as https://api.example.com, got %q", name, raw))
		} else if u.User != nil {
			errs = append(errs, fmt.Errorf("%s must not carry credentials in the URL", name))
		}
	}
	if c.SerpiSecretKey == "" {
		errs = append(errs, errors.New("SERPI_SECRET_KEY is required"))
	}
	if c.SerpiToken == "" {
		errs = append(errs, errors.New("SERPI_TOKEN is required"))
	}
	if c.DefaultMonthlyRate != "" {
		if d, err := wire.ParseDecimal(c.DefaultMonthlyRate); err != nil || d == "0" || d[0] == '-' {
			errs = append(errs, fmt.Errorf("DEFAULT_MONTHLY_RATE must be a positive decimal percent such as 1.99, got %q", c.DefaultMonthlyRate))
		}
	}
	if c.UpstreamTimeout < 0 {
		errs = append(errs, errors.New("UPSTREAM_TIMEOUT must not be negative"))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, errors.New("REQUEST_TIMEOUT must not be negative"))
	}
	if c.RedisURL != "" {
		if _, err := cache.ParseURL(c.RedisURL); err != nil {
			errs = append(errs, fmt.Errorf("REDIS_URL: %w", err))
		}
		if c.CacheSecret == "" {
			errs = append(errs, errors.New("CACHE_SECRET (16+ characters, the same on every replica) is required with REDIS_URL"))
		}
	}
	if c.CacheSecret != "" && len(c.CacheSecret) < 16 {
		errs = append(errs, errors.New("CACHE_SECRET must be at least 16 characters"))
	}
	for name, p := range map[string]cache.Policy{"CATALOG_CACHE": c.CatalogCache, "CUSTOMER_CACHE": c.CustomerCache} {
		if p.Fresh < 0 || p.Stale < 0 {
			errs = append(errs, fmt.Errorf("%s durations must not be negative", name))
		}
	}
	if c.CatalogLiveLease < 0 || c.CatalogLiveBuffer < 0 {
		errs = append(errs, errors.New("the live catalog's lease and buffer must not be negative"))
	}
	if c.CatalogCredentialCheck < 0 {
		errs = append(errs, errors.New("CATALOG_CREDENTIAL_CHECK must not be negative"))
	}
	if c.SerpiPageSize < 0 || c.SerpiPageSize > MaxSerpiPageSize {
		errs = append(errs, fmt.Errorf("SERPI_PAGE_SIZE must be between 1 and %d, got %d", MaxSerpiPageSize, c.SerpiPageSize))
	}
	if c.MaxAttachmentBytes < 0 || c.MaxAttachmentsTotalBytes < 0 || c.MaxAttachments < 0 || c.UploadBudgetBytes < 0 {
		errs = append(errs, errors.New("MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_TOTAL_BYTES, MAX_ATTACHMENTS and the upload budget must not be negative"))
	}
	if c.IdempotencyKeyWindow < 0 || c.RegisterDedupeWindow < 0 {
		errs = append(errs, errors.New("IDEMPOTENCY_KEY_WINDOW and REGISTER_DEDUPE_WINDOW must not be negative"))
	}
	errs = append(errs, c.validateStreaming()...)
	errs = append(errs, c.Hardening.validate()...)
	// The API keys are checked here too, so that a key's problem is
	// reported with the others rather than after them; a missing SERPI
	// credential is reported above already.
	if c.SerpiSecretKey != "" && c.SerpiToken != "" {
		if _, err := auth.NewKeyStore(c.APIKeys, c.SerpiSecretKey, c.SerpiToken); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Gateway is the gateway's HTTP handler and the resources it holds.
type Gateway struct {
	http.Handler
	cache  *cache.Cache
	bus    *cache.Topics // catalog invalidations and live catalog changes; closed before the Redis client
	closer func() error
	// responses is the operation response cache; nil when turned off.
	responses *respcache.Cache
	// endStreams ends every websocket and SSE stream (their contexts are
	// done when it returns); watch follows registrations for
	// subscriptions.
	endStreams func()
	watch      *regwatch.Hub
	live       *livecat.Hub
	metrics    *metrics.Metrics
	// draining turns /readyz to 503 once shutdown began; open counts the
	// streams for the shutdown log.
	draining *atomic.Bool
	open     *openStreams
	endOnce  sync.Once
	logger   *slog.Logger
	// stopHealth ends the background Redis health check.
	stopHealth context.CancelFunc
}

// Metrics serves the Prometheus metrics (mounted at /metrics unless
// Hardening.SeparateMetrics).
func (g *Gateway) Metrics() http.Handler { return g.metrics.Handler() }

// Drain turns /readyz to 503 ("draining"): the load balancer stops
// sending this replica new requests while those under way finish.
func (g *Gateway) Drain() { g.draining.Store(true) }

// EndSubscriptions drains (Drain) and ends every open subscription,
// websocket and SSE stream at once, so that clients reconnect elsewhere:
// websockets close with 1001 (going away), SSE streams end without
// "event: complete". It stops the registration pollers too, releasing
// their leases to other replicas. http.Server.Shutdown does none of this
// (gqlgen #2610): register it with http.Server.RegisterOnShutdown.
func (g *Gateway) EndSubscriptions() {
	g.endOnce.Do(func() {
		g.Drain()
		ws, sse := g.open.websockets.Load(), g.open.sse.Load()
		g.endStreams()
		g.watch.Close()
		g.live.Close()
		g.logger.Info("shutdown: open streams ended; clients reconnect elsewhere", "websockets", ws, "sse_streams", sse)
	})
}

// Close stops background cache refreshes and the invalidation
// subscription, and closes the Redis client.
func (g *Gateway) Close() error {
	g.EndSubscriptions()
	if g.responses != nil {
		g.responses.Close()
	}
	g.stopHealth()
	g.cache.Close()
	_ = g.bus.Close()
	if g.closer != nil {
		return g.closer()
	}
	return nil
}

// New validates cfg and returns the gateway.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	logger := cfg.Logger
	keys, err := auth.NewKeyStore(cfg.APIKeys, cfg.SerpiSecretKey, cfg.SerpiToken)
	if err != nil {
		return nil, err
	}
	rate, _ := wire.ParseDecimal(cfg.DefaultMonthlyRate)

	secret := []byte(cfg.CacheSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	memory := cache.NewMemory(cfg.MemoryCacheEntries)
	local := serializer.NewLocal()
	var (
		store  cache.Store           = memory
		serial serializer.Serializer = local
		logins loginguard.Guard      = loginguard.NewMemory(cfg.LoginPolicy)
		closer func() error
		rdb    redis.UniversalClient
		health = &redisHealth{}
	)
	if cfg.RedisURL != "" {
		rc, err := cache.NewClientFromURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		closer = rc.Close
		rdb = rc
		resilient := cache.NewResilient(cache.NewRedis(rc, cfg.RedisPrefix+"cache:"), memory, logger)
		store = resilient
		loginGate := &degrade.Gate{Name: "loginguard", Logger: logger}
		logins = &loginguard.Fallback{
			Primary:   loginguard.NewRedis(rc, cfg.RedisPrefix, cfg.LoginPolicy),
			Secondary: logins,
			Gate:      loginGate,
		}
		serialGate := &degrade.Gate{Name: "serializer", Logger: logger}
		serial = &serializer.Fallback{
			Primary:   serializer.NewRedis(rc, serializer.RedisOptions{Prefix: cfg.RedisPrefix + "ser:", Logger: logger, Local: local}),
			Secondary: local,
			Gate:      serialGate,
		}
		health.rdb = rc
		health.components = []redisComponent{
			{"cache", func() bool { return !resilient.Healthy() }},
			{"loginguard", loginGate.Degraded},
			{"serializer", serialGate.Degraded},
		}
	}
	m := metrics.New()
	build := observability.BuildInfo()
	m.Build(build.Version, build.Revision, build.GoVersion)
	m.RedisDegraded(health.degraded)
	shared := cache.New(store, logger, cache.WithObserver(m.CacheResult))

	brillaHTTP, brillaCircuit := upstreamClient(upstream.Brilla, cfg.Hardening, m)
	serpiHTTP, serpiCircuit := upstreamClient(upstream.Serpi, cfg.Hardening, m)
	brillaClient := brilla.NewClient(cfg.BrillaURL, brilla.WithHTTPClient(brillaHTTP), brilla.WithTimeout(cfg.UpstreamTimeout))
	serpiClient := serpi.NewClient(cfg.SerpiURL, serpi.WithHTTPClient(serpiHTTP), serpi.WithTimeout(cfg.UpstreamTimeout),
		serpi.WithSerializer(m.TimedSerializer(upstream.Serpi, serial)))
	var brillaOpts []brillacache.Option
	if cfg.SerializeBrilla {
		brillaOpts = append(brillaOpts, brillacache.WithSerializer(m.TimedSerializer(upstream.Brilla, serial)))
	}
	customerReads := brillacache.New(brillaClient, shared, cache.NewKeyer(secret), cfg.CustomerCache, brillaOpts...)
	catalogReads := catalog.NewCached(catalog.NewLoader(serpiClient, cfg.SerpiPageSize), shared, cfg.CatalogCache, cfg.CatalogRecheck)
	catalogReads.CheckCredentials(serpiClient, cfg.CatalogCredentialCheck)
	// A catalog write drops every replica's index of the collection before
	// its response leaves: through Redis pub/sub, or in process alone.
	var bus cache.Bus = cache.NewLocalBus()
	if rdb != nil {
		bus = cache.NewRedisBus(rdb, cache.RedisBusOptions{Prefix: cfg.RedisPrefix, Logger: logger})
	}
	// The live catalog's changes share the bus (one pub/sub connection per
	// replica) on a topic of their own.
	topics := cache.NewTopics(bus)
	if err := catalogReads.Attach(context.Background(), topics.Topic(""), logger); err != nil {
		logger.Warn("catalog invalidation bus not subscribed yet; other replicas' writes show at the next recheck until it is", "error", err)
	}
	live := livecat.New(livecat.Options{
		Catalog: catalogReads,
		Bus:     topics.Topic(livecat.BusTopic),
		Redis:   rdb,
		Prefix:  cfg.RedisPrefix + "live:",
		// One walk per collection per freshness period, which is also
		// the cache's refresh: SERPI's pace.
		Period: cfg.CatalogCache.Fresh,
		Lease:  cfg.CatalogLiveLease,
		Buffer: cfg.CatalogLiveBuffer,
		Logger: logger,
	})

	registrations := registration.New(registration.Config{
		Store:  store,
		Secret: secret,
		Limits: registration.Limits{
			MaxFileBytes:  cfg.MaxAttachmentBytes,
			MaxTotalBytes: cfg.MaxAttachmentsTotalBytes,
			MaxFiles:      cfg.MaxAttachments,
		},
		KeyWindow:   cfg.IdempotencyKeyWindow,
		InputWindow: cfg.RegisterDedupeWindow,
		// The lease outlasts Brilla's call, cut at the upstream timeout.
		InFlight: cfg.UpstreamTimeout + 5*time.Second,
		Logger:   logger,
	})
	watch := regwatch.New(regwatch.Options{
		Fetch:   resolvers.RegistrationFetcher(brillaClient),
		Redis:   rdb,
		Prefix:  cfg.RedisPrefix + "reg:",
		PollMin: cfg.RegistrationPollMin,
		PollMax: cfg.RegistrationPollMax,
		Lease:   cfg.RegistrationLease,
		Logger:  logger,
	})
	streams := &streamSet{}
	root := &resolvers.Resolver{
		Brilla:             brillaClient,
		Logins:             logins,
		Registrations:      registrations,
		RegistrationWatch:  watch,
		Serpi:              serpiClient,
		Catalog:            catalogReads,
		CatalogLive:        live,
		Logger:             logger,
		CustomerSerpi:      serpi.Credential{SecretKey: cfg.SerpiSecretKey, Token: cfg.SerpiToken},
		DefaultMonthlyRate: model.Decimal(rate),
		Now:                cfg.Now,
	}
	schemaCfg := graph.Config{Resolvers: root, Directives: resolvers.Directives()}
	limits.Complexity(&schemaCfg.Complexity)
	es := graph.NewExecutableSchema(schemaCfg)
	gql := handler.New(es)
	// Plain HTTP (POST JSON, GET, multipart uploads) goes through the
	// gateway's own transport, first in the list so that it also answers
	// a POST carrying an Upgrade header; streams go on to the websocket
	// and SSE transports. Uploads (the GraphQL multipart request spec) are
	// bounded by uploadLimit each and kept in memory (no temporary files,
	// so a read-only file system is fine) within a process-wide budget
	// (see edgetransport.UploadBudget); register checks each file's size.
	uploadLimit := cfg.MaxAttachmentsTotalBytes + cfg.MaxBodyBytes
	var responses *respcache.Cache
	if cfg.ResponseCacheBytes >= 0 {
		var shared cache.Store
		if rdb != nil {
			shared = cache.NewRedis(rdb, cfg.RedisPrefix+"resp:")
		}
		responses = respcache.New(respcache.Config{
			Schema:      es.Schema(),
			MemoryBytes: cfg.ResponseCacheBytes,
			Shared:      shared,
			Versions:    catalogVersions{catalogReads},
			Keyer:       cache.NewKeyer(secret),
			Observer:    m.ResponseCache(),
			Logger:      logger,
		})
	}
	gql.AddTransport(edgetransport.New(edgetransport.Config{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		MaxUploadBytes: uploadLimit,
		MaxUploadFiles: cfg.MaxAttachments,
		Uploads:        edgetransport.NewUploadBudget(max(cfg.UploadBudgetBytes, uploadLimit)),
		CSRFPrevention: cfg.Hardening.CSRFPrevention,
		IsStream:       isStream,
		Responses:      responses,
		CachedAnswer:   m.CachedAnswer,
	}))
	addStreamingTransports(gql, &cfg, keys)
	gql.SetQueryCache(newQueryCache())
	useGraphQLExtensions(gql, es.Schema(), cfg.Hardening, store, cfg.RedisPrefix, m)
	gql.Use(observability.Operations{})
	gql.Use(loaders.Middleware{Brilla: customerReads, Catalog: catalogReads})
	gql.SetErrorPresenter(apperr.Presenter(logger))
	gql.SetRecoverFunc(apperr.Recover(logger))

	mux := http.NewServeMux()
	var api http.Handler = gql
	if !cfg.Hardening.DisableRateLimits {
		rateGate := &degrade.Gate{Name: "ratelimit", Logger: logger}
		if rdb != nil {
			health.components = append(health.components, redisComponent{"ratelimit", rateGate.Degraded})
		}
		rl := ratelimit.Config{
			Limiter:        rateLimiter(rdb, cfg.RedisPrefix, rateGate),
			Limits:         cfg.Hardening.RateLimits,
			TrustedProxies: cfg.Hardening.TrustedProxies,
			Logger:         logger,
		}
		api = rl.Middleware(api)
		// A websocket's operations come after its one HTTP request.
		gql.Use(ratelimit.Operations{Config: rl})
	}
	openNow := &openStreams{}
	mux.Handle("/graphql", countStreams(m, openNow, limitBody(cfg.MaxBodyBytes, uploadLimit, withDeadline(cfg.RequestTimeout, streams, registration.Middleware(keys.Middleware(withKeyName(api)))))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	draining := &atomic.Bool{}
	healthCtx, stopHealth := context.WithCancel(context.Background())
	go health.watch(healthCtx, redisCheckEvery, redisCheckTimeout)
	mux.Handle("GET /readyz", readiness{redis: health, draining: draining, upstreams: map[string]*resilience.Transport{upstream.Brilla: brillaCircuit, upstream.Serpi: serpiCircuit}})
	if !cfg.Hardening.SeparateMetrics {
		mux.Handle("GET /metrics", m.Handler())
	}
	if !cfg.Hardening.DisablePlayground {
		playground.Register(mux, playground.Options{
			Title:          "Brilla + SERPI GraphQL",
			Endpoint:       "/graphql",
			DefaultHeaders: cfg.PlaygroundHeaders,
			DefaultQuery:   cfg.PlaygroundQuery,
			PersistHeaders: cfg.Hardening.PlaygroundPersistHeaders,
		})
	}
	var h http.Handler = withCORS(cfg.Hardening.CORSOrigins, cfg.Hardening.CORSAllowedHeaders, mux)
	// Every route knows its client's address (the access log too).
	h = withClientAddr(cfg.Hardening.TrustedProxies, h)
	h = m.Instrument(classifyRoute, h)
	h = cfg.Hardening.Tracing.TraceHandler("gateway", h)
	h = observability.AccessLog(logger, h)
	return &Gateway{Handler: h, cache: shared, bus: topics, closer: closer, responses: responses, endStreams: streams.end, watch: watch, live: live, metrics: m,
		draining: draining, open: openNow, logger: logger, stopHealth: stopHealth}, nil
}

// catalogVersions tells the response cache whether the catalog
// collection an answer was built from is still this replica's current
// one (see catalog.Cached.Version).
type catalogVersions struct{ catalog *catalog.Cached }

func (v catalogVersions) Current(key, version string) bool {
	got, ok := v.catalog.Version(key)
	return ok && got == version
}

func (c *Config) applyDefaults() {
	if c.DefaultMonthlyRate == "" {
		c.DefaultMonthlyRate = DefaultMonthlyRate
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxAttachmentBytes == 0 {
		c.MaxAttachmentBytes = registration.DefaultMaxFileBytes
	}
	if c.MaxAttachmentsTotalBytes == 0 {
		c.MaxAttachmentsTotalBytes = registration.DefaultMaxTotalBytes
	}
	if c.MaxAttachments == 0 {
		c.MaxAttachments = registration.DefaultMaxFiles
	}
	if c.UploadBudgetBytes == 0 {
		c.UploadBudgetBytes = 2 * (c.MaxAttachmentsTotalBytes + c.MaxBodyBytes)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.CatalogCache == (cache.Policy{}) {
		c.CatalogCache = DefaultCatalogCache()
	}
	if c.CatalogCredentialCheck == 0 {
		c.CatalogCredentialCheck = c.CatalogCache.Fresh
	}
	if c.CustomerCache == (cache.Policy{}) {
		c.CustomerCache = DefaultCustomerCache()
	}
	if c.MemoryCacheEntries <= 0 {
		c.MemoryCacheEntries = DefaultMemoryCacheEntries
	}
	if c.RedisPrefix == "" {
		c.RedisPrefix = DefaultRedisPrefix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Hardening.applyDefaults()
}

// newTransport is an HTTP transport with pooled connections and bounded
// dials; the per-call deadline lives in the clients.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 200
	t.MaxIdleConnsPerHost = 50
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

// withDeadline bounds each request's context. Streams (websocket
// upgrades, SSE) get no deadline, a subscription lives as long as its
// connection, but end when streams does; their queries and mutations get
// the deadline from streamDeadline.
func withDeadline(d time.Duration, streams *streamSet, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			serveStream(streams, next, w, r)
			return
		}
		end := time.Now().Add(d)
		// Armed only if something waits on it: a cached answer never does.
		ctx, cancel := deadline.WithDeadline(r.Context(), end)
		defer cancel()
		// The deadline must bound reading the body too: a client that
		// stalls mid-upload would otherwise hold its connection and memory.
		_ = http.NewResponseController(w).SetReadDeadline(end)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// limitBody bounds a request body to n bytes, or to uploads bytes for a
// multipart (file upload) request.
func limitBody(n, uploads int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := n
		if edgetransport.IsMultipart(r) {
			limit = uploads
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
