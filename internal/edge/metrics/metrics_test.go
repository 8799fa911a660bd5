package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/serfigas/brilla-gateway/backends/serializer"
)

func TestEndpointMatchesTheSimulatorsNames(t *testing.T) {
	tests := map[string]string{
		"GET http://b/api/brilla/v1/credits/12":                "GET /api/brilla/v1/credits/{loan_id}",
		"GET http://b/api/brilla/v1/credits/12/payments":       "GET /api/brilla/v1/credits/{loan_id}/payments",
		"GET http://b/api/brilla/v1/credits/summary":           "GET /api/brilla/v1/credits/summary",
		"GET http://b/api/brilla/v1/credits":                   "GET /api/brilla/v1/credits",
		"GET http://b/api/brilla/v1/register/status/BRL2025X1": "GET /api/brilla/v1/register/status/{tracking_code}",
		"POST http://b/prefix/api/brilla/v1/token/generate":    "POST /api/brilla/v1/token/generate",
		"GET http://s/api/v1/Sucursales":                       "GET /api/v1/Sucursales",
	}
	for in, want := range tests {
		method, url, _ := strings.Cut(in, " ")
		req := httptest.NewRequest(method, url, nil)
		if got := Endpoint(req); got != want {
			t.Errorf("Endpoint(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestObserversFeedTheMetrics(t *testing.T) {
	m := New()
	req := httptest.NewRequest(http.MethodGet, "http://s/api/v1/Impuesto?pagina=1", nil)
	m.Attempt("serpi", req, 200, time.Millisecond, nil)
	m.Attempt("serpi", req, 500, time.Millisecond, nil)
	m.Retry("serpi", req)
	m.BreakerState("serpi", "open")
	m.CacheResult("hit")
	m.SubscriptionOpened()
	if got := testutil.ToFloat64(m.upstreamCalls.WithLabelValues("serpi", "GET /api/v1/Impuesto", "500")); got != 1 {
		t.Errorf("upstream calls with 500 = %v", got)
	}
	if got := testutil.ToFloat64(m.circuitState.WithLabelValues("serpi")); got != 2 {
		t.Errorf("circuit state = %v, want 2 (open)", got)
	}
	s := m.TimedSerializer("serpi", serializer.NewLocal())
	if err := s.Do(context.Background(), "k", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`gateway_upstream_calls_total{endpoint="GET /api/v1/Impuesto",status="200",upstream="serpi"} 1`,
		`gateway_upstream_retries_total{upstream="serpi"} 1`,
		`gateway_cache_requests_total{result="hit"} 1`,
		`gateway_open_subscriptions 1`,
		`gateway_serializer_wait_seconds_count{upstream="serpi"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestOperationNamesAreBounded(t *testing.T) {
	m := New()
	m.KnownOperations("PortalQuote")
	// Anonymous callers (mayLearn false) never earn a label.
	for i := range 300 {
		if got := m.operationLabel(fmt.Sprintf("Made%d", i), false); got != "other" {
			t.Fatalf("an anonymous name became %q", got)
		}
	}
	tests := []struct {
		name     string
		mayLearn bool
		want     string
	}{
		{"PortalQuote", false, "PortalQuote"}, // declared
		{"Unlisted", false, "other"},
		{"IntegrationSync", true, "IntegrationSync"}, // learned from an API key's success
		{"IntegrationSync", false, "IntegrationSync"},
	}
	for _, tt := range tests {
		if got := m.operationLabel(tt.name, tt.mayLearn); got != tt.want {
			t.Errorf("%s (mayLearn %v): %q, want %q", tt.name, tt.mayLearn, got, tt.want)
		}
	}
	// Learning is bounded too.
	for i := range maxOperationNames + 50 {
		m.operationLabel(fmt.Sprintf("Op%d", i), true)
	}
	if got := m.operationLabel("Op1", false); got != "Op1" {
		t.Fatalf("a learned name became %q", got)
	}
	if got := m.operationLabel("BrandNew", true); got != "other" {
		t.Fatalf("past the budget a name became %q, want other", got)
	}
	if got := m.operationLabel("PortalQuote", false); got != "PortalQuote" {
		t.Fatalf("a declared name became %q past the budget", got)
	}
}
