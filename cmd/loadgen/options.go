package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultQuery is a catalog read served from the gateway's catalog cache
// once warm: a filtered, paginated branch search plus a tax page.
const defaultQuery = `{ branches(first: 20, filter: {search: "cartagena"}) { totalCount edges { node { id description city { code } } } } taxes(first: 5) { totalCount } }`

// The -uncached workload: a 50-tax search whose term is a different
// spelling of uncachedWord on every request (case and accents vary; the
// catalog's search ignores both), so no response cache has seen the
// request while the answer, and so the floor's bytes, stay the same.
const (
	uncachedQuery = `query Taxes($term: String) { taxes(first: 50, filter: {search: $term}) { edges { node { id description rate } } } }`
	uncachedWord  = "reteica"
)

// Bounds that keep a run bounded whatever the flags say.
const (
	maxDuration    = 10 * time.Minute
	maxConcurrency = 4096
	maxReplicas    = 16
)

// options are the parsed flags.
type options struct {
	duration    time.Duration
	concurrency int
	latency     time.Duration
	replicas    int
	redisURL    string
	rateLimit   bool
	query       string
	uncached    bool
	simURL      string
	gatewayURL  string
	apiKey      string
	maxRequests int
	json        bool
	cpuProfile  string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each load phase (gateway, then raw floor)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent workers, each with one request in flight")
	fs.DurationVar(&o.latency, "latency", 15*time.Millisecond, "simulated latency of every upstream call (in-process simulator only)")
	fs.IntVar(&o.replicas, "replicas", 1, "gateway replicas in this process, requests spread round-robin; >1 needs -redis-url")
	fs.BoolVar(&o.rateLimit, "rate-limit", false, "keep the gateway's per-client rate limits on (the load is one client)")
	fs.StringVar(&o.redisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis shared by the replicas (default $REDIS_URL); keys go under a per-run prefix")
	fs.StringVar(&o.query, "query", "", "GraphQL query every request sends (with an API key holding catalog:read); default: the branch search, or with -uncached the tax search")
	fs.BoolVar(&o.uncached, "uncached", false, "send variables {\"term\": ...} with a different spelling of \""+uncachedWord+"\" per request (the uncached path; -query must then declare $term)")
	fs.StringVar(&o.simURL, "sim-url", "", "use this running cmd/upstream-sim (loopback) instead of an in-process simulator")
	fs.StringVar(&o.gatewayURL, "gateway-url", "", "load this running gateway (loopback, e.g. http://127.0.0.1:18082) instead of in-process replicas; needs -sim-url (the simulator it reads) and -api-key, and reports its peak RSS from its /metrics")
	fs.StringVar(&o.apiKey, "api-key", "", "with -gateway-url: an API key of that gateway holding catalog:read")
	fs.IntVar(&o.maxRequests, "max-requests", 200_000, "hard cap on requests per phase")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (gateway, simulator and load) during the gateway phase to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	if o.duration <= 0 || o.duration > maxDuration {
		errs = append(errs, fmt.Errorf("-duration must be within (0, %s], got %s", maxDuration, o.duration))
	}
	if o.concurrency < 1 || o.concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("-concurrency must be within 1..%d, got %d", maxConcurrency, o.concurrency))
	}
	if o.latency < 0 {
		errs = append(errs, errors.New("-latency must not be negative"))
	}
	if o.replicas < 1 || o.replicas > maxReplicas {
		errs = append(errs, fmt.Errorf("-replicas must be within 1..%d, got %d", maxReplicas, o.replicas))
	}
	if o.replicas > 1 && o.redisURL == "" {
		errs = append(errs, errors.New("-replicas > 1 needs -redis-url (or REDIS_URL): replicas share their cache and SERPI serializer through Redis"))
	}
	if o.maxRequests < 1 {
		errs = append(errs, errors.New("-max-requests must be at least 1"))
	}
	switch {
	case o.query == "" && o.uncached:
		o.query = uncachedQuery
	case o.query == "":
		o.query = defaultQuery
	case strings.TrimSpace(o.query) == "":
		errs = append(errs, errors.New("-query must not be empty"))
	case o.uncached && !strings.Contains(o.query, "$term"):
		errs = append(errs, errors.New("-uncached sends the variable $term; -query must declare and use it"))
	}
	if o.gatewayURL != "" {
		if err := checkLoopbackURL(o.gatewayURL); err != nil {
			errs = append(errs, fmt.Errorf("-gateway-url: %w", err))
		}
		o.gatewayURL = strings.TrimRight(o.gatewayURL, "/")
		if o.simURL == "" || o.apiKey == "" || o.replicas > 1 {
			errs = append(errs, errors.New("-gateway-url needs -sim-url (the simulator that gateway reads) and -api-key, and runs one replica"))
		}
	}
	if o.simURL != "" {
		if err := checkLoopbackURL(o.simURL); err != nil {
			errs = append(errs, fmt.Errorf("-sim-url: %w", err))
		}
		o.simURL = strings.TrimRight(o.simURL, "/")
	}
	return errors.Join(errs...)
}

// checkLoopbackURL accepts an http URL whose host is a loopback address:
// load is only ever generated on this machine.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("want an http URL such as http://127.0.0.1:9090, got %q", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host must be a loopback address (127.0.0.1, ::1 or localhost), got %q", host)
	}
	return nil
}
