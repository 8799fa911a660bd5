package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestShortInProcessRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "1s", "-concurrency", "4", "-latency", "1ms", "-redis-url", "", "-json"}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	var rep struct {
		Gateway, Floor struct {
			Requests  int64   `json:"requests"`
			ReqPerSec float64 `json:"req_per_s"`
			P50ms     float64 `json:"p50_ms"`
			Errors    int64   `json:"errors"`
			Differing int64   `json:"differing_answers"`
		}
		UpstreamCalls   map[string]int64 `json:"upstream_calls"`
		PerRequest      float64          `json:"upstream_calls_per_request"`
		MaxConcurrent   int              `json:"max_concurrent_per_serpi_token"`
		Rejections      int64            `json:"concurrency_rejections"`
		ResponseBytes   int              `json:"response_bytes"`
		ColdFirstMillis float64          `json:"cold_first_request_ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	for name, p := range map[string]struct {
		Requests  int64   `json:"requests"`
		ReqPerSec float64 `json:"req_per_s"`
		P50ms     float64 `json:"p50_ms"`
		Errors    int64   `json:"errors"`
		Differing int64   `json:"differing_answers"`
	}{"gateway": rep.Gateway, "floor": rep.Floor} {
		if p.Requests == 0 || p.ReqPerSec <= 0 || p.P50ms <= 0 {
			t.Errorf("%s: no load measured: %+v", name, p)
		}
		if p.Errors != 0 || p.Differing != 0 {
			t.Errorf("%s: %d errors, %d differing answers\n%s", name, p.Errors, p.Differing, stdout.String())
		}
	}
	if rep.MaxConcurrent > 1 || rep.Rejections != 0 {
		t.Errorf("SERPI token used concurrently: max %d, %d rejections", rep.MaxConcurrent, rep.Rejections)
	}
	if len(rep.UpstreamCalls) == 0 || rep.PerRequest <= 0 || rep.PerRequest >= 1 {
		t.Errorf("upstream calls %v, %v per request: want the catalog walked once and then cached", rep.UpstreamCalls, rep.PerRequest)
	}
	if rep.ResponseBytes == 0 || rep.ColdFirstMillis <= 0 {
		t.Errorf("response %d bytes, cold first request %vms", rep.ResponseBytes, rep.ColdFirstMillis)
	}
}

// The uncached workload sends a new spelling of the search word on every
// request; the gateway must still answer every one with the warm-up's
// bytes (the same 50 taxes).
func TestShortUncachedRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-uncached", "-duration", "1s", "-concurrency", "4", "-latency", "1ms", "-redis-url", "", "-json"}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	var rep struct {
		Uncached bool   `json:"uncached"`
		Query    string `json:"query"`
		Gateway  struct {
			Requests  int64 `json:"requests"`
			Errors    int64 `json:"errors"`
			Differing int64 `json:"differing_answers"`
		}
		ResponseBytes int `json:"response_bytes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if !rep.Uncached || rep.Query != uncachedQuery {
		t.Errorf("uncached %v, query %q", rep.Uncached, rep.Query)
	}
	if rep.Gateway.Requests == 0 || rep.Gateway.Errors != 0 || rep.Gateway.Differing != 0 {
		t.Errorf("gateway: %+v", rep.Gateway)
	}
	// 50 taxes of id, description and rate are well over 2 KB; an empty
	// search answer is a few dozen bytes.
	if rep.ResponseBytes < 2000 {
		t.Errorf("response %d bytes: the search found too little", rep.ResponseBytes)
	}
}

func TestUncachedBodiesDiffer(t *testing.T) {
	seen := map[string]bool{}
	for n := range int64(5000) {
		var body struct {
			Query     string
			Variables map[string]string
		}
		if err := json.Unmarshal(uncachedBody(uncachedQuery, n), &body); err != nil {
			t.Fatal(err)
		}
		term := body.Variables["term"]
		if seen[term] || body.Query != uncachedQuery {
			t.Fatalf("request %d: term %q repeated or query %q", n, term, body.Query)
		}
		seen[term] = true
	}
}

func TestTableReport(t *testing.T) {
	r := newReport(options{duration: time.Second, concurrency: 2, replicas: 1, latency: 15 * time.Millisecond, maxRequests: 10})
	r.Gateway = phaseResult{Name: "gateway", Requests: 100, ReqPerSec: 100, P50: 4 * time.Millisecond, P90: 5 * time.Millisecond, P99: 8 * time.Millisecond, Max: 9 * time.Millisecond}
	r.Floor = phaseResult{Name: "raw floor", Requests: 400, ReqPerSec: 400, P50: time.Millisecond, P90: time.Millisecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond, CapReached: true}
	r.Warmup = []time.Duration{48 * time.Millisecond}
	r.UpstreamCalls = map[string]int64{"GET /api/v1/Sucursales": 2, "GET /api/v1/Impuesto": 1}
	r.MaxConcurrentPerToken = map[string]int{"demo-token": 1}
	var out bytes.Buffer
	if err := r.writeTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"loadgen: 1s, 2 workers, 1 replica(s), in-process simulator, upstream latency 15ms",
		"ratio gw/floor",
		"0.25x",
		"4x",
		"raw floor: stopped at -max-requests 10",
		"cold first request: 48.0ms",
		"GET /api/v1/Impuesto 1, GET /api/v1/Sucursales 2 (0.03000 per request",
		"max concurrent per SERPI token: 1; rejections: 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-replicas", "3", "-redis-url", ""},
		{"-duration", "0s"},
		{"-duration", "1h"},
		{"-concurrency", "0"},
		{"-max-requests", "0"},
		{"-sim-url", "http://example.com:9090"},
		{"-sim-url", "http://10.0.0.1:9090"},
		{"-query", " "},
		{"-uncached", "-query", "{ taxes(first: 50) { totalCount } }"},
		{"-gateway-url", "http://127.0.0.1:18082"},
		{"-gateway-url", "http://10.0.0.1:18082", "-sim-url", "http://127.0.0.1:9090", "-api-key", "k"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
	if err := checkLoopbackURL("http://localhost:9090"); err != nil {
		t.Error(err)
	}
}

func TestParseRSS(t *testing.T) {
	metrics := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 5.4525952e+07\nprocess_start_time_seconds 1.7e+09\n"
	if got, ok := parseMetric([]byte(metrics), "process_resident_memory_bytes"); !ok || got != 54525952 {
		t.Errorf("parseMetric = %v, %v; want 54525952", got, ok)
	}
	if got, ok := parseMetric([]byte(metrics), "process_start_time_seconds"); !ok || got != 1.7e9 {
		t.Errorf("parseMetric = %v, %v; want 1.7e9", got, ok)
	}
	if _, ok := parseMetric([]byte("go_goroutines 7\n"), "process_resident_memory_bytes"); ok {
		t.Error("parseMetric found a value in metrics without it")
	}
}
