package resolvers

import (
	"context"
	"errors"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/graph/relay"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/resolvers/loaders"
)

// Page size bounds of catalog connections.
const (
	defaultPageSize = 20
	maxPageSize     = 100
	maxCodes        = 100
)

// catalogCredential returns the SERPI credential bound to the caller's API
// key. The @hasScope directive has already run; checking again here keeps
// a resolver safe even if a schema edit drops the directive.
func catalogCredential(ctx context.Context) (serpi.Credential, error) {
	// SECURITY: catalog reads need catalog:read and use the SERPI
	// credential bound to the caller's key, never a default one.
	key, err := auth.RequireScope(ctx, auth.ScopeCatalogRead)
	if err != nil {
		return serpi.Credential{}, err
	}
	return key.Serpi, nil
}

// collectionLoader is a Loaders method returning one indexed collection,
// e.g. (*loaders.Loaders).Branches.
type collectionLoader[T any] func(*loaders.Loaders, context.Context, serpi.Credential) (*catalog.Index[T], error)

// catalogPage answers a catalog connection: it validates the Relay
// arguments, loads the collection with the caller's SERPI credential,
// applies q and cuts the requested page.
func catalogPage[T any](ctx context.Context, typ string, first *int, after *string, load collectionLoader[T], q catalog.Query[T]) (catalog.Page[T], *model.PageInfo, []string, error) {
	n, afterID, err := pageArgs(first, after, typ)
	if err != nil {
		return catalog.Page[T]{}, nil, nil, err
	}
	cred, err := catalogCredential(ctx)
	if err != nil {
		return catalog.Page[T]{}, nil, nil, err
	}
	ix, err := load(loaders.For(ctx), ctx, cred)
	if err != nil {
		return catalog.Page[T]{}, nil, nil, err
	}
	page := ix.FindPage(q, afterID, n)
	info, cursors := pageInfo(page, typ)
	return page, info, cursors, nil
}

// catalogLookup answers a catalog lookup by global ID: nil when no record
// of that type has the id.
func catalogLookup[T, N any](ctx context.Context, id, typ string, load collectionLoader[T], convert func(T) *N) (*N, error) {
	serpiID, ok, err := catalogID(id, typ)
	if err != nil || !ok {
		return nil, err
	}
	cred, err := catalogCredential(ctx)
	if err != nil {
		return nil, err
	}
	ix, err := load(loaders.For(ctx), ctx, cred)
	if err != nil {
		return nil, err
	}
	if record, found := ix.Get(serpiID); found {
		return convert(record), nil
	}
	return nil, nil
}

// pageArgs validates Relay arguments and decodes the cursor.
func pageArgs(first *int, after *string, typ string) (int, int64, error) {
	n := defaultPageSize
	if first != nil {
		n = *first
		if n < 1 || n > maxPageSize {
			return 0, 0, apperr.BadInput("first", "first must be between 1 and %d, got %d", maxPageSize, n)
		}
	}
	var afterID int64
	if after != nil && *after != "" {
		id, err := relay.ParseCursor(*after, typ)
		if err != nil {
			return 0, 0, apperr.BadInput("after", "after is not a cursor of this connection")
		}
		afterID = id
	}
	return n, afterID, nil
}

// pageEdges builds a page's edges, all in one allocation rather than one
// per edge.
func pageEdges[T, E any](items []T, cursors []string, edge func(cursor string, item T) E) []*E {
	slab := make([]E, len(items))
	edges := make([]*E, len(items))
	for i, item := range items {
		slab[i] = edge(cursors[i], item)
		edges[i] = &slab[i]
	}
	return edges
}

func branchEdge(cursor string, b serpi.Sucursal) model.BranchEdge {
	return model.BranchEdge{Cursor: cursor, Node: toBranch(b)}
}

func taxEdge(cursor string, t serpi.Impuesto) model.TaxEdge {
	return model.TaxEdge{Cursor: cursor, Node: toTax(t)}
}

func articleEdge(cursor string, a serpi.Articulo) model.ArticleEdge {
	return model.ArticleEdge{Cursor: cursor, Node: toArticle(a)}
}

// pageInfo builds Relay's PageInfo and the edges' cursors for a page.
func pageInfo[T any](page catalog.Page[T], typ string) (*model.PageInfo, []string) {
	cursors := make([]string, len(page.IDs))
	for i, id := range page.IDs {
		cursors[i] = relay.Cursor(typ, id)
	}
	info := &model.PageInfo{HasNextPage: page.HasNext, HasPreviousPage: page.HasPrev}
	if len(cursors) > 0 {
		info.StartCursor = &cursors[0]
		info.EndCursor = &cursors[len(cursors)-1]
	}
	return info, cursors
}

func trimmed(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

func branchQuery(f *model.BranchFilter) catalog.Query[serpi.Sucursal] {
	q := catalog.Query[serpi.Sucursal]{Equal: map[string][]string{}}
	if f == nil {
		return q
	}
	if nit := trimmed(f.Nit); nit != "" {
		q.Equal[catalog.KeyNIT] = []string{nit}
	}
	if city := trimmed(f.CityCode); city != "" {
		q.Equal[catalog.KeyCityCode] = []string{city}
	}
	q.Search = trimmed(f.Search)
	return q
}

func taxQuery(f *model.TaxFilter) catalog.Query[serpi.Impuesto] {
	if f == nil {
		return catalog.Query[serpi.Impuesto]{}
	}
	return catalog.Query[serpi.Impuesto]{Search: trimmed(f.Search)}
}

func articleQuery(f *model.ArticleFilter) (catalog.Query[serpi.Articulo], error) {
	q := catalog.Query[serpi.Articulo]{Equal: map[string][]string{}}
	if f == nil {
		return q, nil
	}
	if len(f.Codes) > maxCodes {
		return q, apperr.BadInput("filter.codes", "filter.codes takes at most %d codes, got %d", maxCodes, len(f.Codes))
	}
	var preds []func(serpi.Articulo) bool
	if f.Codes != nil {
		// An explicit empty list selects nothing, not everything: the index
		// has no record under the empty code.
		codes := []string{""}
		for _, c := range f.Codes {
			if c = strings.TrimSpace(c); c != "" {
				codes = append(codes, c)
			}
		}
		q.Equal[catalog.KeyCode] = codes
	}
	if code := trimmed(f.Code); code != "" {
		if f.Codes == nil {
			q.Equal[catalog.KeyCode] = []string{code}
		} else {
			preds = append(preds, func(a serpi.Articulo) bool { return strings.TrimSpace(string(a.Codigo)) == code })
		}
	}
	if f.Active != nil {
		want := *f.Active
		preds = append(preds, func(a serpi.Articulo) bool { return bool(a.Activo) == want })
	}
	if len(preds) > 0 {
		q.Where = func(a serpi.Articulo) bool {
			for _, p := range preds {
				if !p(a) {
					return false
				}
			}
			return true
		}
	}
	q.Search = trimmed(f.Search)
	return q, nil
}

// catalogID decodes a catalog object's global ID (or plain SERPI id). A
// malformed ID is the caller's mistake; an ID of another type simply
// names nothing of this type.
func catalogID(id, typ string) (n int64, ok bool, err error) {
	n, err = relay.ParseIntID(id, typ)
	switch {
	case err == nil:
		return n, true, nil
	case errors.Is(err, relay.ErrWrongType):
		return 0, false, nil
	default:
		return 0, false, apperr.BadInput("id", "%q is not a valid %s id", id, typ)
	}
}
