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
	"strconv"
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

// Catalog is the cached catalog: invalidated after a write. Its reads
// serve as Service.Fresh when that is not set (tests).
type Catalog interface {
	Invalidate(ctx context.Context, cred serpi.Credential, collections ...string) error
	Reader
}

// Reader reads whole collections; Service.Fresh reads them from SERPI
// itself, bypassing every cache (catalog.Loader).
type Reader interface {
	Branches(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Sucursal], error)
	Taxes(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Impuesto], error)
	Articles(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Articulo], error)
}

// Turner runs fn in one turn of cred's SERPI token: calls fn makes with
// the context it gets are not interleaved with any other call of the
// token (serpi.Client.InTurn).
type Turner interface {
	InTurn(ctx context.Context, cred serpi.Credential, fn func(ctx context.Context) error) error
}

// ArticleByCoder reads one article by its code (serpi.Client).
type ArticleByCoder interface {
	ArticleByCode(ctx context.Context, cred serpi.Credential, code string) (serpi.Articulo, bool, error)
}

// MaxCodeReadBacks is the largest bulk write read back one article at a
// time by code: past it, one walk of the collection (a page per
// SERPI_PAGE_SIZE articles) costs fewer calls of the token's turn.
const MaxCodeReadBacks = 5

// Service performs catalog writes. Its zero value is not usable: Writer
// and Catalog are required.
type Service struct {
	Writer  serpi.Writer
	Catalog Catalog
	// Fresh reads SERPI directly for the reads around a write (the current
	// record before an update, the ids before a create, the read-back);
	// Catalog when nil.
	Fresh Reader
	// Turns holds the SERPI token's turn across a write's reads and the
	// write itself; without it (tests) they simply run in sequence.
	Turns Turner
	// ByCode reads one article by its code (SERPI's ?codigo=): a bulk
	// write of at most MaxCodeReadBacks articles reads them back that way
	// instead of walking the collection. Nil: always walk.
	ByCode ArticleByCoder
	// MaxArticles caps a bulk write (DefaultMaxArticles when <= 0).
	MaxArticles int
	// Logger receives failures that do not fail a write that succeeded
	// (invalidation, reading the record back); slog.Default() when nil.
	Logger *slog.Logger
}

// Result is what a single-record write did.
type Result[T any] struct {
	// Record is the written record read back from SERPI; nil when it could
	// not be told apart (the write itself succeeded; Unresolved says why).
	Record *T
	// Message is SERPI's message.
	Message string
	// Unresolved explains a nil Record after a create: the read-back
	// failed, or found no record, or several, that the write could have
	// made.
	Unresolved *Unidentified
	// Stale is set when other replicas may still serve the old value.
	Stale *Staleness
}

// Notes added to an upstream error's details, so the caller knows whether
// retrying could write twice.
const (
	noteNotSent   = "the write was not sent to SERPI; it is safe to retry"
	noteUncertain = "the write may or may not have been applied and was not repeated; read the record back before retrying"
)

// turn runs fn in one turn of cred's token (see Turns).
func (s *Service) turn(ctx context.Context, cred serpi.Credential, fn func(ctx context.Context) error) error {
	if s.Turns == nil {
		return fn(ctx)
	}
	return s.Turns.InTurn(ctx, cred, fn)
}

func (s *Service) fresh() Reader {
	if s.Fresh != nil {
		return s.Fresh
	}
	return s.Catalog
}

// sent marks a write error as coming from the write itself (not from a
// read around it), for failed to classify.
type sent struct{ err error }

func (e *sent) Error() string { return e.err.Error() }
func (e *sent) Unwrap() error { return e.err }

// finish turns the outcome of a write's turn into the caller's error.
// A read before the write failing means nothing was sent.
func (s *Service) finish(ctx context.Context, cred serpi.Credential, err error, collection string) error {
	if p, ok := AsProblems(err); ok {
		return p
	}
	var w *sent
	if errors.As(err, &w) {
		return s.failed(ctx, cred, w.err, collection)
	}
	if ue, ok := upstream.As(err); ok {
		if ue.Kind == upstream.KindNotFound {
			return ue
		}
		return withNote(ue, noteNotSent)
	}
	return err
}

// CreateBranch validates in, creates the branch and reads it back (see
// createOne).
func (s *Service) CreateBranch(ctx context.Context, cred serpi.Credential, in model.CreateBranchInput) (*Result[serpi.Sucursal], error) {
	rec, problems := BranchForCreate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	return createOne(s, ctx, cred, "branch", catalog.CollectionBranches, rec, s.fresh().Branches,
		func(b serpi.Sucursal) int64 { return b.ID.Value }, sameBranch,
		func(ctx context.Context) (*serpi.WriteResult, error) { return s.Writer.CreateSucursal(ctx, cred, rec) })
}

// UpdateBranch merges in into the branch as SERPI holds it and writes it
// (see updateOne). An unknown id is KindNotFound.
func (s *Service) UpdateBranch(ctx context.Context, cred serpi.Credential, in model.UpdateBranchInput) (*Result[serpi.Sucursal], error) {
	id, problems := BranchForUpdate(in, serpi.Sucursal{})
	if len(problems) > 0 {
		return nil, problems
	}
	return updateOne(s, ctx, cred, catalog.CollectionBranches, serpi.PathSucursales, id.ID.Value, s.fresh().Branches,
		func(ctx context.Context, cur serpi.Sucursal) (*serpi.WriteResult, error) {
			rec, problems := BranchForUpdate(in, cur)
			if len(problems) > 0 {
				return nil, problems
			}
			return s.Writer.UpdateSucursal(ctx, cred, rec)
		})
}

// CreateTax validates in, creates the tax and reads it back (see
// createOne).
func (s *Service) CreateTax(ctx context.Context, cred serpi.Credential, in model.CreateTaxInput) (*Result[serpi.Impuesto], error) {
	rec, problems := TaxForCreate(in)
	if len(problems) > 0 {
		return nil, problems
	}
	return createOne(s, ctx, cred, "tax", catalog.CollectionTaxes, rec, s.fresh().Taxes,
		func(t serpi.Impuesto) int64 { return t.ID.Value }, sameTax,
		func(ctx context.Context) (*serpi.WriteResult, error) { return s.Writer.CreateImpuesto(ctx, cred, rec) })
}

// UpdateTax merges in into the tax as SERPI holds it and writes it (see
// updateOne). An unknown id is KindNotFound.
func (s *Service) UpdateTax(ctx context.Context, cred serpi.Credential, in model.UpdateTaxInput) (*Result[serpi.Impuesto], error) {
	id, problems := TaxForUpdate(in, serpi.Impuesto{})
	if len(problems) > 0 {
		return nil, problems
	}
	return updateOne(s, ctx, cred, catalog.CollectionTaxes, serpi.PathImpuesto, id.ID.Value, s.fresh().Taxes,
		func(ctx context.Context, cur serpi.Impuesto) (*serpi.WriteResult, error) {
			rec, problems := TaxForUpdate(in, cur)
			if len(problems) > 0 {
				return nil, problems
			}
			return s.Writer.UpdateImpuesto(ctx, cred, rec)
		})
}

// updateOne runs an update in one turn of the token: read the record as
// SERPI holds it now, merge the input into it and PUT it (write), read it
// back. Then it invalidates the cached collection. An id SERPI does not
// hold is KindNotFound without a write.
func updateOne[T any](s *Service, ctx context.Context, cred serpi.Credential, collection, path string, id int64,
	load func(context.Context, serpi.Credential) (*catalog.Index[T], error),
	write func(ctx context.Context, cur T) (*serpi.WriteResult, error)) (*Result[T], error) {
	out := &Result[T]{}
	wrote := false
	err := s.turn(ctx, cred, func(ctx context.Context) error {
		ix, err := load(ctx, cred)
		if err != nil {
			return err
		}
		cur, ok := ix.Get(id)
		if !ok {
			return &upstream.Error{Upstream: upstream.Serpi, Op: "PUT " + path, Kind: upstream.KindNotFound,
				Message: fmt.Sprintf("No se encontraron registros con el id %d", id)}
		}
		res, err := write(ctx, cur)
		if err != nil {
			if _, ok := AsProblems(err); ok {
				return err
			}
			return &sent{err}
		}
		wrote = true
		out.Message = res.Message
		ix, err = load(ctx, cred)
		if err != nil {
			s.logger().WarnContext(ctx, "could not read the updated record back", "collection", collection, "error", err)
			return nil
		}
		if rec, ok := ix.Get(id); ok {
			out.Record = &rec
		}
		return nil
	})
	if !wrote {
		return nil, s.finish(ctx, cred, err, collection)
	}
	out.Stale = s.invalidate(ctx, cred, collection)
	return out, nil
}

// createOne runs a create in one turn of the token: read the collection's
// ids, POST the record (write), read the collection again. The record
// created is the one whose id did not exist before and whose fields equal
// what was sent; a concurrent create through another token of the same
// company can add others, and one with identical fields cannot be told
// apart, so no match or several matches leave Record nil with Unresolved
// saying so. Then it invalidates the cached collection.
func createOne[T any](s *Service, ctx context.Context, cred serpi.Credential, what, collection string, rec T,
	load func(context.Context, serpi.Credential) (*catalog.Index[T], error),
	idOf func(T) int64, same func(written, stored T) bool,
	write func(ctx context.Context) (*serpi.WriteResult, error)) (*Result[T], error) {
	out := &Result[T]{}
	wrote := false
	err := s.turn(ctx, cred, func(ctx context.Context) error {
		before, err := load(ctx, cred)
		if err != nil {
			return err
		}
		res, err := write(ctx)
		if err != nil {
			return &sent{err}
		}
		wrote = true
		out.Message = res.Message
		after, err := load(ctx, cred)
		if err != nil {
			out.Unresolved = &Unidentified{Message: fmt.Sprintf("the %s was created, but reading it back from SERPI failed", what), Cause: err}
			return nil
		}
		var found []T
		for _, r := range after.Find(catalog.Query[T]{}).Items {
			if _, existed := before.Get(idOf(r)); !existed && same(rec, r) {
				found = append(found, r)
			}
		}
		switch len(found) {
		case 1:
			out.Record = &found[0]
		case 0:
			out.Unresolved = &Unidentified{Message: fmt.Sprintf("the %s was created, but no new record with the fields written was found when read back", what)}
		default:
			ids := make([]string, len(found))
			for i, r := range found {
				ids[i] = strconv.FormatInt(idOf(r), 10)
			}
			out.Unresolved = &Unidentified{Message: fmt.Sprintf("the %s was created, but %d records with exactly the fields written appeared at the same moment (ids %s: another client created the same); SERPI does not say which one is this write's",
				what, len(found), strings.Join(ids, ", "))}
		}
		return nil
	})
	if !wrote {
		return nil, s.finish(ctx, cred, err, collection)
	}
	out.Stale = s.invalidate(ctx, cred, collection)
	if out.Unresolved != nil {
		s.logger().WarnContext(ctx, "created record not identified", "collection", collection, "error", out.Unresolved)
	}
	return out, nil
}

// Unidentified says a created record could not be told apart. Message is
// safe to show; Cause (a failed read) is for logs.
type Unidentified struct {
	Message string
	Cause   error
}

func (u *Unidentified) Error() string {
	if u.Cause != nil {
		return u.Message + ": " + u.Cause.Error()
	}
	return u.Message
}

// Unwrap returns the cause.
func (u *Unidentified) Unwrap() error { return u.Cause }

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
	if !mayHaveApplied(err) {
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
// the caller to write again. When other replicas could not be told (Redis
// down, an acknowledgement missing), it returns how long they may serve
// the old value.
func (s *Service) invalidate(ctx context.Context, cred serpi.Credential, collections ...string) *Staleness {
	// Not bound to the caller's cancellation: a caller that went away after
	// the write must still not leave stale copies behind.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invalidateTimeout)
	defer cancel()
	err := s.Catalog.Invalidate(ictx, cred, collections...)
	if err == nil {
		return nil
	}
	var unconfirmed *catalog.UnconfirmedError
	if errors.As(err, &unconfirmed) {
		return &Staleness{MaxStale: unconfirmed.MaxStale}
	}
	s.logger().WarnContext(ctx, "catalog invalidation after a write failed; reads may be stale until the cache expires",
		"collections", collections, "error", err)
	return nil
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
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
