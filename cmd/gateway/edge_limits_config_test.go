package main

import (
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/edge/limits"
)

// The admission limits and the upload budget come from flags and the
// environment, with the package defaults when unset.
func TestEdgeLimitsFromFlagsAndEnv(t *testing.T) {
	o, err := parseOptions([]string{"-demo"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := o.gateway.Hardening
	if h.MaxTokens != limits.DefaultMaxTokens || h.MaxFields != limits.DefaultMaxFields || h.MaxFieldRepeats != limits.DefaultMaxFieldRepeats || o.gateway.UploadBudgetBytes != 0 {
		t.Fatalf("defaults: tokens %d, fields %d, repeats %d, budget %d", h.MaxTokens, h.MaxFields, h.MaxFieldRepeats, o.gateway.UploadBudgetBytes)
	}
	o, err = parseOptions([]string{"-demo", "-max-fields", "500", "-upload-budget-bytes", "67108864"},
		envOf(map[string]string{"MAX_TOKENS": "4000", "MAX_FIELD_REPEATS": "-1"}))
	if err != nil {
		t.Fatal(err)
	}
	h = o.gateway.Hardening
	if h.MaxTokens != 4000 || h.MaxFields != 500 || h.MaxFieldRepeats != -1 || o.gateway.UploadBudgetBytes != 64<<20 {
		t.Fatalf("set: tokens %d, fields %d, repeats %d, budget %d", h.MaxTokens, h.MaxFields, h.MaxFieldRepeats, o.gateway.UploadBudgetBytes)
	}
	_, err = parseOptions([]string{"-demo", "-max-tokens", "lots", "-upload-budget-bytes", "-5"}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "MAX_TOKENS") || !strings.Contains(err.Error(), "UPLOAD_BUDGET_BYTES") {
		t.Fatalf("bad values: %v", err)
	}
}
