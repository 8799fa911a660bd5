// Package layers states the gateway's architecture as data and checks it:
// the folders read as the request path, top to bottom, and a package may
// import only packages of its own layer or below.
//
//	cmd/                          the binaries
//	internal/edge/server          assembles the HTTP handler
//	internal/edge/...             HTTP edge: limits, rate limits, persisted queries,
//	                              playground, observability, metrics
//	graph, resolvers, resolvers/loaders
//	                              GraphQL execution (gqlgen's generated executor
//	                              and the thin resolvers it calls)
//	internal/auth                 who the caller is and what they may do
//	internal/catalog/...          domain services: the catalog index and writes,
//	internal/customer/...         a customer's reads and the sign-in guard,
//	internal/registration/...     registration and its live status
//	graph/model, graph/apperr, graph/relay
//	                              the contract's types: models and scalars,
//	                              error codes, global ids and cursors
//	backends/..., cache/...       upstream clients (with the per-token serializer
//	                              and the resilient transport), the shared cache
//	internal/testutil, internal/redistest
//	                              test support, imported only by tests
package layers

import "strings"

// Rank is a package's layer: higher layers may import lower ones, never
// the reverse. Packages of one rank may import each other (Go forbids
// cycles anyway).
type Rank int

// The layers, bottom to top.
const (
	TestSupport Rank = iota
	Infrastructure
	Contract
	Domain
	Identity
	Execution
	Edge
	Assembly
	Binary
)

// Of returns the layer of a package path relative to the module root
// ("internal/edge/server"), and false for a path no layer claims.
func Of(rel string) (Rank, bool) {
	under := func(dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }
	switch {
	case under("cmd"):
		return Binary, true
	case rel == "internal/edge/server":
		return Assembly, true
	case under("internal/edge"):
		return Edge, true
	case rel == "graph", under("resolvers"):
		return Execution, true
	case under("internal/auth"):
		return Identity, true
	case under("internal/catalog"), under("internal/customer"), under("internal/registration"):
		return Domain, true
	case under("graph"):
		return Contract, true
	case under("backends"), under("cache"):
		return Infrastructure, true
	case under("internal/testutil"), under("internal/redistest"):
		return TestSupport, true
	}
	return 0, false
}
