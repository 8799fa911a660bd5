package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// requester posts a GraphQL request to a set of URLs.
type requester struct {
	client  *http.Client
	payload []byte // JSON body {"query": ...}
	apiKey  string
	// vary, when set, gives request n its own body instead of payload.
	vary func(n int64) []byte
}

// body is request n's JSON body.
func (r *requester) body(n int64) []byte {
	if r.vary != nil {
		return r.vary(n)
	}
	return r.payload
}

// outcome classifies one answer.
type outcome int

const (
	answerSame    outcome = iota // 200 with exactly the reference bytes
	answerDiffers                // 200, no "errors", other bytes
	answerError                  // transport error, non-200 or a GraphQL "errors" entry
)

// do sends one request to url, reading the whole answer into buf, and
// classifies it against want (nil: any answer without errors is fine).
func (r *requester) do(ctx context.Context, url string, body []byte, buf *bytes.Buffer, want []byte) (outcome, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answerError, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", r.apiKey)
	resp, err := r.client.Do(req)
	if err != nil {
		return answerError, err.Error()
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return answerError, "read body: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return answerError, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, clip(buf.Bytes()))
	}
	if want != nil && bytes.Equal(buf.Bytes(), want) {
		return answerSame, ""
	}
	var env struct {
		Errors json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(buf.Bytes(), &env); err != nil {
		return answerError, "answer is not JSON: " + clip(buf.Bytes())
	}
	if len(env.Errors) > 0 && string(env.Errors) != "null" {
		return answerError, "GraphQL errors: " + clip(env.Errors)
	}
	if want == nil {
		return answerSame, ""
	}
	return answerDiffers, ""
}

func clip(b []byte) string {
	const n = 300
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// phaseResult is what one load phase measured.
type phaseResult struct {
	Name      string
	Requests  int64
	Errors    int64
	Differing int64 // successful answers whose bytes differed from the reference
	Elapsed   time.Duration
	ReqPerSec float64
	P50, P90  time.Duration
	P99, Max  time.Duration
	// CPU is the CPU time this process used during the phase (load
	// client plus the in-process gateway or floor), and GatewayCPU an
	// external gateway's own (-gateway-url, from its /metrics); 0 when
	// unknown. On a shared machine CPU per request varies far less than
	// requests per second.
	CPU, GatewayCPU time.Duration
	CapReached      bool   // stopped at -max-requests before -duration
	Canceled        bool   // interrupted
	FirstError      string // the first error's text
}

// loadPhase runs o.concurrency workers against urls (round-robin by request
// number) until o.duration has passed or o.maxRequests requests have been
// issued. Requests in flight at the deadline finish and are counted.
func loadPhase(ctx context.Context, name string, r *requester, urls []string, want []byte, o options) phaseResult {
	var (
		issued     atomic.Int64
		errs       atomic.Int64
		differing  atomic.Int64
		capReached atomic.Bool
		firstErr   sync.Once
		firstText  string
		wg         sync.WaitGroup
	)
	perWorker := make([][]time.Duration, o.concurrency)
	// Preallocate each worker's share of the cap (plus slack for uneven
	// shares) so recording a latency never allocates in the common case.
	capacity := min(o.maxRequests, o.maxRequests/o.concurrency+1024)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(o.duration)
	for w := range o.concurrency {
		lat := make([]time.Duration, 0, capacity)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := issued.Add(1)
				if n > int64(o.maxRequests) {
					capReached.Store(true)
					break
				}
				url := urls[int(n-1)%len(urls)]
				t0 := time.Now()
				res, msg := r.do(ctx, url, r.body(n), &buf, want)
				lat = append(lat, time.Since(t0))
				switch res {
				case answerError:
					if ctx.Err() != nil {
						lat = lat[:len(lat)-1] // interrupted, not a gateway error
					} else {
						errs.Add(1)
						firstErr.Do(func() { firstText = msg })
					}
				case answerDiffers:
					differing.Add(1)
				}
			}
			perWorker[w] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0

	all := slices.Concat(perWorker...)
	slices.Sort(all)
	res := phaseResult{
		Name:       name,
		Requests:   int64(len(all)),
		Errors:     errs.Load(),
		Differing:  differing.Load(),
		Elapsed:    elapsed,
		CPU:        cpu,
		CapReached: capReached.Load(),
		Canceled:   ctx.Err() != nil,
		FirstError: firstText,
	}
	if elapsed > 0 {
		res.ReqPerSec = float64(len(all)) / elapsed.Seconds()
	}
	if len(all) > 0 {
		res.P50 = percentile(all, 0.50)
		res.P90 = percentile(all, 0.90)
		res.P99 = percentile(all, 0.99)
		res.Max = all[len(all)-1]
	}
	return res
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	idx := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[max(0, min(idx, len(sorted)-1))]
}
