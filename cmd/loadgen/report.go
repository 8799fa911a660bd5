package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/simkit"
)

// report is everything one run measured.
type report struct {
	opts        options
	RedisPrefix string

	Gateway, Floor phaseResult

	// Warmup is the first request's latency per replica, in order; the
	// first is the cold one.
	Warmup             []time.Duration
	WarmupBodiesDiffer bool
	ResponseBytes      int

	// UpstreamCalls counts calls per simulator endpoint from just before
	// the warm-up to the end of the gateway phase; LoadPhaseCalls is the
	// part made during the gateway phase itself.
	UpstreamCalls         map[string]int64
	LoadPhaseCalls        int64
	MaxConcurrentPerToken map[string]int
	ConcurrencyRejections int64

	// GatewayPeakRSS is the most resident memory an external gateway
	// (-gateway-url) reported on its /metrics during the gateway phase.
	GatewayPeakRSS int64

	// GatewayLogRecords counts the gateway's warning and error logs.
	GatewayLogRecords int64
}

func newReport(o options) *report { return &report{opts: o} }

func (r *report) setUpstream(before, warm, after simkit.Snapshot) {
	r.UpstreamCalls = map[string]int64{}
	for k, v := range after.Calls {
		if d := v - before.Calls[k]; d > 0 {
			r.UpstreamCalls[k] = d
		}
		r.LoadPhaseCalls += v - warm.Calls[k]
	}
	r.MaxConcurrentPerToken = after.MaxConcurrentPerToken
	r.ConcurrencyRejections = after.ConcurrencyRejections - before.ConcurrencyRejections
}

func (r *report) totalUpstreamCalls() int64 {
	var n int64
	for _, v := range r.UpstreamCalls {
		n += v
	}
	return n
}

// perRequest is upstream calls (warm-up included) per gateway-phase request.
func (r *report) perRequest() float64 {
	if r.Gateway.Requests == 0 {
		return 0
	}
	return float64(r.totalUpstreamCalls()) / float64(r.Gateway.Requests)
}

func (r *report) maxConcurrent() int {
	m := 0
	for _, v := range r.MaxConcurrentPerToken {
		m = max(m, v)
	}
	return m
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *report) upstreamSource() string {
	if r.opts.simURL != "" {
		return "external simulator " + r.opts.simURL + " (its own latency)"
	}
	return "in-process simulator, upstream latency " + r.opts.latency.String()
}

func (r *report) writeTable(w io.Writer) error {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "loadgen: %s, %d workers, %d replica(s), %s\n", o.duration, o.concurrency, o.replicas, r.upstreamSource())
	if o.redisURL != "" {
		fmt.Fprintf(&b, "redis: %s (keys under %q)\n", redactURL(o.redisURL), r.RedisPrefix)
	}
	if o.uncached {
		fmt.Fprintf(&b, "uncached: request n searches spelling n of %q (case and accents varied), never the same twice\n", uncachedWord)
	}
	const row = "%-16s %9s %10s %9s %9s %9s %9s %8s\n"
	fmt.Fprintf(&b, row, "", "requests", "req/s", "p50", "p90", "p99", "max", "errors")
	for _, p := range []phaseResult{r.Gateway, r.Floor} {
		fmt.Fprintf(&b, row, p.Name, fmt.Sprint(p.Requests), fmt.Sprintf("%.0f", p.ReqPerSec),
			ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max), fmt.Sprint(p.Errors))
	}
	g, f := r.Gateway, r.Floor
	x := func(a, b time.Duration) string { return fmt.Sprintf("%.3gx", ratio(float64(a), float64(b))) }
	fmt.Fprintf(&b, row, "ratio gw/floor", "", fmt.Sprintf("%.3gx", ratio(g.ReqPerSec, f.ReqPerSec)),
		x(g.P50, f.P50), x(g.P90, f.P90), x(g.P99, f.P99), x(g.Max, f.Max), "")
	if g.Requests > 0 && f.Requests > 0 && g.CPU > 0 && f.CPU > 0 {
		perReq := func(d time.Duration, n int64) time.Duration { return d / time.Duration(n) }
		gw, fl := perReq(g.CPU, g.Requests), perReq(f.CPU, f.Requests)
		fmt.Fprintf(&b, "CPU per request (this process): gateway phase %s, floor phase %s; floor/gateway %.3gx\n",
			us(gw), us(fl), ratio(float64(fl), float64(gw)))
		if g.GatewayCPU > 0 {
			ext := perReq(g.GatewayCPU, g.Requests)
			fmt.Fprintf(&b, "external gateway's own CPU per request (its /metrics): %s\n", us(ext))
		}
	}
	for _, p := range []phaseResult{g, f} {
		if p.CapReached {
			fmt.Fprintf(&b, "%s: stopped at -max-requests %d after %s\n", p.Name, o.maxRequests, p.Elapsed.Round(time.Millisecond))
		}
		if p.Errors > 0 {
			fmt.Fprintf(&b, "%s: first error: %s\n", p.Name, p.FirstError)
		}
		if p.Differing > 0 {
			fmt.Fprintf(&b, "%s: %d answers without errors differed from the reference bytes\n", p.Name, p.Differing)
		}
	}
	fmt.Fprintf(&b, "cold first request: %s", ms(r.Warmup[0]))
	if len(r.Warmup) > 1 {
		var rest []string
		for _, d := range r.Warmup[1:] {
			rest = append(rest, ms(d))
		}
		which := "replica 2"
		if len(r.Warmup) > 2 {
			which = fmt.Sprintf("replicas 2..%d", len(r.Warmup))
		}
		fmt.Fprintf(&b, " (first request on %s: %s)", which, strings.Join(rest, ", "))
	}
	fmt.Fprintf(&b, "; response %d bytes", r.ResponseBytes)
	if r.WarmupBodiesDiffer {
		b.WriteString("; WARNING: replicas answered different bytes")
	}
	b.WriteString("\n")
	var calls []string
	for _, k := range slices.Sorted(maps.Keys(r.UpstreamCalls)) {
		calls = append(calls, fmt.Sprintf("%s %d", k, r.UpstreamCalls[k]))
	}
	if len(calls) == 0 {
		calls = []string{"none"}
	}
	fmt.Fprintf(&b, "upstream calls during the run: %s (%.5f per request; %d during the load phase, the rest at warm-up)\n",
		strings.Join(calls, ", "), r.perRequest(), r.LoadPhaseCalls)
	fmt.Fprintf(&b, "max concurrent per SERPI token: %d; rejections: %d\n", r.maxConcurrent(), r.ConcurrencyRejections)
	if r.GatewayPeakRSS > 0 {
		fmt.Fprintf(&b, "gateway peak RSS during the load (its /metrics, sampled every %s): %.1f MiB\n", rssEvery, float64(r.GatewayPeakRSS)/(1<<20))
	}
	if r.GatewayLogRecords > 0 {
		fmt.Fprintf(&b, "gateway log records (warning and above): %d\n", r.GatewayLogRecords)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ms formats a duration in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type jsonPhase struct {
	Requests   int64   `json:"requests"`
	ReqPerSec  float64 `json:"req_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     int64   `json:"errors"`
	Differing  int64   `json:"differing_answers"`
	ElapsedS   float64 `json:"elapsed_s"`
	CapReached bool    `json:"stopped_at_max_requests"`
	FirstError string  `json:"first_error,omitempty"`
	// CPU used during the phase: this process's, and an external
	// gateway's own (0 when not measured).
	CPUms        float64 `json:"cpu_ms"`
	GatewayCPUms float64 `json:"external_gateway_cpu_ms,omitempty"`
}

func (r *report) phaseJSON(p phaseResult) jsonPhase {
	return jsonPhase{
		Requests: p.Requests, ReqPerSec: p.ReqPerSec,
		P50ms: msf(p.P50), P90ms: msf(p.P90), P99ms: msf(p.P99), MaxMs: msf(p.Max),
		Errors: p.Errors, Differing: p.Differing, ElapsedS: p.Elapsed.Seconds(),
		CapReached: p.CapReached, FirstError: p.FirstError,
		CPUms: msf(p.CPU), GatewayCPUms: msf(p.GatewayCPU),
	}
}

func (r *report) writeJSON(w io.Writer) error {
	o := r.opts
	g, f := r.Gateway, r.Floor
	warm := make([]float64, len(r.Warmup))
	for i, d := range r.Warmup {
		warm[i] = msf(d)
	}
	out := map[string]any{
		"duration_s":  o.duration.Seconds(),
		"concurrency": o.concurrency,
		"replicas":    o.replicas,
		"upstream":    r.upstreamSource(),
		"query":       o.query,
		"uncached":    o.uncached,
		"gateway":     r.phaseJSON(g),
		"floor":       r.phaseJSON(f),
		"ratio_gateway_over_floor": map[string]float64{
			"req_per_s": ratio(g.ReqPerSec, f.ReqPerSec),
			"p50":       ratio(float64(g.P50), float64(f.P50)),
			"p90":       ratio(float64(g.P90), float64(f.P90)),
			"p99":       ratio(float64(g.P99), float64(f.P99)),
			"max":       ratio(float64(g.Max), float64(f.Max)),
		},
		"cold_first_request_ms":          warm[0],
		"warmup_ms_per_replica":          warm,
		"response_bytes":                 r.ResponseBytes,
		"warmup_bodies_differ":           r.WarmupBodiesDiffer,
		"upstream_calls":                 r.UpstreamCalls,
		"upstream_calls_total":           r.totalUpstreamCalls(),
		"upstream_calls_load_phase":      r.LoadPhaseCalls,
		"upstream_calls_per_request":     r.perRequest(),
		"max_concurrent_per_token":       r.MaxConcurrentPerToken,
		"max_concurrent_per_serpi_token": r.maxConcurrent(),
		"concurrency_rejections":         r.ConcurrencyRejections,
		"gateway_log_records":            r.GatewayLogRecords,
		"gateway_peak_rss_bytes":         r.GatewayPeakRSS,
	}
	if o.latency > 0 && o.simURL == "" {
		out["upstream_latency_ms"] = msf(o.latency)
	}
	if o.redisURL != "" {
		out["redis_url"] = redactURL(o.redisURL)
		out["redis_prefix"] = r.RedisPrefix
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
