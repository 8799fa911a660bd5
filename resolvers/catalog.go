package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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

// pageRequest holds a connection's Relay arguments.
type pageRequest struct {
	first, last   *int
	after, before *string
}

// catalogPage answers a catalog connection: it validates the Relay
// arguments against the order, loads the collection with the caller's
// SERPI credential, applies q in that order and cuts the requested page.
// Everything after the load is answered from the index.
func catalogPage[T any](ctx context.Context, typ string, pr pageRequest, load collectionLoader[T], q catalog.Query[T]) (catalog.Page[T], *model.PageInfo, []string, error) {
	w, err := pageArgs(pr, typ, q.Order)
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
	page := ix.FindWindow(q, w)
	info, cursors := pageInfo(page, typ, q.Order)
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

// orderName names an order in cursors: "" for the default (id,
// ascending), so that cursors of the default order keep their form.
func orderName(o catalog.Order) string {
	field := o.Field
	if field == "" {
		if !o.Desc {
			return ""
		}
		field = "id"
	}
	if o.Desc {
		return field + ".desc"
	}
	return field + ".asc"
}

// pageArgs validates the Relay arguments and decodes the cursors, which
// must have been made in order.
func pageArgs(pr pageRequest, typ string, order catalog.Order) (catalog.Window, error) {
	var w catalog.Window
	if pr.first != nil && pr.last != nil {
		return w, apperr.BadInput("last", "first and last cannot be given together")
	}
	for name, v := range map[string]*int{"first": pr.first, "last": pr.last} {
		if v != nil && (*v < 1 || *v > maxPageSize) {
			return w, apperr.BadInput(name, "%s must be between 1 and %d, got %d", name, maxPageSize, *v)
		}
	}
	w.First, w.Last = pr.first, pr.last
	if w.First == nil && w.Last == nil {
		n := defaultPageSize
		w.First = &n
	}
	var err error
	if w.After, err = cursorArg("after", pr.after, typ, order); err != nil {
		return w, err
	}
	if w.Before, err = cursorArg("before", pr.before, typ, order); err != nil {
		return w, err
	}
	return w, nil
}

// cursorArg decodes the cursor argument name; nil when not given.
func cursorArg(name string, cursor *string, typ string, order catalog.Order) (*catalog.Position, error) {
	if cursor == nil || *cursor == "" {
		return nil, nil
	}
	got, id, key, err := relay.ParseOrderedCursor(*cursor, typ)
	if err != nil {
		return nil, apperr.BadInput(name, "%s is not a cursor of this connection", name)
	}
	if got != orderName(order) {
		return nil, apperr.BadInput(name, "%s is a cursor of another order of this connection: pass the orderBy the cursor was read with", name)
	}
	return &catalog.Position{Key: key, ID: id}, nil
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
func pageInfo[T any](page catalog.Page[T], typ string, order catalog.Order) (*model.PageInfo, []string) {
	name := orderName(order)
	cursors := make([]string, len(page.IDs))
	for i, id := range page.IDs {
		cursors[i] = relay.OrderedCursor(typ, name, id, page.Keys[i])
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

// Bounds of filter texts: exact criteria match texts of at most SERPI's
// 50 characters, so a longer one can only match nothing; free text and
// custom field values get more room.
const (
	maxExactFilterLen  = 50
	maxSearchFilterLen = 200
	maxCustomValueLen  = 200
)

// filterText trims an optional filter text and bounds its length.
func filterText(field string, v *string, maxLen int) (string, error) {
	s := trimmed(v)
	if n := utf8.RuneCountInString(s); n > maxLen {
		return "", apperr.BadInput(field, "%s must be at most %d characters, got %d", field, maxLen, n)
	}
	return s, nil
}

// filterTexts reads several optional filter texts; the first error wins.
type filterTexts struct{ err error }

func (f *filterTexts) text(field string, v *string, maxLen int) string {
	if f.err != nil {
		return ""
	}
	s, err := filterText(field, v, maxLen)
	f.err = err
	return s
}

// equalInt adds an exact integer criterion.
func equalInt(q map[string][]string, key string, v *int) {
	if v != nil {
		q[key] = []string{catalog.IntKey(int64(*v))}
	}
}

// equalBool adds an exact boolean criterion.
func equalBool(q map[string][]string, key string, v *bool) {
	if v != nil {
		q[key] = []string{catalog.BoolKey(*v)}
	}
}

// equalText adds an exact text criterion when s is not empty.
func equalText(q map[string][]string, key, s string) {
	if s != "" {
		q[key] = []string{s}
	}
}

func branchQuery(f *model.BranchFilter, o *model.BranchOrder) (catalog.Query[serpi.Sucursal], error) {
	q := catalog.Query[serpi.Sucursal]{Equal: map[string][]string{}, Order: branchOrder(o)}
	if f == nil {
		return q, nil
	}
	var t filterTexts
	equalText(q.Equal, catalog.KeyNIT, t.text("filter.nit", f.Nit, maxExactFilterLen))
	equalText(q.Equal, catalog.KeyCityCode, t.text("filter.cityCode", f.CityCode, maxExactFilterLen))
	q.Search = t.text("filter.search", f.Search, maxSearchFilterLen)
	equalInt(q.Equal, catalog.KeyThirdPartyID, f.ThirdPartyID)
	equalInt(q.Equal, catalog.KeySellerID, f.SellerID)
	equalBool(q.Equal, catalog.KeyIsBillingAddress, f.IsBillingAddress)
	equalBool(q.Equal, catalog.KeyIsShippingAddress, f.IsShippingAddress)
	return q, t.err
}

func taxQuery(f *model.TaxFilter, o *model.TaxOrder) (catalog.Query[serpi.Impuesto], error) {
	q := catalog.Query[serpi.Impuesto]{Equal: map[string][]string{}, Order: taxOrder(o)}
	if f == nil {
		return q, nil
	}
	var t filterTexts
	q.Search = t.text("filter.search", f.Search, maxSearchFilterLen)
	if t.err != nil {
		return q, t.err
	}
	equalInt(q.Equal, catalog.KeyAppliesTo, f.AppliesTo)
	if f.RateMin != nil || f.RateMax != nil {
		r := &catalog.KeyRange{Field: catalog.SortRate}
		var ok bool
		if f.RateMin != nil {
			if r.Min, ok = catalog.SortDecimal(string(*f.RateMin)); !ok {
				return q, apperr.BadInput("filter.rateMin", "filter.rateMin must be a decimal number")
			}
		}
		if f.RateMax != nil {
			if r.Max, ok = catalog.SortDecimal(string(*f.RateMax)); !ok {
				return q, apperr.BadInput("filter.rateMax", "filter.rateMax must be a decimal number")
			}
		}
		if r.Min != "" && r.Max != "" && r.Min > r.Max {
			return q, apperr.BadInput("filter.rateMax", "filter.rateMax (%s) must not be below filter.rateMin (%s)", *f.RateMax, *f.RateMin)
		}
		q.Range = r
	}
	return q, nil
}

func articleQuery(f *model.ArticleFilter, o *model.ArticleOrder) (catalog.Query[serpi.Articulo], error) {
	q := catalog.Query[serpi.Articulo]{Equal: map[string][]string{}, Order: articleOrder(o)}
	if f == nil {
		return q, nil
	}
	if len(f.Codes) > maxCodes {
		return q, apperr.BadInput("filter.codes", "filter.codes takes at most %d codes, got %d", maxCodes, len(f.Codes))
	}
	var t filterTexts
	var preds []func(serpi.Articulo) bool
	if f.Codes != nil {
		// An explicit empty list selects nothing, not everything: the index
		// has no record under the empty code.
		codes := []string{""}
		for i := range f.Codes {
			if c := t.text(fmt.Sprintf("filter.codes[%d]", i), &f.Codes[i], maxExactFilterLen); c != "" {
				codes = append(codes, c)
			}
		}
		q.Equal[catalog.KeyCode] = codes
	}
	if code := t.text("filter.code", f.Code, maxExactFilterLen); code != "" {
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
	equalText(q.Equal, catalog.KeyBarcode, t.text("filter.barcode", f.Barcode, maxExactFilterLen))
	equalText(q.Equal, catalog.KeyReference, t.text("filter.reference", f.Reference, maxExactFilterLen))
	equalText(q.Equal, catalog.KeyKeyword, catalog.Normalize(t.text("filter.keyword", f.Keyword, maxExactFilterLen)))
	equalInt(q.Equal, catalog.KeyLineID, f.LineID)
	equalInt(q.Equal, catalog.KeyCategoryID, f.CategoryID)
	equalInt(q.Equal, catalog.KeyBrandID, f.BrandID)
	if cf := f.CustomField; cf != nil {
		// The name is matched exactly, untrimmed: SERPI's member names are
		// the client's own.
		if n := utf8.RuneCountInString(cf.Key); n < 1 || n > maxExactFilterLen {
			return q, apperr.BadInput("filter.customField.key", "filter.customField.key must be 1 to %d characters, got %d", maxExactFilterLen, n)
		}
		value := t.text("filter.customField.value", &cf.Value, maxCustomValueLen)
		q.Equal[catalog.KeyCustomField] = []string{catalog.CustomFieldKey(cf.Key, value)}
	}
	q.Search = t.text("filter.search", f.Search, maxSearchFilterLen)
	return q, t.err
}

// direction reports a descending direction (ASC when not given).
func direction(d *model.OrderDirection) bool { return d != nil && *d == model.OrderDirectionDesc }

func branchOrder(o *model.BranchOrder) catalog.Order {
	if o == nil {
		return catalog.Order{}
	}
	fields := map[model.BranchOrderField]string{
		model.BranchOrderFieldCode: catalog.SortCode, model.BranchOrderFieldDescription: catalog.SortDescription,
	}
	return catalog.Order{Field: fields[o.Field], Desc: direction(o.Direction)}
}

func taxOrder(o *model.TaxOrder) catalog.Order {
	if o == nil {
		return catalog.Order{}
	}
	fields := map[model.TaxOrderField]string{
		model.TaxOrderFieldDescription: catalog.SortDescription, model.TaxOrderFieldRate: catalog.SortRate,
	}
	return catalog.Order{Field: fields[o.Field], Desc: direction(o.Direction)}
}

func articleOrder(o *model.ArticleOrder) catalog.Order {
	if o == nil {
		return catalog.Order{}
	}
	fields := map[model.ArticleOrderField]string{
		model.ArticleOrderFieldCode: catalog.SortCode, model.ArticleOrderFieldDescription: catalog.SortDescription,
		model.ArticleOrderFieldReference: catalog.SortReference, model.ArticleOrderFieldCost: catalog.SortCost,
	}
	return catalog.Order{Field: fields[o.Field], Desc: direction(o.Direction)}
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
