// Package catalogwrite performs the catalog mutations: it checks every
// input against the seeds' request tables before anything is sent (required
// fields, 50-character texts, positive ids, non-negative decimals, bulk
// sizes, codes unique within a request), maps GraphQL inputs to SERPI's
// wire records, writes once (a write is never retried: a POST that timed
// out may have been applied), invalidates the cached collection so the next
// read on any replica sees the write, reads the written record back, and
// maps bulk answers to per-item errors indexed by the caller's own list.
package catalogwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// invalidateTimeout bounds the invalidation after a write.
const invalidateTimeout = 5 * time.Second

// DefaultMaxArticles is the most articles one bulk write takes when
// Service.MaxArticles is not set.
const DefaultMaxArticles = 200

// Catalog is the cached catalog: invalidated after a write, then read to
// find what was written.
type Catalog interface {
	Invalidate(ctx context.Context, cred serpi.Credential, collections ...string) error
	Branches(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Sucursal], error)
	Taxes(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Impuesto], error)
	Articles(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Articulo], error)
}

// Service performs catalog writes. Its zero value is not usable: Writer
// and Catalog are required.
type Service struct {
	Writer  serpi.Writer
	Catalog Catalog
	// MaxArticles caps a bulk write (DefaultMaxArticles when <= 0).
	MaxArticles int
	// Logger receives failures that do not fail a write that succeeded
	// (invalidation, reading the record back); slog.Default() when nil.
	Logger *slog.Logger
}

// Result is what a single-record write did.
type Result[T any] struct {
	// Record is the written record read back from SERPI; nil when it could
	// not be found again (the write itself succeeded).
	Record *T
	// Message is SERPI's message.
	Message string
}

// Notes added to an upstream error's details, so the caller knows whether
// retrying could write twice.
const (
	noteNotSent   = "the write was not sent to SERPI; it is safe to retry"
	noteUncertain = "the write may or may not have been applied and was not repeated; read the record back before retrying"
)

// CreateBranch validates in, creates the branch and reads it back as the
// newest branch with in's NIT and code (SERPI does not return the new id).
func (s *Service) CreateBranch(ctx context.Context, cred serpi.Credential, in model.CreateBranchInput) (*Result[serpi.Sucursal], error) {
	rec, problems := BranchForCreate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	res, err := s.Writer.CreateSucursal(ctx, cred, rec)
	if err != nil {
		return nil, s.failed(ctx, cred, err, catalog.CollectionBranches)
	}
	s.invalidate(ctx, cred, catalog.CollectionBranches)
	found := readBack(s, ctx, cred, "branch", s.Catalog.Branches, func(ix *catalog.Index[serpi.Sucursal]) (serpi.Sucursal, bool) {
		return newest(ix.Find(catalog.Query[serpi.Sucursal]{
			Equal: map[string][]string{catalog.KeyNIT: {string(rec.NitTercero)}},
			Where: func(b serpi.Sucursal) bool { return sameText(string(b.Codigo), string(rec.Codigo)) },
		}))
	})
	return &Result[serpi.Sucursal]{Record: found, Message: res.Message}, nil
}

// UpdateBranch validates in, replaces the branch and reads it back by id.
// An unknown id is the client's KindNotFound error.
func (s *Service) UpdateBranch(ctx context.Context, cred serpi.Credential, in model.UpdateBranchInput) (*Result[serpi.Sucursal], error) {
	rec, problems := BranchForUpdate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	res, err := s.Writer.UpdateSucursal(ctx, cred, rec)
	if err != nil {
		return nil, s.failed(ctx, cred, err, catalog.CollectionBranches)
	}
	s.invalidate(ctx, cred, catalog.CollectionBranches)
	found := readBack(s, ctx, cred, "branch", s.Catalog.Branches, func(ix *catalog.Index[serpi.Sucursal]) (serpi.Sucursal, bool) {
		return ix.Get(rec.ID.Value)
	})
	return &Result[serpi.Sucursal]{Record: found, Message: res.Message}, nil
}

// CreateTax validates in, creates the tax and reads it back as the newest
// tax with in's description (SERPI does not return the new id).
func (s *Service) CreateTax(ctx context.Context, cred serpi.Credential, in model.CreateTaxInput) (*Result[serpi.Impuesto], error) {
	rec, problems := TaxForCreate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	res, err := s.Writer.CreateImpuesto(ctx, cred, rec)
	if err != nil {
		return nil, s.failed(ctx, cred, err, catalog.CollectionTaxes)
	}
	s.invalidate(ctx, cred, catalog.CollectionTaxes)
	found := readBack(s, ctx, cred, "tax", s.Catalog.Taxes, func(ix *catalog.Index[serpi.Impuesto]) (serpi.Impuesto, bool) {
		return newest(ix.Find(catalog.Query[serpi.Impuesto]{
			Where: func(t serpi.Impuesto) bool { return sameText(string(t.Descripcion), string(rec.Descripcion)) },
		}))
	})
	return &Result[serpi.Impuesto]{Record: found, Message: res.Message}, nil
}

// UpdateTax validates in, replaces the tax and reads it back by id. An
// unknown id is the client's KindNotFound error.
func (s *Service) UpdateTax(ctx context.Context, cred serpi.Credential, in model.UpdateTaxInput) (*Result[serpi.Impuesto], error) {
	rec, problems := TaxForUpdate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	res, err := s.Writer.UpdateImpuesto(ctx, cred, rec)
	if err != nil {
		return nil, s.failed(ctx, cred, err, catalog.CollectionTaxes)
	}
	s.invalidate(ctx, cred, catalog.CollectionTaxes)
	found := readBack(s, ctx, cred, "tax", s.Catalog.Taxes, func(ix *catalog.Index[serpi.Impuesto]) (serpi.Impuesto, bool) {
		return ix.Get(rec.ID.Value)
	})
	return &Result[serpi.Impuesto]{Record: found, Message: res.Message}, nil
}

// failed classifies a write error. A write SERPI refused, or one never
// sent, changed nothing and is returned as is (never-sent ones say that
// a retry is safe). Any other failure (no answer in time, a broken
// connection, a 5xx) may have been applied: the collection is invalidated
// so a read shows whatever SERPI now holds, and the error says the write
// may or may not have been applied. Nothing is retried here.
func (s *Service) failed(ctx context.Context, cred serpi.Credential, err error, collection string) error {
	ue, ok := upstream.As(err)
	if !ok {
		return err
	}
	if errors.Is(err, serializer.ErrWaitTimeout) || errors.Is(err, serializer.ErrStore) {
		return withNote(ue, noteNotSent)
	}
	switch ue.Kind {
	case upstream.KindBadRequest, upstream.KindNotFound, upstream.KindUnauthorized,
		upstream.KindForbidden, upstream.KindRateLimited:
		return err
	}
	s.invalidate(ctx, cred, collection)
	return withNote(ue, noteUncertain)
}

// withNote returns a copy of ue with note appended to its details (the
// presenter shows details even where it hides an unavailable upstream's
// own message).
func withNote(ue *upstream.Error, note string) error {
	cp := *ue
	cp.Details = append(slices.Clip(ue.Details), note)
	return &cp
}

// invalidate drops cached collections after a write. A failure is logged,
// not returned: the write happened, and failing the mutation would invite
// the caller to write again.
func (s *Service) invalidate(ctx context.Context, cred serpi.Credential, collections ...string) {
	// Not bound to the caller's cancellation: a caller that went away after
	// the write must still not leave stale copies behind.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invalidateTimeout)
	defer cancel()
	if err := s.Catalog.Invalidate(ictx, cred, collections...); err != nil {
		s.logger().WarnContext(ctx, "catalog invalidation after a write failed; reads may be stale until the cache expires",
			"collections", collections, "error", err)
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// readBack loads a collection (just invalidated, so read from SERPI) and
// picks the written record. A failure is logged and gives nil.
func readBack[T any](s *Service, ctx context.Context, cred serpi.Credential, what string,
	load func(context.Context, serpi.Credential) (*catalog.Index[T], error),
	pick func(*catalog.Index[T]) (T, bool)) *T {
	ix, err := load(ctx, cred)
	if err != nil {
		s.logger().WarnContext(ctx, "could not read the written "+what+" back", "error", err)
		return nil
	}
	rec, ok := pick(ix)
	if !ok {
		return nil
	}
	return &rec
}

// newest is the match with the highest id: when a natural key is not
// unique, the record just created is the newest one holding it.
func newest[T any](m catalog.Matches[T]) (T, bool) {
	if len(m.Items) == 0 {
		var zero T
		return zero, false
	}
	return m.Items[len(m.Items)-1], true
}

// sameText compares SERPI texts as SERPI's users would: trimmed and
// case-insensitively.
func sameText(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// maxArticles is the bulk cap in effect.
func (s *Service) maxArticles() int {
	if s.MaxArticles > 0 {
		return s.MaxArticles
	}
	return DefaultMaxArticles
}

// checkCount refuses an empty or oversized bulk request as a whole.
func (s *Service) checkCount(n int) Problems {
	switch max := s.maxArticles(); {
	case n == 0:
		return Problems{{Field: "input", Message: "input must list at least one article"}}
	case n > max:
		return Problems{{Field: "input", Message: fmt.Sprintf("input lists %d articles; at most %d are accepted per request", n, max)}}
	}
	return nil
}
