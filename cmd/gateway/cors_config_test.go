package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func TestCORSAllowedHeadersSetting(t *testing.T) {
	o, err := parseOptions([]string{"-demo"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := o.gateway.Hardening.CORSAllowedHeaders; !slices.Equal(got, server.DefaultCORSAllowedHeaders()) {
		t.Fatalf("default %v", got)
	}
	o, err = parseOptions([]string{"-demo"}, envOf(map[string]string{"CORS_ALLOWED_HEADERS": " x-tenant , traceparent ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := o.gateway.Hardening.CORSAllowedHeaders; !slices.Equal(got, []string{"x-tenant", "traceparent"}) {
		t.Fatalf("from the environment %v", got)
	}
	_, err = parseOptions([]string{"-demo", "-cors-allowed-headers", "x-ok,bad header"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_HEADERS") {
		t.Fatalf("a bad name: %v", err)
	}
}
