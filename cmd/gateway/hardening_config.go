package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/resilience"
	"github.com/serfigas/brilla-gateway/internal/edge/limits"
	"github.com/serfigas/brilla-gateway/internal/edge/persisted"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// hardeningFlags declares the operator's knobs (limits, persisted
// queries, resilience, rate limits, observability, CORS) and returns a
// function that, after parsing, fills o and reports every bad value.
func hardeningFlags(fs *flag.FlagSet, env func(name, def string) string, o *options) func() []error {
	h := &o.gateway.Hardening
	var depth, aliases, complexity, introspection, apqTTL, trusted string
	var attempts, failures, openFor, rlKey, rlCustomer, rlIP, corsOrigins, proxies, csrf string
	var metricsOperations, maxTokens, maxFields, maxRepeats, corsHeaders string
	var playgroundOn, playgroundPersist string
	fs.StringVar(&depth, "max-depth", env("MAX_DEPTH", "10"), "deepest selection an operation may have; -1 disables (MAX_DEPTH)")
	fs.StringVar(&aliases, "max-aliases", env("MAX_ALIASES", "50"), "most aliased fields in one operation; -1 disables (MAX_ALIASES)")
	fs.StringVar(&complexity, "max-complexity", env("MAX_COMPLEXITY", "5000"), "highest estimated cost of an operation (lists count by their `first`); -1 disables (MAX_COMPLEXITY)")
	fs.StringVar(&maxTokens, "max-tokens", env("MAX_TOKENS", strconv.Itoa(limits.DefaultMaxTokens)), "most parser tokens a document may have, checked before it is parsed further; -1 disables (MAX_TOKENS)")
	fs.StringVar(&maxFields, "max-fields", env("MAX_FIELDS", strconv.Itoa(limits.DefaultMaxFields)), "most field selections an operation may have once its fragments are expanded; -1 disables (MAX_FIELDS)")
	fs.StringVar(&maxRepeats, "max-field-repeats", env("MAX_FIELD_REPEATS", strconv.Itoa(limits.DefaultMaxFieldRepeats)), "most times one place of the response may be selected; -1 disables (MAX_FIELD_REPEATS)")
	fs.StringVar(&introspection, "introspection", env("INTROSPECTION", "true"), "allow schema introspection (INTROSPECTION=false turns it off)")
	fs.StringVar(&apqTTL, "apq-ttl", env("APQ_TTL", persisted.DefaultTTL.String()), "how long an automatic persisted query stays registered (APQ_TTL)")
	fs.StringVar(&trusted, "trusted-documents", env("TRUSTED_DOCUMENTS", ""), "path of a persisted-query manifest: only its operations may run (TRUSTED_DOCUMENTS)")
	fs.StringVar(&attempts, "retry-attempts", env("RETRY_ATTEMPTS", strconv.Itoa(resilience.DefaultAttempts)), "tries of an upstream read, the first included (RETRY_ATTEMPTS)")
	fs.StringVar(&failures, "circuit-failures", env("CIRCUIT_FAILURES", strconv.Itoa(resilience.DefaultFailureThreshold)), "consecutive upstream failures that open its circuit (CIRCUIT_FAILURES)")
	fs.StringVar(&openFor, "circuit-open-for", env("CIRCUIT_OPEN_FOR", resilience.DefaultOpenFor.String()), "how long an open circuit fails fast before probing (CIRCUIT_OPEN_FOR)")
	d := server.DefaultRateLimits()
	fs.StringVar(&rlKey, "rate-limit-api-key", env("RATE_LIMIT_API_KEY", strconv.Itoa(d.APIKey.Rate)), "requests per minute per API key; 0 disables rate limiting (RATE_LIMIT_API_KEY)")
	fs.StringVar(&rlCustomer, "rate-limit-customer", env("RATE_LIMIT_CUSTOMER", strconv.Itoa(d.Customer.Rate)), "requests per minute per customer token (RATE_LIMIT_CUSTOMER)")
	fs.StringVar(&rlIP, "rate-limit-ip", env("RATE_LIMIT_IP", strconv.Itoa(d.IP.Rate)), "requests per minute per client address, for anonymous callers (RATE_LIMIT_IP)")
	fs.StringVar(&proxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated CIDRs of load balancers whose X-Forwarded-For names the client for per-address rate limits (TRUSTED_PROXIES)")
	fs.StringVar(&corsOrigins, "cors-origins", env("CORS_ORIGINS", ""), "comma-separated browser origins allowed to call the API from other sites, e.g. https://app.example.com; * allows any (CORS_ORIGINS)")
	fs.StringVar(&corsHeaders, "cors-allowed-headers", env("CORS_ALLOWED_HEADERS", strings.Join(server.DefaultCORSAllowedHeaders(), ",")), "comma-separated request headers pages on CORS_ORIGINS may send, besides the ones the gateway reads (Authorization, X-Api-Key, Content-Type, ...) (CORS_ALLOWED_HEADERS)")
	fs.StringVar(&csrf, "csrf-prevention", env("CSRF_PREVENTION", "false"), "refuse GET and form-like POST requests without a GraphQL-Preflight, Apollo-Require-Preflight or X-Apollo-Operation-Name header, so no page on another site can send them without a CORS preflight (CSRF_PREVENTION)")
	fs.StringVar(&o.otlpEndpoint, "otlp-endpoint", env("OTEL_EXPORTER_OTLP_ENDPOINT", ""), "OTLP/HTTP collector for traces, e.g. http://otel-collector:4318; empty: tracing off (OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.StringVar(&metricsOperations, "metrics-operations", env("METRICS_OPERATIONS", ""), "comma-separated operation names (your frontends') that keep their own metrics label even when sent anonymously (METRICS_OPERATIONS)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", env("METRICS_ADDR", ""), "serve /metrics on this separate (internal) address instead of the public one (METRICS_ADDR)")
	fs.StringVar(&playgroundOn, "playground", env("PLAYGROUND", "true"), "serve the GraphiQL playground at / (PLAYGROUND=false: / and its assets answer 404)")
	fs.StringVar(&playgroundPersist, "playground-persist-headers", env("PLAYGROUND_PERSIST_HEADERS", "false"), "let GraphiQL keep its headers (bearer tokens, API keys) in the browser's localStorage (PLAYGROUND_PERSIST_HEADERS)")

	return func() []error {
		var errs []error
		ints := []struct {
			name string
			raw  string
			min  int
			dst  *int
		}{
			{"MAX_DEPTH", depth, -1, &h.MaxDepth},
			{"MAX_ALIASES", aliases, -1, &h.MaxAliases},
			{"MAX_COMPLEXITY", complexity, -1, &h.MaxComplexity},
			{"MAX_TOKENS", maxTokens, -1, &h.MaxTokens},
			{"MAX_FIELDS", maxFields, -1, &h.MaxFields},
			{"MAX_FIELD_REPEATS", maxRepeats, -1, &h.MaxFieldRepeats},
			{"RETRY_ATTEMPTS", attempts, 1, &h.Retry.Attempts},
			{"CIRCUIT_FAILURES", failures, 1, &h.Retry.FailureThreshold},
		}
		for _, n := range ints {
			v, err := strconv.Atoi(strings.TrimSpace(n.raw))
			if err != nil || v < n.min || v == 0 {
				disable := ""
				if n.min < 0 {
					disable = " (or -1 to disable)"
				}
				errs = append(errs, fmt.Errorf("%s must be a positive whole number%s, got %q", n.name, disable, n.raw))
				continue
			}
			*n.dst = v
		}
		rates := []struct {
			name string
			raw  string
			dst  *ratelimit.Limit
		}{
			{"RATE_LIMIT_API_KEY", rlKey, &h.RateLimits.APIKey},
			{"RATE_LIMIT_CUSTOMER", rlCustomer, &h.RateLimits.Customer},
			{"RATE_LIMIT_IP", rlIP, &h.RateLimits.IP},
		}
		for _, r := range rates {
			v, err := strconv.Atoi(strings.TrimSpace(r.raw))
			if err != nil || v < 0 {
				errs = append(errs, fmt.Errorf("%s must be requests per minute (0 disables), got %q", r.name, r.raw))
				continue
			}
			if v == 0 {
				h.DisableRateLimits = true
				continue
			}
			*r.dst = ratelimit.PerMinute(v)
		}
		switch strings.ToLower(strings.TrimSpace(introspection)) {
		case "true", "1", "yes":
		case "false", "0", "no":
			h.DisableIntrospection = true
		default:
			errs = append(errs, fmt.Errorf("INTROSPECTION must be true or false, got %q", introspection))
		}
		for _, b := range []struct {
			name string
			raw  string
			dst  *bool
			when bool
		}{
			{"PLAYGROUND", playgroundOn, &h.DisablePlayground, false},
			{"PLAYGROUND_PERSIST_HEADERS", playgroundPersist, &h.PlaygroundPersistHeaders, true},
		} {
			switch strings.ToLower(strings.TrimSpace(b.raw)) {
			case "true", "1", "yes":
				*b.dst = b.when
			case "false", "0", "no":
				*b.dst = !b.when
			default:
				errs = append(errs, fmt.Errorf("%s must be true or false, got %q", b.name, b.raw))
			}
		}
		switch strings.ToLower(strings.TrimSpace(csrf)) {
		case "false", "0", "no", "":
		case "true", "1", "yes":
			h.CSRFPrevention = true
		default:
			errs = append(errs, fmt.Errorf("CSRF_PREVENTION must be true or false, got %q", csrf))
		}
		for _, dur := range []struct {
			name string
			raw  string
			dst  *time.Duration
		}{{"APQ_TTL", apqTTL, &h.APQTTL}, {"CIRCUIT_OPEN_FOR", openFor, &h.Retry.OpenFor}} {
			v, err := time.ParseDuration(dur.raw)
			if err != nil || v <= 0 {
				errs = append(errs, fmt.Errorf("%s must be a positive duration such as 10s, got %q", dur.name, dur.raw))
				continue
			}
			*dur.dst = v
		}
		if trusted != "" {
			m, err := persisted.LoadManifest(trusted)
			if err != nil {
				errs = append(errs, err)
			}
			h.TrustedDocuments = m
		}
		if p, err := ratelimit.ParsePrefixes(proxies); err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
		} else {
			h.TrustedProxies = p
		}
		for _, origin := range strings.Split(corsOrigins, ",") {
			if origin = strings.TrimSpace(origin); origin != "" {
				h.CORSOrigins = append(h.CORSOrigins, origin)
			}
		}
		for _, name := range strings.Split(corsHeaders, ",") {
			name = strings.TrimSpace(name)
			switch {
			case name == "":
			case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }):
				errs = append(errs, fmt.Errorf("CORS_ALLOWED_HEADERS: %q is not a header name", name))
			default:
				h.CORSAllowedHeaders = append(h.CORSAllowedHeaders, name)
			}
		}
		for _, name := range strings.Split(metricsOperations, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.MetricsOperations = append(h.MetricsOperations, name)
			}
		}
		h.SeparateMetrics = o.metricsAddr != ""
		return errs
	}
}

// withConfigFile layers an optional KEY=VALUE file (-config path, or
// CONFIG_FILE) under the environment: the process environment wins over
// the file, and flags win over both. Blank lines and # comments are
// skipped; values may be quoted.
func withConfigFile(args []string, getenv func(string) string) (func(string) string, error) {
	path := getenv("CONFIG_FILE")
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		switch {
		case hasValue:
			path = value
		case i+1 < len(args):
			path = args[i+1]
		}
	}
	if path == "" {
		return getenv, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	file := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("config file %s:%d: want KEY=VALUE", path, n)
		}
		value = strings.TrimSpace(value)
		if uq, err := strconv.Unquote(value); err == nil {
			value = uq
		}
		file[strings.TrimSpace(key)] = value
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, nil
}
