package layers_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/layers"
)

const module = "github.com/serfigas/brilla-gateway"

// TestImportsRunDown lists every package of the module with its non-test
// imports and fails for a package no layer claims, for an import of a
// higher layer, and for test support imported outside tests.
func TestImportsRunDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	packages := 0
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		fields := strings.Fields(line)
		from := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if from == "internal/layers" {
			continue
		}
		packages++
		fromRank, ok := layers.Of(from)
		if !ok {
			t.Errorf("%s: no layer claims this package; place it in one (see package layers)", from)
			continue
		}
		for _, imp := range fields[1:] {
			rel, mine := strings.CutPrefix(imp, module+"/")
			if !mine {
				continue
			}
			toRank, ok := layers.Of(rel)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which no layer claims", from, rel)
			case toRank == layers.TestSupport:
				t.Errorf("%s imports test support %s outside its tests", from, rel)
			case toRank > fromRank:
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must run down", from, fromRank, rel, toRank)
			}
		}
	}
	if packages < 20 {
		t.Fatalf("go list found only %d packages: the check saw nothing", packages)
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		rel  string
		want layers.Rank
	}{
		{"cmd/gateway", layers.Binary},
		{"internal/edge/server", layers.Assembly},
		{"internal/edge/ratelimit", layers.Edge},
		{"graph", layers.Execution},
		{"resolvers/loaders", layers.Execution},
		{"internal/auth", layers.Identity},
		{"internal/catalog/catalogwrite", layers.Domain},
		{"graph/model", layers.Contract},
		{"backends/serializer", layers.Infrastructure},
		{"cache/degrade", layers.Infrastructure},
		{"internal/redistest", layers.TestSupport},
	}
	for _, tt := range tests {
		if got, ok := layers.Of(tt.rel); !ok || got != tt.want {
			t.Errorf("Of(%q) = %d, %v; want %d", tt.rel, got, ok, tt.want)
		}
	}
	if _, ok := layers.Of("graphql"); ok {
		t.Error(`Of("graphql") claimed a path that is not under graph/`)
	}
}
