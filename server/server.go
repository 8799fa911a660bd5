// Package server assembles the gateway: upstream clients, access control,
// the gqlgen server with its transports and extensions, the playground and
// the health endpoint, behind one http.Handler.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
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
	"github.com/serfigas/brilla-gateway/catalog"
	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/loaders"
	"github.com/serfigas/brilla-gateway/playground"
	"github.com/serfigas/brilla-gateway/resolvers"
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
	// Playground is what the GraphiQL page pre-fills.
	PlaygroundHeaders string
	PlaygroundQuery   string
	// Logger receives error logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Defaults of Config's optional fields.
const (
	DefaultMonthlyRate     = "1.99"
	DefaultUpstreamTimeout = 10 * time.Second
	DefaultMaxBodyBytes    = 1 << 20
)

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
	return errors.Join(errs...)
}

// New validates cfg and returns the gateway's handler.
func New(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DefaultMonthlyRate == "" {
		cfg.DefaultMonthlyRate = DefaultMonthlyRate
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	keys, err := auth.NewKeyStore(cfg.APIKeys, cfg.SerpiSecretKey, cfg.SerpiToken)
	if err != nil {
		return nil, err
	}
	rate, _ := wire.ParseDecimal(cfg.DefaultMonthlyRate)

	httpClient := &http.Client{Transport: newTransport()}
	brillaClient := brilla.NewClient(cfg.BrillaURL, brilla.WithHTTPClient(httpClient), brilla.WithTimeout(cfg.UpstreamTimeout))
	serpiClient := serpi.NewClient(cfg.SerpiURL, serpi.WithHTTPClient(httpClient), serpi.WithTimeout(cfg.UpstreamTimeout))

	root := &resolvers.Resolver{
		Brilla:             brillaClient,
		CustomerSerpi:      serpi.Credential{SecretKey: cfg.SerpiSecretKey, Token: cfg.SerpiToken},
		DefaultMonthlyRate: model.Decimal(rate),
	}
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root, Directives: resolvers.Directives()}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	gql.AddTransport(transport.POST{})
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	gql.Use(extension.Introspection{})
	gql.Use(loaders.Middleware{Brilla: brillaClient, Catalog: catalog.NewLoader(serpiClient, 0)})
	gql.SetErrorPresenter(apperr.Presenter(logger))
	gql.SetRecoverFunc(apperr.Recover(logger))

	mux := http.NewServeMux()
	mux.Handle("/graphql", limitBody(cfg.MaxBodyBytes, keys.Middleware(gql)))
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
	return mux, nil
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

func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}
