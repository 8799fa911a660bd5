package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestParseRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-latency", "-1s"}, {"-branches", "0"}, {"extra"}, {"-latency", "soon"}} {
		if _, _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
	cfg, addr, err := parse([]string{"-latency", "15ms", "-branches", "10", "-serpi-tokens", "a, b"}, &bytes.Buffer{})
	if err != nil || addr != "127.0.0.1:9090" || cfg.Latency != 15*time.Millisecond || cfg.Serpi.Branches != 10 ||
		strings.Join(cfg.Serpi.Credentials["demo-secret"], ",") != "demo-token,a,b" {
		t.Fatalf("parse = %+v %q %v", cfg, addr, err)
	}
}

func TestServesBothUpstreamsAndStats(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-branches", "5"}, &stdout, &stderr) }()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("not listening: %s %s", stdout.String(), stderr.String())
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/Sucursales?limite=50&pagina=1", nil)
	req.Header.Set("secretkey", "demo-secret")
	req.Header.Set("Authorization", "Bearer demo-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Result []json.RawMessage }
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if len(env.Result) != 5 {
		t.Fatalf("got %d branches, want 5", len(env.Result))
	}
	resp, err = http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct{ Calls map[string]int }
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if stats.Calls["GET /api/v1/Sucursales"] != 1 {
		t.Fatalf("stats = %+v", stats)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
