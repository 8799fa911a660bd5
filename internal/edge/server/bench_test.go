package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// The two catalog reads the benchmarks (and cmd/loadgen) measure: the warm
// 50-tax page, and a 50-tax search whose term is spelled differently on
// every request (case and accents vary, the answer does not), which no
// response cache can answer.
const (
	benchWarmTaxes   = `{ taxes(first: 50) { edges { node { id description rate } } } }`
	benchSearchTaxes = `query($term: String) { taxes(first: 50, filter: {search: $term}) { edges { node { id description rate } } } }`
	benchSearchWord  = "reteica"
)

// benchGateway is a gateway over the default simulator data, logging its
// access log as JSON to nowhere, as production would to stdout.
func benchGateway(b *testing.B) http.Handler {
	b.Helper()
	s := sim.New(sim.Config{})
	up := httptest.NewServer(s.Handler())
	b.Cleanup(up.Close)
	gw, err := server.New(server.Config{
		BrillaURL:      up.URL,
		SerpiURL:       up.URL,
		SerpiSecretKey: simSecret,
		SerpiToken:     simToken,
		APIKeys:        []auth.KeyConfig{{Name: "bench", SHA256: auth.HashKey(testReadOnlyKey), Scopes: []string{"catalog:read"}}},
		Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Hardening:      server.Hardening{DisableRateLimits: true},
	})
	if err != nil {
		b.Fatalf("server.New: %v", err)
	}
	b.Cleanup(func() { _ = gw.Close() })
	return gw
}

// benchBody is the JSON request body for query with variables vars.
func benchBody(b *testing.B, query string, vars map[string]any) []byte {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// serveBench posts body to h and returns the answer's bytes, failing on
// anything but a 200 without errors.
func serveBench(b *testing.B, h http.Handler, body []byte) []byte {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testReadOnlyKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"errors"`) {
		b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// runReadBench warms the gateway with body(0), then serves body(n) for
// n = 1, 2, ... from parallel goroutines, each answer compared with the
// first one.
func runReadBench(b *testing.B, body func(n int64) []byte) {
	gw := benchGateway(b)
	want := bytes.Clone(serveBench(b, gw, body(0)))
	if !bytes.Contains(want, []byte(`"edges":[{`)) {
		b.Fatalf("the benchmark read found nothing: %s", want)
	}
	var next atomic.Int64
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got := serveBench(b, gw, body(next.Add(1))); !bytes.Equal(got, want) {
				b.Fatalf("answer differs from the first:\n got %s\nwant %s", got, want)
			}
		}
	})
	b.StopTimer()
	// On a shared machine the CPU this process spent per request (GC
	// included) varies less than wall time, which other work stretches.
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the user plus system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWarmTaxRead is the 50-tax page of the shared harness's warm read,
// the same request every time, through the whole handler (access log,
// API key, then the response cache, which answers every request after the
// first; BenchmarkResponseCache/off measures it executed).
func BenchmarkWarmTaxRead(b *testing.B) {
	body := benchBody(b, benchWarmTaxes, nil)
	runReadBench(b, func(int64) []byte { return body })
}

// BenchmarkUncachedTaxSearch searches the warm tax index for a word spelled
// differently on every request, so every request is executed: the
// uncached path of issue 10. The answer is 50 taxes each time.
func BenchmarkUncachedTaxSearch(b *testing.B) {
	runReadBench(b, func(n int64) []byte {
		return benchBody(b, benchSearchTaxes, map[string]any{"term": simkit.SpellingVariant(benchSearchWord, int(n))})
	})
}
