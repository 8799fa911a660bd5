package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/resilience"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/limits"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/respcache"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/registration"
	"github.com/serfigas/brilla-gateway/internal/registration/regwatch"
)

// options are the command line and the settings: deployments configure by
// environment (or a file, or mounted secrets), people by flag.
type options struct {
	addr        string
	demo        bool
	version     bool
	printConfig bool
	hashKey     string
	printSchema bool
	gateway     server.Config
	simLatency  time.Duration
	simRegDelay time.Duration
	// otlpEndpoint enables trace export; metricsAddr moves /metrics to an
	// internal listener.
	otlpEndpoint string
	metricsAddr  string
	// loaded is where each setting came from, for -h and -print-config.
	loaded *loaded
	// logLevel and logFormat build the logger (observability.BuildLogger).
	logLevel  string
	logFormat string
}

// Listen addresses when neither -addr nor ADDR says: every interface in
// production (a container's), this machine only for the demo.
const (
	defaultAddr     = ":8080"
	defaultDemoAddr = "127.0.0.1:8080"
)

// actionFlags are the flags that are no setting, in the order -h lists
// them.
var actionFlags = []string{"demo", "config", "print-config", "print-schema", "version", "hash-api-key"}

// loadOptions reads every source and returns the options with every
// problem the sources have (unknown flags or keys, unparsable values,
// unreadable files); semantic checks are validate's.
func loadOptions(args []string, getenv func(string) string) (*options, []error) {
	o := &options{}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.BoolVar(&o.demo, "demo", false, "run with in-process simulated upstreams and demo credentials")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration (every key, its value, where it came from; secrets masked) and exit")
	fs.BoolVar(&o.version, "version", false, "print the version, VCS revision and Go version, and exit")
	fs.StringVar(&o.hashKey, "hash-api-key", "", "print the sha256 of an API key for API_KEYS and exit")
	fs.BoolVar(&o.printSchema, "print-schema", false, "print the served schema as SDL (what schema.graphql holds) and exit")
	t := gatewaySettings(o)
	o.loaded = t.load(fs, args, getenv, &o.demo)
	return o, o.loaded.problems
}

// parseOptions is loadOptions with its problems joined.
func parseOptions(args []string, getenv func(string) string) (*options, error) {
	o, problems := loadOptions(args, getenv)
	return o, errors.Join(problems...)
}

// validate is server.Config's own check, API keys included, of what the
// gateway will run with: under -demo, an upstream left unset is the
// simulator.
func (o *options) validate() error {
	cfg := o.gateway
	if o.demo {
		if cfg.BrillaURL == "" {
			cfg.BrillaURL = "http://127.0.0.1"
		}
		if cfg.SerpiURL == "" {
			cfg.SerpiURL = "http://127.0.0.1"
		}
	}
	return cfg.Validate()
}

// gatewaySettings declares every setting, bound to o.
func gatewaySettings(o *options) *settings {
	t := &settings{}
	g := &o.gateway
	h := &g.Hardening
	const (
		positive   = "a positive whole number"
		orDisabled = "a positive whole number (or -1 to disable)"
		perMinute  = "requests per minute (0 disables rate limiting)"
		positiveD  = "a positive duration such as 10s"
		durationD  = "a duration such as 10s"
	)
	maxInt := int64(math.MaxInt32)
	setInt := func(dst *int) func(int64) { return func(v int64) { *dst = int(v) } }
	setInt64 := func(dst *int64) func(int64) { return func(v int64) { *dst = v } }
	atLeast := func(lo int64) func(int64) bool { return func(v int64) bool { return v >= lo && v <= maxInt } }
	// A limit is positive, or -1 to disable; 0 would silently mean the default.
	limit := func(dst *int, key, flagName string, def int, usage string) {
		t.integer(setInt(dst), key, flagName, int64(def), func(v int64) bool { return v == -1 || v >= 1 && v <= maxInt }, orDisabled, usage)
	}

	t.str(&o.addr, "ADDR", "addr", defaultAddr, "listen address (the demo prints a key that can write, so it stays on this machine unless told otherwise)").
		withDemoDefault(defaultDemoAddr)
	t.str(&g.BrillaURL, "BRILLA_URL", "brilla-url", "", "Brilla base URL, e.g. https://api.serfigas.com (required; the simulator with -demo)")
	t.str(&g.SerpiURL, "SERPI_URL", "serpi-url", "", "SERPI base URL (required; the simulator with -demo)")
	t.secretStr(&g.SerpiSecretKey, "SERPI_SECRET_KEY", "serpi-secret-key", "SERPI secret key (required)").withDemoDefault(demoSerpiSecret)
	t.secretStr(&g.SerpiToken, "SERPI_TOKEN", "serpi-token", "SERPI token for customers' branches and keys without their own (required)").withDemoDefault(demoSerpiToken)
	apiKeys := t.add(&setting{key: "API_KEYS", flag: "api-keys", typ: "json", secret: true,
		usage: "API keys: a JSON array of {name, sha256, scopes, serpiToken}, or @path to a file holding it",
		parse: func(text string) error {
			if text == "" {
				g.APIKeys = nil
				return nil
			}
			keys, err := loadKeys(text)
			if err != nil {
				return err
			}
			g.APIKeys = keys
			return nil
		}})
	apiKeys.withDemoDefault(demoAPIKeys())
	t.str(&g.DefaultMonthlyRate, "DEFAULT_MONTHLY_RATE", "default-monthly-rate", server.DefaultMonthlyRate, "creditQuote's default monthly rate in percent")
	t.duration(&g.UpstreamTimeout, "UPSTREAM_TIMEOUT", "upstream-timeout", server.DefaultUpstreamTimeout, time.Nanosecond, positiveD, "deadline of each upstream call")
	t.duration(&g.RequestTimeout, "REQUEST_TIMEOUT", "request-timeout", server.DefaultRequestTimeout, time.Nanosecond, positiveD, "deadline of a whole GraphQL request, waiting for upstream turns included")
	t.add(&setting{key: "LOG_LEVEL", flag: "log-level", typ: "string", def: "info", usage: "lowest level logged: debug, info, warn or error",
		parse: func(text string) error {
			if _, err := observability.BuildLogger(io.Discard, "", text); err != nil {
				return err
			}
			o.logLevel = text
			return nil
		}})
	t.add(&setting{key: "LOG_FORMAT", flag: "log-format", typ: "string", usage: "json or text; default json, text with -demo",
		parse: func(text string) error {
			if _, err := observability.BuildLogger(io.Discard, text, ""); err != nil {
				return err
			}
			o.logFormat = text
			return nil
		}})
	t.str(&g.RedisURL, "REDIS_URL", "redis-url", "", "Redis for the shared cache and serializer: redis://, rediss://, redis-sentinel://, redis-cluster:// (empty: memory only)")
	t.str(&g.RedisPrefix, "REDIS_PREFIX", "redis-prefix", server.DefaultRedisPrefix, "prefix of every Redis key")
	t.secretStr(&g.CacheSecret, "CACHE_SECRET", "cache-secret", "HMAC secret for customer cache keys, the same on every replica; required with REDIS_URL (16+ characters)").
		withDemoDefault(demoCacheSecret)
	catalog, customer := server.DefaultCatalogCache(), server.DefaultCustomerCache()
	t.duration(&g.CatalogCache.Fresh, "CATALOG_CACHE_FRESH", "catalog-cache-fresh", catalog.Fresh, time.Nanosecond, positiveD, "how long SERPI collections stay fresh")
	t.duration(&g.CatalogCache.Stale, "CATALOG_CACHE_STALE", "catalog-cache-stale", catalog.Stale, 0, durationD, "how long a stale SERPI collection is served while refreshed")
	t.duration(&g.CustomerCache.Fresh, "CUSTOMER_CACHE_FRESH", "customer-cache-fresh", customer.Fresh, time.Nanosecond, positiveD, "how long a customer's Brilla reads stay fresh")
	t.duration(&g.CustomerCache.Stale, "CUSTOMER_CACHE_STALE", "customer-cache-stale", customer.Stale, 0, durationD, "how long stale customer reads are served while refreshed")
	t.duration(&g.CatalogCredentialCheck, "CATALOG_CREDENTIAL_CHECK", "catalog-credential-check", 0, 0, durationD+" (0s: the catalog freshness)",
		"how often each API key's SERPI token is checked with SERPI, so a revoked one stops reading the cached catalog; 0s: the catalog freshness")
	t.integer(setInt(&g.SerpiPageSize), "SERPI_PAGE_SIZE", "serpi-page-size", serpi.DefaultPageSize, func(v int64) bool { return v >= 1 && v <= server.MaxSerpiPageSize },
		fmt.Sprintf("a whole number from 1 to %d", server.MaxSerpiPageSize), "records asked per page (\"limite\") when walking a SERPI collection")
	t.integer(setInt64(&g.ResponseCacheBytes), "RESPONSE_CACHE_BYTES", "response-cache-bytes", respcache.DefaultMemoryBytes, func(v int64) bool { return v == -1 || v >= 1<<20 },
		"a whole number of bytes, at least 1048576 (1 MiB), or -1", "bytes of answers the operation response cache keeps in memory per replica (with REDIS_URL also shared in Redis); -1 turns the response cache off")
	t.boolean(&g.SerializeBrilla, "SERIALIZE_BRILLA", "serialize-brilla", false, "one Brilla call in flight per customer token across replicas")
	t.integer(setInt64(&g.MaxAttachmentBytes), "MAX_ATTACHMENT_BYTES", "max-attachment-bytes", registration.DefaultMaxFileBytes, atLeast(1), positive, "register: largest attachment, in bytes")
	t.integer(setInt64(&g.MaxAttachmentsTotalBytes), "MAX_ATTACHMENTS_TOTAL_BYTES", "max-attachments-total-bytes", registration.DefaultMaxTotalBytes, atLeast(1), positive, "register: largest sum of a registration's attachments, in bytes")
	t.integer(setInt(&g.MaxAttachments), "MAX_ATTACHMENTS", "max-attachments", registration.DefaultMaxFiles, atLeast(1), positive, "register: most attachments per registration")
	t.integer(setInt64(&g.UploadBudgetBytes), "UPLOAD_BUDGET_BYTES", "upload-budget-bytes", 0, func(v int64) bool { return v >= 0 }, "a whole number of bytes (0: two maximum-size uploads)",
		"bytes of multipart uploads held in memory at once across all requests; an upload that does not fit is refused (503 RATE_LIMITED, Retry-After); 0: two maximum-size requests")
	t.duration(&g.IdempotencyKeyWindow, "IDEMPOTENCY_KEY_WINDOW", "idempotency-key-window", registration.DefaultKeyWindow, time.Nanosecond, positiveD, "register: how long an Idempotency-Key is remembered")
	t.duration(&g.RegisterDedupeWindow, "REGISTER_DEDUPE_WINDOW", "register-dedupe-window", registration.DefaultInputWindow, time.Nanosecond, positiveD, "register: how long an identical registration returns the first one's result")
	t.duration(&g.RegistrationPollMin, "REGISTRATION_POLL_MIN", "registration-poll-min", regwatch.DefaultPollMin, time.Nanosecond, positiveD, "interval between polls of a watched registration in its first minute (at most 1s), then the first of a backoff doubling up to the max")
	t.duration(&g.RegistrationPollMax, "REGISTRATION_POLL_MAX", "registration-poll-max", regwatch.DefaultPollMax, time.Nanosecond, positiveD, "longest interval between polls of a watched registration")
	t.integer(setInt(&g.SubscriptionsPerConnection), "MAX_SUBSCRIPTIONS_PER_CONNECTION", "max-subscriptions-per-connection", server.DefaultSubscriptionsPerConnection, atLeast(1), positive, "subscriptions one websocket may run at once")
	t.integer(setInt(&g.WebsocketsPerAddress), "MAX_WEBSOCKETS_PER_ADDRESS", "max-websockets-per-address", server.DefaultWebsocketsPerAddress, atLeast(1), positive, "websockets one client address may hold open at once; more are refused (429 RATE_LIMITED)")
	t.list(&g.WebsocketOrigins, "WEBSOCKET_ORIGINS", "websocket-origins", "", "origins, besides the gateway's own, whose pages may open websockets: app.example.com, *.example.com, https://app.example.com", nil)
	t.duration(&g.WebsocketPing, "WEBSOCKET_PING", "websocket-ping", server.DefaultWebsocketPing, time.Nanosecond, positiveD, "interval of websocket pings and SSE keepalives")

	limit(&h.MaxDepth, "MAX_DEPTH", "max-depth", limits.DefaultMaxDepth, "deepest selection an operation may have; -1 disables")
	limit(&h.MaxAliases, "MAX_ALIASES", "max-aliases", limits.DefaultMaxAliases, "most aliased fields in one operation; -1 disables")
	limit(&h.MaxComplexity, "MAX_COMPLEXITY", "max-complexity", limits.DefaultMaxComplexity, "highest estimated cost of an operation (lists count by their first); -1 disables")
	limit(&h.MaxTokens, "MAX_TOKENS", "max-tokens", limits.DefaultMaxTokens, "most parser tokens a document may have, checked before it is parsed further; -1 disables")
	limit(&h.MaxFields, "MAX_FIELDS", "max-fields", limits.DefaultMaxFields, "most field selections an operation may have once its fragments are expanded; -1 disables")
	limit(&h.MaxFieldRepeats, "MAX_FIELD_REPEATS", "max-field-repeats", limits.DefaultMaxFieldRepeats, "most times one place of the response may be selected; -1 disables")
	t.add(&setting{key: "INTROSPECTION", flag: "introspection", typ: "bool", def: "true", usage: "allow schema introspection",
		parse: func(text string) error {
			allow, err := parseBool("INTROSPECTION", text)
			if err == nil {
				h.DisableIntrospection = !allow
			}
			return err
		}})
	t.add(&setting{key: "PLAYGROUND", flag: "playground", typ: "bool", def: "true", usage: "serve the GraphiQL playground at / (false: / and its assets answer 404)",
		parse: func(text string) error {
			on, err := parseBool("PLAYGROUND", text)
			if err == nil {
				h.DisablePlayground = !on
			}
			return err
		}})
	t.boolean(&h.PlaygroundPersistHeaders, "PLAYGROUND_PERSIST_HEADERS", "playground-persist-headers", false,
		"let GraphiQL keep its headers (bearer tokens, API keys) in the browser's localStorage")
	t.duration(&h.APQTTL, "APQ_TTL", "apq-ttl", persisted.DefaultTTL, time.Nanosecond, positiveD, "how long an automatic persisted query stays registered")
	t.add(&setting{key: "TRUSTED_DOCUMENTS", flag: "trusted-documents", typ: "path",
		usage: "path of a persisted-query manifest: only its operations may run",
		parse: func(path string) error {
			h.TrustedDocuments = nil
			if path == "" {
				return nil
			}
			m, err := persisted.LoadManifest(path)
			if err != nil {
				return err
			}
			h.TrustedDocuments = m
			return nil
		}})
	t.integer(setInt(&h.Retry.Attempts), "RETRY_ATTEMPTS", "retry-attempts", resilience.DefaultAttempts, atLeast(1), positive, "tries of an upstream read, the first included")
	t.integer(setInt(&h.Retry.FailureThreshold), "CIRCUIT_FAILURES", "circuit-failures", resilience.DefaultFailureThreshold, atLeast(1), positive, "consecutive upstream failures that open its circuit")
	t.duration(&h.Retry.OpenFor, "CIRCUIT_OPEN_FOR", "circuit-open-for", resilience.DefaultOpenFor, time.Nanosecond, positiveD, "how long an open circuit fails fast before probing")
	rates := server.DefaultRateLimits()
	// 0 in any of the three turns rate limiting off.
	var off [3]bool
	rate := func(i int, dst *ratelimit.Limit, key, flagName string, def int, usage string) {
		t.integer(func(v int64) {
			off[i] = v == 0
			h.DisableRateLimits = off[0] || off[1] || off[2]
			if v > 0 {
				*dst = ratelimit.PerMinute(int(v))
			}
		}, key, flagName, int64(def), atLeast(0), perMinute, usage)
	}
	rate(0, &h.RateLimits.APIKey, "RATE_LIMIT_API_KEY", "rate-limit-api-key", rates.APIKey.Rate, "requests per minute per API key; 0 disables rate limiting")
	rate(1, &h.RateLimits.Customer, "RATE_LIMIT_CUSTOMER", "rate-limit-customer", rates.Customer.Rate, "requests per minute per customer token")
	rate(2, &h.RateLimits.IP, "RATE_LIMIT_IP", "rate-limit-ip", rates.IP.Rate, "requests per minute per client address, for anonymous callers")
	t.add(&setting{key: "TRUSTED_PROXIES", flag: "trusted-proxies", typ: "list",
		usage: "CIDRs of load balancers whose X-Forwarded-For names the client for per-address rate limits",
		parse: func(text string) error {
			p, err := ratelimit.ParsePrefixes(text)
			if err != nil {
				return fmt.Errorf("TRUSTED_PROXIES: %w", err)
			}
			h.TrustedProxies = p
			return nil
		}})
	t.list(&h.CORSOrigins, "CORS_ORIGINS", "cors-origins", "", "browser origins allowed to call the API from other sites, e.g. https://app.example.com; * allows any", nil)
	t.list(&h.CORSAllowedHeaders, "CORS_ALLOWED_HEADERS", "cors-allowed-headers", strings.Join(server.DefaultCORSAllowedHeaders(), ","),
		"request headers pages on CORS_ORIGINS may send, besides the ones the gateway reads (Authorization, X-Api-Key, Content-Type, ...)", checkHeaderName)
	t.boolean(&h.CSRFPrevention, "CSRF_PREVENTION", "csrf-prevention", false, "refuse GET and form-like POST requests without a GraphQL-Preflight, Apollo-Require-Preflight or X-Apollo-Operation-Name header, so no page on another site can send them without a CORS preflight")
	t.str(&o.otlpEndpoint, "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp-endpoint", "", "OTLP/HTTP collector for traces, e.g. http://otel-collector:4318; empty: tracing off")
	t.list(&h.MetricsOperations, "METRICS_OPERATIONS", "metrics-operations", "", "operation names (your frontends') that keep their own metrics label even when sent anonymously", nil)
	t.str(&o.metricsAddr, "METRICS_ADDR", "metrics-addr", "", "serve /metrics on this separate (internal) address instead of the public one").parse = func(text string) error {
		o.metricsAddr = text
		h.SeparateMetrics = text != ""
		return nil
	}
	t.duration(&o.simLatency, "SIM_LATENCY", "sim-latency", 0, 0, durationD, "with -demo: latency added to every simulated upstream call")
	t.duration(&o.simRegDelay, "SIM_REGISTRATION_DELAY", "sim-registration-delay", 30*time.Second, 0, durationD, "with -demo: delay before a simulated registration is decided")
	return t
}

// checkHeaderName refuses what cannot be an HTTP header name.
func checkHeaderName(name string) error {
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
		return fmt.Errorf("%q is not a header name", name)
	}
	return nil
}

// demoAPIKeys is API_KEYS under -demo: the two keys the banner prints.
func demoAPIKeys() string {
	keys := []auth.KeyConfig{
		{Name: "demo", SHA256: auth.HashKey(demoKey), Scopes: []string{string(auth.ScopeCatalogRead), string(auth.ScopeCatalogWrite)}},
		{Name: "demo-readonly", SHA256: auth.HashKey(demoReadOnlyKey), Scopes: []string{string(auth.ScopeCatalogRead)}},
	}
	b, err := json.Marshal(keys)
	if err != nil {
		panic(err) // a fixed value of plain strings always marshals
	}
	return string(b)
}

func loadKeys(spec string) ([]auth.KeyConfig, error) {
	data := []byte(spec)
	if path, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("API_KEYS: %w", err)
		}
		data = b
	}
	return auth.ParseKeyConfigs(data)
}
