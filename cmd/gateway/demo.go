package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
)

// Demo credentials. They exist only in -demo mode, where the upstreams are
// simulated; the simulator accepts demoSerpiSecret/demoSerpiToken.
const (
	demoKey         = "demo-key"
	demoReadOnlyKey = "demo-readonly-key"
	demoSerpiSecret = "demo-secret"
	demoSerpiToken  = "demo-token"
	demoCacheSecret = "demo-cache-secret-not-for-production"
)

// demoUpstreams is the in-process simulator the demo talks to, when the
// environment does not point the gateway at other upstreams.
type demoUpstreams struct {
	url    string // "" when both upstreams are external
	server *http.Server
}

// Close stops the simulator.
func (d *demoUpstreams) Close() {
	if d.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = d.server.Shutdown(ctx)
	}
}

// startDemo fills in what the demo needs beyond its defaults (the
// simulator's SERPI credential, the two demo API keys, a cache secret; see
// gatewaySettings): simulated upstreams on a loopback port unless
// BRILLA_URL and SERPI_URL are both set, and the playground's tab.
func startDemo(ctx context.Context, o *options) (*demoUpstreams, error) {
	d := &demoUpstreams{}
	if o.gateway.BrillaURL == "" || o.gateway.SerpiURL == "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("start simulated upstreams: %w", err)
		}
		s := sim.New(sim.Config{
			Latency: o.simLatency,
			Brilla:  brilla.SimConfig{RegistrationDelay: o.simRegDelay},
		})
		d.url = "http://" + ln.Addr().String()
		d.server = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = d.server.Serve(ln) }()
		if o.gateway.BrillaURL == "" {
			o.gateway.BrillaURL = d.url
		}
		if o.gateway.SerpiURL == "" {
			o.gateway.SerpiURL = d.url
		}
	}
	if o.gateway.PlaygroundHeaders == "" {
		o.gateway.PlaygroundHeaders = fmt.Sprintf(`{"X-Api-Key": %q}`, demoKey)
	}
	if o.gateway.PlaygroundQuery == "" {
		o.gateway.PlaygroundQuery = demoQuery
	}
	return d, nil
}

const demoQuery = `# Welcome to the Brilla + SERPI gateway (demo mode).
# The X-Api-Key header (Headers tab) lets you read the ERP catalog.
query Catalog {
  branches(first: 3, filter: {nit: "123456789"}) {
    totalCount
    edges { cursor node { id description address city { code } thirdParty { nit } } }
    pageInfo { hasNextPage endCursor }
  }
  taxes(first: 3, filter: {search: "iva"}) { edges { node { description rate } } }
}

# Sign in as a demo customer, then add
#   "Authorization": "Bearer <token>"
# to the headers and run Me.
mutation SignIn {
  generateToken(input: {vat: "123456789", contractNumber: "12345678", questionId: 1, answer: "mi_respuesta"}) {
    token
    expiresAt
  }
}

query Me {
  viewer {
    vat
    contract { number active }
    creditSummary { creditLimit available used }
    credits { name amount monthlyRate nextInstallment { date paymentAmount } }
  }
}
`

func printDemoBanner(w io.Writer, base string, d *demoUpstreams) {
	fmt.Fprintf(w, "Brilla + SERPI GraphQL gateway, demo mode\n\n")
	fmt.Fprintf(w, "  Playground:  %s/\n", base)
	fmt.Fprintf(w, "  GraphQL:     %s/graphql\n", base)
	if d.url != "" {
		fmt.Fprintf(w, "  Upstreams:   simulated at %s (counters: %s/_sim/stats)\n", d.url, d.url)
	}
	fmt.Fprintf(w, "\n  Catalog API keys (header X-Api-Key):\n")
	fmt.Fprintf(w, "    %-18s catalog:read, catalog:write\n", demoKey)
	fmt.Fprintf(w, "    %-18s catalog:read\n", demoReadOnlyKey)
	fmt.Fprintf(w, "\n  Demo customers (security question 1, answer %q):\n", brilla.DemoCustomers[0].Answer)
	for _, c := range brilla.DemoCustomers {
		if c.ContractActive {
			fmt.Fprintf(w, "    vat %s  contract %s  (%s)\n", c.Vat, c.ContractNumber, c.Name)
		}
	}
	c := brilla.DemoCustomers[0]
	fmt.Fprintf(w, "\n  Sign in:\n    mutation { generateToken(input: {vat: %q, contractNumber: %q, questionId: %d, answer: %q}) { token expiresAt } }\n",
		c.Vat, c.ContractNumber, c.QuestionID, c.Answer)
	fmt.Fprintf(w, "    then send the header  Authorization: Bearer <token>  and query { viewer { vat credits { name } } }\n\n")
	fmt.Fprintf(w, "  Try it:\n    curl -s %s/graphql -H 'Content-Type: application/json' -H 'X-Api-Key: %s' \\\n      -d '{\"query\":\"{ taxes(first: 3) { totalCount edges { node { description rate } } } }\"}'\n\n", base, demoKey)
}
