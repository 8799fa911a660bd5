package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// The simulators' SERPI credential (cmd/upstream-sim and sim.New accept it
// by default), and the cache secret the replicas of one run share.
const (
	simSecret   = "demo-secret"
	simToken    = "demo-token"
	cacheSecret = "loadgen-cache-secret-shared-by-replicas"
)

// measure sets everything up on loopback, runs the warm-up, the gateway
// phase and the floor phase, and tears everything down again.
func measure(ctx context.Context, o options, stderr io.Writer) (*report, error) {
	logs := &logCounter{out: stderr, limit: 5}
	logger := slog.New(logs.handler())

	// Upstreams.
	var (
		stats   upstreamStats
		baseURL string
	)
	if o.simURL == "" {
		s := sim.New(sim.Config{Latency: o.latency})
		srv, err := serveLoopback(s.Handler())
		if err != nil {
			return nil, fmt.Errorf("start simulator: %w", err)
		}
		defer srv.close()
		stats, baseURL = localStats{s.Control.Stats}, srv.url
	} else {
		stats = remoteStats{client: &http.Client{Timeout: 10 * time.Second}, base: o.simURL}
		baseURL = o.simURL
	}

	// Gateway replicas, each on its own listener.
	apiKey := randomHex(24)
	rep := newReport(o)
	cfg := server.Config{
		BrillaURL:      baseURL,
		SerpiURL:       baseURL,
		SerpiSecretKey: simSecret,
		SerpiToken:     simToken,
		APIKeys: []auth.KeyConfig{
			{Name: "loadgen", SHA256: auth.HashKey(apiKey), Scopes: []string{string(auth.ScopeCatalogRead)}},
		},
		Logger: logger,
		// One client hammering on purpose: the per-client rate limit would
		// measure the limiter, not the gateway. -rate-limit keeps it on.
		Hardening: server.Hardening{DisableRateLimits: !o.rateLimit},
	}
	if o.redisURL != "" {
		cfg.RedisURL = o.redisURL
		cfg.RedisPrefix = fmt.Sprintf("loadgen:%d:", time.Now().UnixNano())
		cfg.CacheSecret = cacheSecret
		rep.RedisPrefix = cfg.RedisPrefix
		// Runs after the replicas are closed (defers run last in, first out).
		defer func() {
			if err := deleteRedisPrefix(o.redisURL, cfg.RedisPrefix); err != nil {
				fmt.Fprintf(stderr, "loadgen: remove this run's Redis keys (%s*): %s\n", cfg.RedisPrefix, err)
			}
		}()
	}
	var gatewayURLs []string
	if o.gatewayURL != "" {
		gatewayURLs, apiKey = []string{o.gatewayURL + "/graphql"}, o.apiKey
	}
	for i := range o.replicas {
		if o.gatewayURL != "" {
			break
		}
		gw, err := server.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("gateway replica %d: %w", i+1, err)
		}
		defer func() { _ = gw.Close() }()
		srv, err := serveLoopback(gw)
		if err != nil {
			return nil, fmt.Errorf("gateway replica %d: %w", i+1, err)
		}
		defer srv.close()
		gatewayURLs = append(gatewayURLs, srv.url+"/graphql")
	}

	// One keep-alive client for every phase.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConns = o.concurrency * (o.replicas + 1)
	transport.MaxIdleConnsPerHost = o.concurrency
	transport.DisableCompression = true
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	payload, err := json.Marshal(map[string]string{"query": o.query})
	if err != nil {
		return nil, err
	}
	req := &requester{client: client, payload: payload, apiKey: apiKey}
	if o.uncached {
		req.vary = func(n int64) []byte { return uncachedBody(o.query, n) }
	}

	if err := stats.reset(ctx); err != nil {
		return nil, fmt.Errorf("reset simulator counters: %w", err)
	}
	before, err := stats.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("simulator counters: %w", err)
	}

	// Warm-up: one request per replica, in order, so the first one fills
	// the cache (memory, or Redis shared by the others).
	var reference []byte
	for i, u := range gatewayURLs {
		var buf bytes.Buffer
		t0 := time.Now()
		res, msg := req.do(ctx, u, req.body(0), &buf, nil)
		took := time.Since(t0)
		if res == answerError {
			return nil, fmt.Errorf("warm-up request to replica %d: %s", i+1, msg)
		}
		rep.Warmup = append(rep.Warmup, took)
		if i == 0 {
			reference = bytes.Clone(buf.Bytes())
		} else if !bytes.Equal(buf.Bytes(), reference) {
			rep.WarmupBodiesDiffer = true
		}
	}
	rep.ResponseBytes = len(reference)
	warm, err := stats.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("simulator counters: %w", err)
	}

	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	stopRSS := func() int64 { return 0 }
	var gatewayCPU0 time.Duration
	if o.gatewayURL != "" {
		stopRSS = sampleRSS(client, o.gatewayURL+"/metrics")
		gatewayCPU0, _ = readGatewayCPU(client, o.gatewayURL+"/metrics")
	}
	rep.Gateway = loadPhase(ctx, "gateway", req, gatewayURLs, reference, o)
	rep.GatewayPeakRSS = stopRSS()
	if o.gatewayURL != "" {
		if cpu, ok := readGatewayCPU(client, o.gatewayURL+"/metrics"); ok && gatewayCPU0 > 0 {
			rep.Gateway.GatewayCPU = cpu - gatewayCPU0
		}
	}
	if err := stopProfile(); err != nil {
		return nil, err
	}
	after, err := stats.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("simulator counters: %w", err)
	}
	rep.setUpstream(before, warm, after)

	// The floor: the same bytes from a bare net/http handler.
	floor, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reference)
	}))
	if err != nil {
		return nil, fmt.Errorf("start floor server: %w", err)
	}
	defer floor.close()
	rep.Floor = loadPhase(ctx, "raw floor", req, []string{floor.url + "/graphql"}, reference, o)
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	rep.GatewayLogRecords = logs.count.Load()
	return rep, nil
}

// uncachedBody is the -uncached request n: the query with spelling n of
// uncachedWord as $term (n = 0 is the word itself, used at warm-up; the
// load phases count from 1, so every gateway-phase request is new).
func uncachedBody(query string, n int64) []byte {
	body, _ := json.Marshal(struct {
		Query     string            `json:"query"`
		Variables map[string]string `json:"variables"`
	}{query, map[string]string{"term": simkit.SpellingVariant(uncachedWord, int(n))}})
	return body
}

// startCPUProfile starts profiling into path ("" does nothing) and returns
// the function that stops it.
func startCPUProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// loopbackServer is an http.Server on 127.0.0.1:<random>.
type loopbackServer struct {
	url string
	srv *http.Server
}

func serveLoopback(h http.Handler) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &loopbackServer{url: "http://" + ln.Addr().String(), srv: srv}, nil
}

func (s *loopbackServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// upstreamStats reads and resets the simulators' counters.
type upstreamStats interface {
	reset(ctx context.Context) error
	snapshot(ctx context.Context) (simkit.Snapshot, error)
}

// localStats are the in-process simulator's counters.
type localStats struct{ s *simkit.Stats }

func (l localStats) reset(context.Context) error { l.s.Reset(); return nil }

func (l localStats) snapshot(context.Context) (simkit.Snapshot, error) { return l.s.Snapshot(), nil }

// remoteStats are an external cmd/upstream-sim's counters over /_sim/.
type remoteStats struct {
	client *http.Client
	base   string
}

func (r remoteStats) reset(ctx context.Context) error {
	_, err := r.call(ctx, http.MethodPost, "/_sim/reset")
	return err
}

func (r remoteStats) snapshot(ctx context.Context) (simkit.Snapshot, error) {
	var s simkit.Snapshot
	body, err := r.call(ctx, http.MethodGet, "/_sim/stats")
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return s, fmt.Errorf("GET %s/_sim/stats: %w", r.base, err)
	}
	return s, nil
}

func (r remoteStats) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s%s: HTTP %d: %s", method, r.base, path, resp.StatusCode, clip(body))
	}
	return body, nil
}

// logCounter counts the gateway's log records at warning level and above
// and copies the first few to out, so errors under load are visible
// without flooding the terminal.
type logCounter struct {
	out   io.Writer
	limit int64
	count atomic.Int64
	mu    sync.Mutex
}

func (l *logCounter) handler() slog.Handler {
	inner := slog.NewTextHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelWarn})
	return countingHandler{l: l, inner: inner}
}

type lockedWriter struct{ l *logCounter }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.out.Write(p)
}

type countingHandler struct {
	l     *logCounter
	inner slog.Handler
}

func (h countingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	n := h.l.count.Add(1)
	if n > h.l.limit {
		return nil
	}
	if n == h.l.limit {
		r.AddAttrs(slog.String("loadgen", "further gateway log records are only counted"))
	}
	return h.inner.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return countingHandler{l: h.l, inner: h.inner.WithAttrs(attrs)}
}

func (h countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{l: h.l, inner: h.inner.WithGroup(name)}
}

// deleteRedisPrefix removes the keys one run wrote (they would expire
// anyway, but a shared Redis should not keep a load run's leftovers).
func deleteRedisPrefix(rawURL, prefix string) error {
	client, err := cache.NewClientFromURL(rawURL)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sweep := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			if err := client.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cluster, ok := client.(*redis.ClusterClient); ok {
		return cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return sweep(ctx, node) })
	}
	return sweep(ctx, client)
}

// redactURL hides a password in a Redis URL for the report.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
