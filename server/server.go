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
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/serfigas/brilla-gateway/apperr"
	"github.com/serfigas/brilla-gateway/auth"
	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/brillacache"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/catalog"
	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/loaders"
	"github.com/serfigas/brilla-gateway/loginguard"
	"github.com/serfigas/brilla-gateway/playground"
	"github.com/serfigas/brilla-gateway/resolvers"
	"github.com/serfigas/brilla-gateway/serializer"
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
	// Logger receives error logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Defaults of Config's optional fields.
const (
	DefaultMonthlyRate        = "1.99"
	DefaultUpstreamTimeout    = 10 * time.Second
	DefaultMaxBodyBytes       = int64(1 << 20)
	DefaultRequestTimeout     = 30 * time.Second
	DefaultMemoryCacheEntries = 10_000
	DefaultRedisPrefix        = "gw:"
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
	return errors.Join(errs...)
}

// Gateway is the gateway's HTTP handler and the resources it holds.
type Gateway struct {
	http.Handler
	cache  *cache.Cache
	closer func() error
}

// Close stops background cache refreshes and closes the Redis client.
func (g *Gateway) Close() error {
	g.cache.Close()
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
	)
	if cfg.RedisURL != "" {
		rc, err := cache.NewClientFromURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		closer = rc.Close
		store = cache.NewResilient(cache.NewRedis(rc, cfg.RedisPrefix+"cache:"), memory, logger)
		logins = &loginguard.Fallback{
			Primary:   loginguard.NewRedis(rc, cfg.RedisPrefix, cfg.LoginPolicy),
			Secondary: logins,
			Logger:    logger,
		}
		serial = &serializer.Fallback{
			Primary:   serializer.NewRedis(rc, serializer.RedisOptions{Prefix: cfg.RedisPrefix + "ser:", Logger: logger, Local: local}),
			Secondary: local,
			Logger:    logger,
		}
	}
	shared := cache.New(store, logger)

	httpClient := &http.Client{Transport: newTransport()}
	brillaClient := brilla.NewClient(cfg.BrillaURL, brilla.WithHTTPClient(httpClient), brilla.WithTimeout(cfg.UpstreamTimeout))
	serpiClient := serpi.NewClient(cfg.SerpiURL, serpi.WithHTTPClient(httpClient), serpi.WithTimeout(cfg.UpstreamTimeout), serpi.WithSerializer(serial))
	var brillaOpts []brillacache.Option
	if cfg.SerializeBrilla {
		brillaOpts = append(brillaOpts, brillacache.WithSerializer(serial))
	}
	customerReads := brillacache.New(brillaClient, shared, cache.NewKeyer(secret), cfg.CustomerCache, brillaOpts...)
	catalogReads := catalog.NewCached(catalog.NewLoader(serpiClient, 0), shared, cfg.CatalogCache, 0)

	root := &resolvers.Resolver{
		Brilla:             brillaClient,
		Logins:             logins,
		Serpi:              serpiClient,
		Catalog:            catalogReads,
		CustomerSerpi:      serpi.Credential{SecretKey: cfg.SerpiSecretKey, Token: cfg.SerpiToken},
		DefaultMonthlyRate: model.Decimal(rate),
	}
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root, Directives: resolvers.Directives()}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	gql.AddTransport(transport.POST{})
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	gql.Use(extension.Introspection{})
	gql.Use(loaders.Middleware{Brilla: customerReads, Catalog: catalogReads})
	gql.SetErrorPresenter(apperr.Presenter(logger))
	gql.SetRecoverFunc(apperr.Recover(logger))

	mux := http.NewServeMux()
	mux.Handle("/graphql", limitBody(cfg.MaxBodyBytes, withDeadline(cfg.RequestTimeout, keys.Middleware(gql))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	playground.Register(mux, playground.Options{
		Title:          "Brilla + SERPI GraphQL",
		Endpoint:       "/graphql",
		DefaultHeaders: cfg.PlaygroundHeaders,
		DefaultQuery:   cfg.PlaygroundQuery,
	})
	return &Gateway{Handler: mux, cache: shared, closer: closer}, nil
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
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.CatalogCache == (cache.Policy{}) {
		c.CatalogCache = DefaultCatalogCache()
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

// withDeadline bounds each request's context. Websocket upgrades are left
// alone: a subscription lives as long as its connection.
func withDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}
