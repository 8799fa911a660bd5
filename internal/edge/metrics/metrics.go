// Package metrics holds the gateway's Prometheus metrics on a registry of
// its own (no global state): GraphQL requests by operation and outcome,
// latency histograms, upstream calls by upstream, endpoint and status,
// retries, circuit state, cache hits and misses, serializer wait time,
// open subscriptions, websocket and SSE connections, Redis degradation,
// and the HTTP server's requests under OpenTelemetry's semantic-convention
// names.
package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/internal/auth"
)

// Metrics is one gateway's set of metrics.
type Metrics struct {
	registry *prometheus.Registry

	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	upstreamCalls    *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	upstreamRetries  *prometheus.CounterVec
	circuitState     *prometheus.GaugeVec
	cache            *prometheus.CounterVec
	serializerWait   *prometheus.HistogramVec
	subscriptions    prometheus.Gauge
	responseCache    *ResponseCacheMetrics
	httpDuration     *prometheus.HistogramVec
	httpActive       prometheus.Gauge
	streams          *prometheus.GaugeVec
	buildInfo        *prometheus.GaugeVec

	// The children of requests and requestDuration for a query that
	// went well, and of httpDuration, by label values.
	answered *children[answeredLabels, answeredMetrics]
	served   *children[servedLabels, prometheus.Observer]

	namesMu sync.Mutex
	known   map[string]bool // declared by the operator
	names   map[string]bool // learned from API-key callers' successes
	clients map[string]bool // client names learned (maxClientNames)
}

// LatencyBuckets are the histograms' buckets in seconds: fine below a
// second, and up to 60 s so that requests running into the 30 s request
// deadline (REQUEST_TIMEOUT) land in a bucket of their own, not in +Inf.
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60}

// New registers every metric on a fresh registry, with Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		names:    map[string]bool{},
		clients:  map[string]bool{},
		known:    map[string]bool{},
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_graphql_requests_total",
			Help: "GraphQL operations by operation name, type, outcome (ok, error, refused) and client name (graphql-client-name or apollographql-client-name header).",
		}, []string{"operation", "type", "outcome", "client_name"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_graphql_request_duration_seconds",
			Help:    "GraphQL operation latency by operation name, type and client name.",
			Buckets: LatencyBuckets,
		}, []string{"operation", "type", "client_name"}),
		upstreamCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_calls_total",
			Help: "HTTP attempts to upstreams by upstream, endpoint (as the API documents name it) and status (0: no answer).",
		}, []string{"upstream", "endpoint", "status"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_call_duration_seconds",
			Help:    "Upstream HTTP attempt latency by upstream.",
			Buckets: LatencyBuckets,
		}, []string{"upstream"}),
		upstreamRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total",
			Help: "Retried upstream reads by upstream.",
		}, []string{"upstream"}),
		circuitState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_upstream_circuit_state",
			Help: "Circuit breaker state by upstream: 0 closed, 1 half-open, 2 open.",
		}, []string{"upstream"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_cache_requests_total",
			Help: "Cache lookups by result: hit (fresh), stale (served while refreshed), miss.",
		}, []string{"result"}),
		serializerWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_serializer_wait_seconds",
			Help:    "Time a call waited for its token's turn, by upstream.",
			Buckets: LatencyBuckets,
		}, []string{"upstream"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_open_subscriptions",
			Help: "GraphQL subscriptions currently open on this replica.",
		}),
		// OpenTelemetry semantic conventions (http.server.request.duration,
		// http.server.active_requests) as Prometheus names them.
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_server_request_duration_seconds",
			Help:    "Duration of HTTP server requests (websocket and SSE streams excluded: see gateway_open_streams), by method, route and status code.",
			Buckets: LatencyBuckets,
		}, []string{"http_request_method", "http_route", "http_response_status_code"}),
		httpActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_server_active_requests",
			Help: "HTTP server requests in flight (streams excluded).",
		}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_open_streams",
			Help: "Streaming connections open on this replica, by transport: websocket or sse.",
		}, []string{"transport"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_build_info",
			Help: "Always 1; the labels name the running build.",
		}, []string{"version", "revision", "goversion"}),
	}
	m.streams.WithLabelValues(StreamWebsocket)
	m.streams.WithLabelValues(StreamSSE)
	m.registry.MustRegister(m.requests, m.requestDuration, m.upstreamCalls, m.upstreamDuration, m.upstreamRetries,
		m.circuitState, m.cache, m.serializerWait, m.subscriptions, m.httpDuration, m.httpActive, m.streams, m.buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.responseCache = newResponseCacheMetrics(m.registry)
	m.answered = newChildren(func(l answeredLabels) answeredMetrics {
		return answeredMetrics{
			count:    m.requests.WithLabelValues(l.operation, "query", "ok", l.client),
			duration: m.requestDuration.WithLabelValues(l.operation, "query", l.client),
		}
	})
	m.served = newChildren(func(l servedLabels) prometheus.Observer {
		return m.httpDuration.WithLabelValues(l.method, l.route, strconv.Itoa(l.status))
	})
	return m
}

// answeredLabels and answeredMetrics: a query answered without error.
type answeredLabels struct{ operation, client string }

type answeredMetrics struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// servedLabels: an HTTP request served.
type servedLabels struct {
	method, route string
	status        int
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry exposes the registry (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ---- upstreams (resilience.Observer) ----------------------------------

var (
	numericSegment = regexp.MustCompile(`/\d+(/|$)`)
)

// Endpoint names a request the way the upstream documents (and the
// simulators' counters) name it: "GET /api/brilla/v1/credits/{loan_id}".
// Ids are folded into templates so the label set stays small.
func Endpoint(req *http.Request) string {
	path := req.URL.Path
	if i := strings.Index(path, "/api/"); i > 0 {
		path = path[i:] // a base URL with a path prefix
	}
	switch {
	case strings.HasPrefix(path, "/api/brilla/v1/register/status/"):
		path = "/api/brilla/v1/register/status/{tracking_code}"
	case strings.HasPrefix(path, "/api/brilla/v1/credits/"):
		path = numericSegment.ReplaceAllString(path, "/{loan_id}$1")
	}
	return req.Method + " " + path
}

// Attempt implements resilience.Observer.
func (m *Metrics) Attempt(upstream string, req *http.Request, status int, elapsed time.Duration, _ error) {
	m.upstreamCalls.WithLabelValues(upstream, Endpoint(req), strconv.Itoa(status)).Inc()
	m.upstreamDuration.WithLabelValues(upstream).Observe(elapsed.Seconds())
}

// Retry implements resilience.Observer.
func (m *Metrics) Retry(upstream string, _ *http.Request) {
	m.upstreamRetries.WithLabelValues(upstream).Inc()
}

// BreakerState implements resilience.Observer.
func (m *Metrics) BreakerState(upstream, state string) {
	v := map[string]float64{"closed": 0, "half-open": 1, "open": 2}[state]
	m.circuitState.WithLabelValues(upstream).Set(v)
}

// ---- cache -------------------------------------------------------------

// CacheResult counts one cache lookup: "hit", "stale" or "miss".
func (m *Metrics) CacheResult(result string) { m.cache.WithLabelValues(result).Inc() }

// ---- subscriptions -----------------------------------------------------

// SubscriptionOpened and SubscriptionClosed track open subscriptions.
func (m *Metrics) SubscriptionOpened() { m.subscriptions.Inc() }

// SubscriptionClosed is the counterpart of SubscriptionOpened.
func (m *Metrics) SubscriptionClosed() { m.subscriptions.Dec() }

// ---- serializer --------------------------------------------------------

// TimedSerializer wraps s, observing how long each call waited for its
// turn under the given upstream label.
func (m *Metrics) TimedSerializer(upstream string, s serializer.Serializer) serializer.Serializer {
	return timedSerializer{s: s, wait: m.serializerWait.WithLabelValues(upstream)}
}

type timedSerializer struct {
	s    serializer.Serializer
	wait prometheus.Observer
}

func (t timedSerializer) Do(ctx context.Context, key string, fn func(context.Context) error) error {
	asked := time.Now()
	return t.s.Do(ctx, key, func(ctx context.Context) error {
		t.wait.Observe(time.Since(asked).Seconds())
		return fn(ctx)
	})
}

// ---- GraphQL operations (gqlgen extension) -----------------------------

// Extension returns a gqlgen extension recording every operation.
func (m *Metrics) Extension() graphql.HandlerExtension { return operationMetrics{m} }

type operationMetrics struct{ m *Metrics }

// maxOperationNames bounds the names learned at run time (see
// operationLabel): clients choose operation names, and every new name
// would be a new series forever.
const maxOperationNames = 200

// KnownOperations declares operation names that always keep their own
// label: the names of the trusted documents, and the operations of the
// product's own frontends the operator lists (METRICS_OPERATIONS). The
// operator bounds this list, so it does not count against the learned
// budget.
func (m *Metrics) KnownOperations(names ...string) {
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	for _, n := range names {
		if n != "" {
			m.known[n] = true
		}
	}
}

// operationLabel is the operation label of name. Anonymous clients cannot
// spend the label budget: a name keeps its own label when it is known
// (KnownOperations) or was learned, and it is learned only from an
// operation that succeeded for a caller with a verified API key (the one
// credential the gateway verifies itself; a made-up bearer token costs
// nothing), while fewer than maxOperationNames have been learned. Every
// other name is "other".
func (m *Metrics) operationLabel(name string, mayLearn bool) string {
	m.namesMu.Lock()
	defer m.namesMu.Unlock()
	if m.known[name] || m.names[name] {
		return name
	}
	if !mayLearn || len(m.names) >= maxOperationNames {
		return "other"
	}
	m.names[name] = true
	return name
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
	graphql.OperationInterceptor
} = operationMetrics{}

// InterceptOperation counts open subscriptions: one from the start of a
// subscription until its last response or its context's end.
func (o operationMetrics) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	if rc := graphql.GetOperationContext(ctx); rc.Operation == nil || rc.Operation.Operation != "subscription" {
		return next(ctx)
	}
	o.m.SubscriptionOpened()
	var once sync.Once
	done := func() { once.Do(o.m.SubscriptionClosed) }
	stop := context.AfterFunc(ctx, done)
	handler := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp == nil {
			stop()
			done()
		}
		return resp
	}
}

func (operationMetrics) ExtensionName() string                   { return "Metrics" }
func (operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse records each response: for queries and mutations the
// one response, for subscriptions each event.
func (o operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	name, typ := "", "unknown"
	if graphql.HasOperationContext(ctx) {
		rc := graphql.GetOperationContext(ctx)
		name = rc.OperationName
		if rc.Operation != nil {
			typ = string(rc.Operation.Operation)
			if name == "" {
				name = rc.Operation.Name
			}
		}
	}
	if name == "" {
		name = "anonymous"
	}
	outcome := "ok"
	switch {
	case resp == nil:
		return resp
	case resp.Data == nil && len(resp.Errors) > 0:
		outcome = "refused"
	case len(resp.Errors) > 0:
		outcome = "error"
	}
	if name != "anonymous" {
		name = o.m.operationLabel(name, outcome == "ok" && auth.FromContext(ctx).Key != nil)
	}
	client := o.m.clientLabel(clientName(ctx), outcome == "ok")
	o.m.requests.WithLabelValues(name, typ, outcome, client).Inc()
	o.m.requestDuration.WithLabelValues(name, typ, client).Observe(time.Since(start).Seconds())
	return resp
}
