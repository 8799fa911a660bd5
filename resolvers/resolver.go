// Package resolvers implements the GraphQL schema of package graph. The
// resolvers are thin: they check access, read through the per-operation
// loaders or the small backend interfaces below, and map upstream records
// to GraphQL models.
package resolvers

import (
	"context"
	"log/slog"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/customer/loginguard"
	"github.com/serfigas/brilla-gateway/internal/registration"
	"github.com/serfigas/brilla-gateway/resolvers/loaders"
)

// BrillaAPI is what the resolvers call on Brilla directly; per-customer
// reads go through the loaders instead.
type BrillaAPI interface {
	GenerateToken(ctx context.Context, req brilla.TokenRequest) (*brilla.TokenResponse, error)
	Register(ctx context.Context, req brilla.RegisterRequest) (*brilla.RegisterResponse, error)
	RegistrationStatus(ctx context.Context, trackingCode string) (*brilla.RegistrationStatus, error)
	ValidateContract(ctx context.Context, req brilla.ValidateContractRequest) (*brilla.ValidateContractResponse, error)
}

// CatalogInvalidator drops cached collections after a write, so the next
// read on any replica sees it, and reads them to find what was written.
type CatalogInvalidator interface {
	loaders.CatalogReader
	Invalidate(ctx context.Context, cred serpi.Credential, collections ...string) error
}

// Resolver is the root resolver; it hands out one resolver per type.
type Resolver struct {
	Brilla BrillaAPI
	// Logins locks a document + contract after repeated failed sign-ins.
	Logins loginguard.Guard
	// Registrations validates registrations and submits each once
	// (idempotency across replicas).
	Registrations *registration.Service
	// RegistrationWatch follows registration states across replicas
	// (registrationStatus, registration); nil reads Brilla directly.
	RegistrationWatch RegistrationWatcher
	// Serpi writes the catalog; Catalog forgets what a write changed.
	Serpi   serpi.Writer
	Catalog CatalogInvalidator
	// CatalogLive serves catalogChanges and is told of every catalog
	// write; nil: no live catalog.
	CatalogLive CatalogWatcher
	// Logger receives problems that do not fail a request (such as a
	// cache invalidation failing after a successful write); slog.Default()
	// when nil.
	Logger *slog.Logger
	// CustomerSerpi is the SERPI credential used to read a customer's own
	// branches (customers hold no API key of their own).
	CustomerSerpi serpi.Credential
	// DefaultMonthlyRate is the creditQuote rate for anonymous callers
	// and customers without credits, in percent.
	DefaultMonthlyRate model.Decimal
	// Now is the clock (for quote dates); time.Now when nil.
	Now func() time.Time
}

var _ graph.ResolverRoot = (*Resolver)(nil)

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
