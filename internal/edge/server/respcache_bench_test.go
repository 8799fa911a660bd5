package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// BenchmarkResponseCache measures one warm 50-tax read through the whole
// handler (edge, auth, rate limits, transport): answered by the response
// cache (hit), executed with the cache on but a new variable every time
// (miss: execution plus the cache's keying and storing), and executed
// with the cache off (off).
//
//	go test -run x -bench ResponseCache -benchmem ./internal/edge/server/
func BenchmarkResponseCache(b *testing.B) {
	const q = `query Taxes($first: Int, $after: String) { taxes(first: $first, after: $after) { totalCount edges { cursor node { id description rate appliesTo base } } pageInfo { hasNextPage endCursor } } }`
	e := newEnvWith(b, sim.Config{Serpi: serpi.SimConfig{Taxes: 60}})
	off := newGateway(b, e, func(c *server.Config) { c.ResponseCacheBytes = -1; c.Hardening.DisableRateLimits = true })
	on := newGateway(b, e, func(c *server.Config) { c.Hardening.DisableRateLimits = true })
	body := func(vars map[string]any) string {
		b, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		return string(b)
	}
	run := func(b *testing.B, h http.Handler, next func(i int) string) {
		// Warm the index (and the cache, for the hit case).
		serveBench(b, h, []byte(next(0)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			serveBench(b, h, []byte(next(i)))
		}
	}
	fixed := body(map[string]any{"first": 50})
	b.Run("hit", func(b *testing.B) { run(b, on, func(int) string { return fixed }) })
	// The benchmark function runs several times with growing b.N: the
	// variable must differ across runs too, or later runs hit.
	var misses int
	b.Run("miss", func(b *testing.B) {
		run(b, on, func(int) string {
			misses++
			return body(map[string]any{"first": 50, "unused": fmt.Sprintf("miss-%d", misses)})
		})
	})
	b.Run("off", func(b *testing.B) { run(b, off, func(int) string { return fixed }) })
}
