package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serfigas/brilla-gateway/internal/auth"
)

// CachedAnswer counts a query the response cache answered without
// executing it, as the operation metrics count an executed one (type
// query, outcome ok), so that request totals and latencies include hits.
// header is the request's, for the client name; start is when the
// request began.
func (m *Metrics) CachedAnswer(ctx context.Context, operation string, header http.Header, start time.Time) {
	name := "anonymous"
	if operation != "" {
		name = m.operationLabel(operation, auth.FromContext(ctx).Key != nil)
	}
	client := m.clientLabel(clientNameIn(header), true)
	c := m.answered.get(answeredLabels{operation: name, client: client})
	c.count.Inc()
	c.duration.Observe(time.Since(start).Seconds())
}

// ResponseCache returns the response cache's observer: requests by
// outcome, answers stored or not, and the in-process tier's size.
func (m *Metrics) ResponseCache() *ResponseCacheMetrics {
	return m.responseCache
}

// ResponseCacheMetrics implements respcache.Observer.
type ResponseCacheMetrics struct {
	outcomes *prometheus.CounterVec
	outcome  *children[string, prometheus.Counter]
	stores   *prometheus.CounterVec
	bytes    prometheus.Gauge
	entries  prometheus.Gauge
}

func newResponseCacheMetrics(reg prometheus.Registerer) *ResponseCacheMetrics {
	r := &ResponseCacheMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_response_cache_requests_total",
			Help: "GraphQL requests by response cache outcome: hit (memory), hit_shared (Redis), miss, stale (an entry whose sources changed or expired), bypass (not cacheable).",
		}, []string{"outcome"}),
		stores: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_response_cache_stores_total",
			Help: "Executed cacheable operations: stored (true) or not storable (false: errors, partial data, uncacheable reads, too large).",
		}, []string{"stored"}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_response_cache_bytes",
			Help: "Bytes held by the response cache's in-process tier.",
		}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_response_cache_entries",
			Help: "Answers held by the response cache's in-process tier.",
		}),
	}
	reg.MustRegister(r.outcomes, r.stores, r.bytes, r.entries)
	// The respcache package's five outcomes only, each shown from the
	// start.
	r.outcome = newChildren(func(o string) prometheus.Counter { return r.outcomes.WithLabelValues(o) })
	for _, o := range []string{"hit", "hit_shared", "miss", "stale", "bypass"} {
		r.outcome.get(o)
	}
	return r
}

// Outcome implements respcache.Observer.
func (r *ResponseCacheMetrics) Outcome(outcome string) { r.outcome.get(outcome).Inc() }

// Stored implements respcache.Observer.
func (r *ResponseCacheMetrics) Stored(ok bool) {
	if ok {
		r.stores.WithLabelValues("true").Inc()
		return
	}
	r.stores.WithLabelValues("false").Inc()
}

// Size implements respcache.Observer.
func (r *ResponseCacheMetrics) Size(bytes int64, entries int) {
	r.bytes.Set(float64(bytes))
	r.entries.Set(float64(entries))
}
