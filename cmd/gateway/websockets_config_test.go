package main

import (
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// MAX_WEBSOCKETS_PER_ADDRESS comes from the flag or the environment,
// DefaultWebsocketsPerAddress when unset, and must be positive.
func TestWebsocketsPerAddressSetting(t *testing.T) {
	o, err := parseOptions([]string{"-demo"}, envOf(nil))
	if err != nil || o.gateway.WebsocketsPerAddress != server.DefaultWebsocketsPerAddress {
		t.Fatalf("default: %d (%v)", o.gateway.WebsocketsPerAddress, err)
	}
	o, err = parseOptions([]string{"-demo"}, envOf(map[string]string{"MAX_WEBSOCKETS_PER_ADDRESS": "8"}))
	if err != nil || o.gateway.WebsocketsPerAddress != 8 {
		t.Fatalf("env: %d (%v)", o.gateway.WebsocketsPerAddress, err)
	}
	o, err = parseOptions([]string{"-demo", "-max-websockets-per-address", "3"}, envOf(nil))
	if err != nil || o.gateway.WebsocketsPerAddress != 3 {
		t.Fatalf("flag: %d (%v)", o.gateway.WebsocketsPerAddress, err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := parseOptions([]string{"-demo", "-max-websockets-per-address", bad}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "MAX_WEBSOCKETS_PER_ADDRESS") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
