package metrics

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The Grafana dashboard and the Prometheus alert rules in deploy/ use
// only metric names the gateway exports.
func TestDeployFilesUseExportedMetricNames(t *testing.T) {
	m := New()
	m.RedisDegraded(func() bool { return false })
	descs := make(chan *prometheus.Desc, 256)
	go func() {
		for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.upstreamCalls, m.upstreamDuration, m.upstreamRetries,
			m.circuitState, m.cache, m.serializerWait, m.subscriptions, m.httpDuration, m.httpActive, m.streams, m.buildInfo} {
			c.Describe(descs)
		}
		close(descs)
	}()
	exported := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if sub := fqName.FindStringSubmatch(d.String()); sub != nil {
			exported[sub[1]] = true
		}
	}
	// Registered on its own (RedisDegraded).
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	used := regexp.MustCompile(`\b(?:gateway|http_server)_[a-z_]+\b`)
	for _, file := range []string{"deploy/prometheus/alerts.yml", "deploy/grafana/gateway-dashboard.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		names := used.FindAllString(string(raw), -1)
		if len(names) < 5 {
			t.Fatalf("%s names only %v", file, names)
		}
		for _, n := range names {
			base := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suffix)
			}
			if !exported[n] && !exported[base] {
				t.Errorf("%s uses %s, which the gateway does not export", file, n)
			}
		}
	}
}
