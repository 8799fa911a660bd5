package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/registration"
	"github.com/serfigas/brilla-gateway/internal/registration/regwatch"
)

// options are the command line, each flag defaulting to its environment
// variable so that deployments configure by environment and people by flag.
type options struct {
	addr        string
	demo        bool
	hashKey     string
	apiKeys     string
	gateway     server.Config
	simLatency  time.Duration
	simRegDelay time.Duration
	// otlpEndpoint enables trace export; metricsAddr moves /metrics to an
	// internal listener.
	otlpEndpoint string
	metricsAddr  string
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

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	getenv, err := withConfigFile(args, getenv)
	if err != nil {
		return nil, err
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", getenv("CONFIG_FILE"), "optional KEY=VALUE file of settings under the environment (CONFIG_FILE)")
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var timeout, reqTimeout, latency, regDelay string
	var catalogFresh, catalogStale, customerFresh, customerStale string
	catalogDefault, customerDefault := server.DefaultCatalogCache(), server.DefaultCustomerCache()
	fs.StringVar(&o.addr, "addr", env("ADDR", ""), "listen address (ADDR); default :8080, or 127.0.0.1:8080 with -demo")
	fs.BoolVar(&o.demo, "demo", false, "run with in-process simulated upstreams and demo credentials")
	fs.StringVar(&o.gateway.BrillaURL, "brilla-url", getenv("BRILLA_URL"), "Brilla base URL (BRILLA_URL)")
	fs.StringVar(&o.gateway.SerpiURL, "serpi-url", getenv("SERPI_URL"), "SERPI base URL (SERPI_URL)")
	fs.StringVar(&o.gateway.SerpiSecretKey, "serpi-secret-key", getenv("SERPI_SECRET_KEY"), "SERPI secret key (SERPI_SECRET_KEY)")
	fs.StringVar(&o.gateway.SerpiToken, "serpi-token", getenv("SERPI_TOKEN"), "SERPI token (SERPI_TOKEN)")
	fs.StringVar(&o.apiKeys, "api-keys", getenv("API_KEYS"), "API keys: a JSON array of {name, sha256, scopes, serpiToken}, or @path to a file holding it (API_KEYS)")
	fs.StringVar(&o.gateway.DefaultMonthlyRate, "default-monthly-rate", env("DEFAULT_MONTHLY_RATE", server.DefaultMonthlyRate), "creditQuote's default monthly rate in percent (DEFAULT_MONTHLY_RATE)")
	fs.StringVar(&timeout, "upstream-timeout", env("UPSTREAM_TIMEOUT", server.DefaultUpstreamTimeout.String()), "deadline of each upstream call (UPSTREAM_TIMEOUT)")
	fs.StringVar(&reqTimeout, "request-timeout", env("REQUEST_TIMEOUT", server.DefaultRequestTimeout.String()), "deadline of a whole GraphQL request, waiting for upstream turns included (REQUEST_TIMEOUT)")
	fs.StringVar(&latency, "sim-latency", env("SIM_LATENCY", "0s"), "with -demo: latency added to every simulated upstream call (SIM_LATENCY)")
	fs.StringVar(&regDelay, "sim-registration-delay", env("SIM_REGISTRATION_DELAY", "30s"), "with -demo: delay before a simulated registration is decided (SIM_REGISTRATION_DELAY)")
	fs.StringVar(&o.gateway.RedisURL, "redis-url", getenv("REDIS_URL"), "Redis for the shared cache and serializer: redis://, rediss://, redis-sentinel://, redis-cluster:// (REDIS_URL; empty: memory only)")
	fs.StringVar(&o.gateway.RedisPrefix, "redis-prefix", env("REDIS_PREFIX", server.DefaultRedisPrefix), "prefix of every Redis key (REDIS_PREFIX)")
	fs.StringVar(&o.gateway.CacheSecret, "cache-secret", getenv("CACHE_SECRET"), "HMAC secret for customer cache keys, the same on every replica; required with REDIS_URL (CACHE_SECRET)")
	fs.StringVar(&catalogFresh, "catalog-cache-fresh", env("CATALOG_CACHE_FRESH", catalogDefault.Fresh.String()), "how long SERPI collections stay fresh (CATALOG_CACHE_FRESH)")
	fs.StringVar(&catalogStale, "catalog-cache-stale", env("CATALOG_CACHE_STALE", catalogDefault.Stale.String()), "how long a stale SERPI collection is served while refreshed (CATALOG_CACHE_STALE)")
	fs.StringVar(&customerFresh, "customer-cache-fresh", env("CUSTOMER_CACHE_FRESH", customerDefault.Fresh.String()), "how long a customer's Brilla reads stay fresh (CUSTOMER_CACHE_FRESH)")
	fs.StringVar(&customerStale, "customer-cache-stale", env("CUSTOMER_CACHE_STALE", customerDefault.Stale.String()), "how long stale customer reads are served while refreshed (CUSTOMER_CACHE_STALE)")
	var credCheck, serpiPageSize string
	fs.StringVar(&credCheck, "catalog-credential-check", env("CATALOG_CREDENTIAL_CHECK", "0s"), "how often each API key's SERPI token is checked with SERPI, so a revoked one stops reading the cached catalog; 0s: the catalog freshness (CATALOG_CREDENTIAL_CHECK)")
	fs.StringVar(&serpiPageSize, "serpi-page-size", env("SERPI_PAGE_SIZE", strconv.Itoa(serpi.DefaultPageSize)), "records asked per page (\"limite\") when walking a SERPI collection (SERPI_PAGE_SIZE)")
	fs.BoolVar(&o.gateway.SerializeBrilla, "serialize-brilla", getenv("SERIALIZE_BRILLA") == "true", "one Brilla call in flight per customer token across replicas (SERIALIZE_BRILLA=true)")
	var attachBytes, attachTotal, attachCount, uploadBudget, keyWindow, dedupeWindow string
	fs.StringVar(&attachBytes, "max-attachment-bytes", env("MAX_ATTACHMENT_BYTES", strconv.FormatInt(registration.DefaultMaxFileBytes, 10)), "register: largest attachment, in bytes (MAX_ATTACHMENT_BYTES)")
	fs.StringVar(&attachTotal, "max-attachments-total-bytes", env("MAX_ATTACHMENTS_TOTAL_BYTES", strconv.FormatInt(registration.DefaultMaxTotalBytes, 10)), "register: largest sum of a registration's attachments, in bytes (MAX_ATTACHMENTS_TOTAL_BYTES)")
	fs.StringVar(&attachCount, "max-attachments", env("MAX_ATTACHMENTS", strconv.Itoa(registration.DefaultMaxFiles)), "register: most attachments per registration (MAX_ATTACHMENTS)")
	fs.StringVar(&uploadBudget, "upload-budget-bytes", env("UPLOAD_BUDGET_BYTES", "0"), "bytes of multipart uploads held in memory at once across all requests; an upload that does not fit is refused (503 RATE_LIMITED, Retry-After); 0: two maximum-size requests (UPLOAD_BUDGET_BYTES)")
	fs.StringVar(&keyWindow, "idempotency-key-window", env("IDEMPOTENCY_KEY_WINDOW", registration.DefaultKeyWindow.String()), "register: how long an Idempotency-Key is remembered (IDEMPOTENCY_KEY_WINDOW)")
	fs.StringVar(&dedupeWindow, "register-dedupe-window", env("REGISTER_DEDUPE_WINDOW", registration.DefaultInputWindow.String()), "register: how long an identical registration returns the first one's result (REGISTER_DEDUPE_WINDOW)")
	var pollMin, pollMax, wsPing, maxSubs, maxWebsockets, wsOrigins string
	fs.StringVar(&pollMin, "registration-poll-min", env("REGISTRATION_POLL_MIN", regwatch.DefaultPollMin.String()), "first interval between polls of a watched registration; doubles up to the max (REGISTRATION_POLL_MIN)")
	fs.StringVar(&pollMax, "registration-poll-max", env("REGISTRATION_POLL_MAX", regwatch.DefaultPollMax.String()), "longest interval between polls of a watched registration (REGISTRATION_POLL_MAX)")
	fs.StringVar(&maxSubs, "max-subscriptions-per-connection", env("MAX_SUBSCRIPTIONS_PER_CONNECTION", strconv.Itoa(server.DefaultSubscriptionsPerConnection)), "subscriptions one websocket may run at once (MAX_SUBSCRIPTIONS_PER_CONNECTION)")
	fs.StringVar(&maxWebsockets, "max-websockets-per-address", env("MAX_WEBSOCKETS_PER_ADDRESS", strconv.Itoa(server.DefaultWebsocketsPerAddress)), "websockets one client address may hold open at once; more are refused (429 RATE_LIMITED) (MAX_WEBSOCKETS_PER_ADDRESS)")
	fs.StringVar(&wsOrigins, "websocket-origins", getenv("WEBSOCKET_ORIGINS"), "comma-separated origins, besides the gateway's own, whose pages may open websockets: app.example.com, *.example.com, https://app.example.com (WEBSOCKET_ORIGINS)")
	fs.StringVar(&wsPing, "websocket-ping", env("WEBSOCKET_PING", server.DefaultWebsocketPing.String()), "interval of websocket pings and SSE keepalives (WEBSOCKET_PING)")
	fs.StringVar(&o.hashKey, "hash-api-key", "", "print the sha256 of an API key for API_KEYS and exit")
	fs.StringVar(&o.logLevel, "log-level", env("LOG_LEVEL", "info"), "lowest level logged: debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", getenv("LOG_FORMAT"), "json or text; default json, text with -demo (LOG_FORMAT)")
	finishHardening := hardeningFlags(fs, env, o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", fs.Arg(0))
	}
	if o.addr == "" {
		// The demo prints an API key that can write: it listens on this
		// machine only unless told otherwise.
		o.addr = defaultAddr
		if o.demo {
			o.addr = defaultDemoAddr
		}
	}
	errs := finishHardening()
	if _, err := observability.BuildLogger(io.Discard, o.logFormat, o.logLevel); err != nil {
		errs = append(errs, err)
	}
	durations := []struct {
		name string
		raw  string
		dst  *time.Duration
	}{
		{"UPSTREAM_TIMEOUT", timeout, &o.gateway.UpstreamTimeout},
		{"REQUEST_TIMEOUT", reqTimeout, &o.gateway.RequestTimeout},
		{"SIM_LATENCY", latency, &o.simLatency},
		{"SIM_REGISTRATION_DELAY", regDelay, &o.simRegDelay},
		{"CATALOG_CACHE_FRESH", catalogFresh, &o.gateway.CatalogCache.Fresh},
		{"CATALOG_CACHE_STALE", catalogStale, &o.gateway.CatalogCache.Stale},
		{"CUSTOMER_CACHE_FRESH", customerFresh, &o.gateway.CustomerCache.Fresh},
		{"CUSTOMER_CACHE_STALE", customerStale, &o.gateway.CustomerCache.Stale},
		{"CATALOG_CREDENTIAL_CHECK", credCheck, &o.gateway.CatalogCredentialCheck},
		{"IDEMPOTENCY_KEY_WINDOW", keyWindow, &o.gateway.IdempotencyKeyWindow},
		{"REGISTER_DEDUPE_WINDOW", dedupeWindow, &o.gateway.RegisterDedupeWindow},
		{"REGISTRATION_POLL_MIN", pollMin, &o.gateway.RegistrationPollMin},
		{"REGISTRATION_POLL_MAX", pollMax, &o.gateway.RegistrationPollMax},
		{"WEBSOCKET_PING", wsPing, &o.gateway.WebsocketPing},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(d.raw)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("%s must be a duration such as 10s, got %q", d.name, d.raw))
			continue
		}
		*d.dst = v
	}
	for _, n := range []struct {
		name string
		raw  string
		set  func(int64)
	}{
		{"MAX_ATTACHMENT_BYTES", attachBytes, func(v int64) { o.gateway.MaxAttachmentBytes = v }},
		{"MAX_ATTACHMENTS_TOTAL_BYTES", attachTotal, func(v int64) { o.gateway.MaxAttachmentsTotalBytes = v }},
		{"MAX_ATTACHMENTS", attachCount, func(v int64) { o.gateway.MaxAttachments = int(v) }},
	} {
		v, err := strconv.ParseInt(strings.TrimSpace(n.raw), 10, 32)
		if err != nil || v < 1 {
			errs = append(errs, fmt.Errorf("%s must be a positive whole number, got %q", n.name, n.raw))
			continue
		}
		n.set(v)
	}
	if v, err := strconv.ParseInt(strings.TrimSpace(uploadBudget), 10, 64); err != nil || v < 0 {
		errs = append(errs, fmt.Errorf("UPLOAD_BUDGET_BYTES must be a whole number of bytes (0: two maximum-size uploads), got %q", uploadBudget))
	} else {
		o.gateway.UploadBudgetBytes = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(serpiPageSize)); err != nil || v < 1 || v > server.MaxSerpiPageSize {
		errs = append(errs, fmt.Errorf("SERPI_PAGE_SIZE must be a whole number from 1 to %d, got %q", server.MaxSerpiPageSize, serpiPageSize))
	} else {
		o.gateway.SerpiPageSize = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(maxSubs)); err != nil || v < 1 {
		errs = append(errs, fmt.Errorf("MAX_SUBSCRIPTIONS_PER_CONNECTION must be a positive whole number, got %q", maxSubs))
	} else {
		o.gateway.SubscriptionsPerConnection = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(maxWebsockets)); err != nil || v < 1 {
		errs = append(errs, fmt.Errorf("MAX_WEBSOCKETS_PER_ADDRESS must be a positive whole number, got %q", maxWebsockets))
	} else {
		o.gateway.WebsocketsPerAddress = v
	}
	for _, origin := range strings.Split(wsOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.gateway.WebsocketOrigins = append(o.gateway.WebsocketOrigins, origin)
		}
	}
	if o.apiKeys != "" {
		keys, err := loadKeys(o.apiKeys)
		if err != nil {
			errs = append(errs, err)
		}
		o.gateway.APIKeys = keys
	}
	return o, errors.Join(errs...)
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
