package catalogwrite

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// ItemError is one refused item of a bulk write.
type ItemError struct {
	// Index is the item's 0-based position in the caller's input list; nil
	// when SERPI reported a problem without naming an item.
	Index *int
	// Field is the offending input's path ("input[3].code"), when known.
	Field string
	// Message says what is wrong.
	Message string
}

// BulkResult is what a bulk article write did.
type BulkResult struct {
	// Requested is the length of the caller's list.
	Requested int
	// Created and Updated count what SERPI applied (one of them is 0).
	Created, Updated int
	// Errors are the refused items, in input order: those failing the
	// gateway's checks (not sent) and those SERPI refused.
	Errors []ItemError
	// Articles are the written articles read back, in input order (by
	// code after a create, by id after an update); empty when they could
	// not be read back.
	Articles []serpi.Articulo
	// Message is SERPI's message; nil when nothing was sent.
	Message *string
	// Stale is set when other replicas may still serve the old values.
	Stale *Staleness
}

// CreateArticles checks every item, sends the valid ones in one bulk POST
// and reports the rest. When no item is valid (or the list is empty or too
// long) nothing is sent and the problems come back as Problems.
func (s *Service) CreateArticles(ctx context.Context, cred serpi.Credential, in []*model.ArticleInput) (*BulkResult, error) {
	return s.bulk(ctx, cred, len(in), false, func(i int) (serpi.Articulo, Problems) {
		return articleForCreate(itemPath(i), in[i])
	}, nil, s.Writer.CreateArticulos)
}

// UpdateArticles is CreateArticles for a bulk PUT by id, each item merged
// into the article as SERPI holds it (read in the same turn of the token
// as the write): fields left out keep their values.
func (s *Service) UpdateArticles(ctx context.Context, cred serpi.Credential, in []*model.UpdateArticleInput) (*BulkResult, error) {
	return s.bulk(ctx, cred, len(in), true, func(i int) (serpi.Articulo, Problems) {
		return articleForUpdate(itemPath(i), in[i], serpi.Articulo{})
	}, func(i int, cur serpi.Articulo) (serpi.Articulo, Problems) {
		return articleForUpdate(itemPath(i), in[i], cur)
	}, s.Writer.UpdateArticulos)
}

func itemPath(i int) string { return "input[" + strconv.Itoa(i) + "]" }

// batch is a bulk request after the gateway's checks.
type batch struct {
	sent     []serpi.Articulo // the valid items, in input order
	origin   []int            // origin[j] is the input index of sent[j]
	rejected []ItemError      // the gateway's problems, one per problem
	problems Problems         // the same, for the all-invalid case
}

// prepare checks n items and splits them into those to send and those to
// report. Codes (and, for updates, ids) must be unique within the
// request: every item sharing one is refused, since the gateway cannot
// tell which of them the caller meant.
func prepare(n int, update bool, item func(i int) (serpi.Articulo, Problems)) batch {
	items := make([]serpi.Articulo, n)
	perItem := make([]Problems, n)
	byCode := map[string][]int{}
	byID := map[int64][]int{}
	for i := range n {
		items[i], perItem[i] = item(i)
		if code := string(items[i].Codigo); code != "" {
			byCode[code] = append(byCode[code], i)
		}
		if update && items[i].ID.Valid {
			byID[items[i].ID.Value] = append(byID[items[i].ID.Value], i)
		}
	}
	for code, at := range byCode {
		if len(at) > 1 {
			for _, i := range at {
				perItem[i] = append(perItem[i], Problem{Field: itemPath(i) + ".code",
					Message: fmt.Sprintf("code %q appears more than once in this request (items %s)", code, joinInts(at))})
			}
		}
	}
	for id, at := range byID {
		if len(at) > 1 {
			for _, i := range at {
				perItem[i] = append(perItem[i], Problem{Field: itemPath(i) + ".id",
					Message: fmt.Sprintf("article %d appears more than once in this request (items %s)", id, joinInts(at))})
			}
		}
	}
	var b batch
	for i := range n {
		if len(perItem[i]) == 0 {
			b.sent = append(b.sent, items[i])
			b.origin = append(b.origin, i)
			continue
		}
		for _, p := range perItem[i] {
			b.rejected = append(b.rejected, ItemError{Index: intPtr(i), Field: p.Field, Message: p.Message})
			b.problems = append(b.problems, p)
		}
	}
	return b
}

// bulk runs one bulk write: check, then in one turn of the token read the
// current articles (updates: merge into them), send the valid items once
// and read back; map SERPI's per-item answers back to input indexes and
// invalidate.
func (s *Service) bulk(ctx context.Context, cred serpi.Credential, n int, update bool,
	item func(i int) (serpi.Articulo, Problems),
	merge func(i int, cur serpi.Articulo) (serpi.Articulo, Problems),
	write func(context.Context, serpi.Credential, []serpi.Articulo) (*serpi.WriteResult, error)) (*BulkResult, error) {
	if p := s.checkCount(n); p != nil {
		return nil, p
	}
	b := prepare(n, update, item)
	if len(b.sent) == 0 {
		return nil, b.problems
	}
	out := &BulkResult{Requested: n, Errors: b.rejected, Articles: []serpi.Articulo{}}

	var (
		res      *serpi.WriteResult
		writeErr error
		wrote    bool
		failed   = map[int]bool{} // positions in b.sent
		readBack func(w serpi.Articulo) (serpi.Articulo, bool)
	)
	err := s.turn(ctx, cred, func(ctx context.Context) error {
		if merge != nil {
			current, err := s.fresh().Articles(ctx, cred)
			if err != nil {
				return err
			}
			b = mergeCurrent(b, current, merge)
			out.Errors = b.rejected
			if len(b.sent) == 0 {
				return nil
			}
		}
		wrote = true
		res, writeErr = write(ctx, cred, b.sent)
		if writeErr != nil && !refusedItems(writeErr) {
			return nil
		}
		lookup, err := s.readBackArticles(ctx, cred, b.sent, update)
		if err != nil {
			s.logger().WarnContext(ctx, "could not read the written articles back", "error", err)
			return nil
		}
		readBack = lookup
		return nil
	})
	if err != nil {
		return nil, s.finish(ctx, cred, err, catalog.CollectionArticles)
	}
	if !wrote {
		return out, nil // every valid item named an id SERPI does not hold
	}

	var messages []string
	switch {
	case writeErr == nil:
		out.Message = &res.Message
		messages = res.Errors
	case refusedItems(writeErr):
		// SERPI refused every item it was sent, naming them: nothing was
		// written, and each item's reason belongs in the payload.
		ue, _ := upstream.As(writeErr)
		out.Message = &ue.Message
		messages = ue.Details
	default:
		return nil, s.failed(ctx, cred, writeErr, catalog.CollectionArticles)
	}

	items, other := serpi.ParseItemErrors(messages)
	for _, ie := range items {
		if ie.Index < 0 || ie.Index >= len(b.sent) {
			other = append(other, ie.Message)
			continue
		}
		failed[ie.Index] = true
		orig := b.origin[ie.Index]
		out.Errors = append(out.Errors, ItemError{Index: intPtr(orig), Field: serpiField(itemPath(orig), ie.Message), Message: ie.Message})
	}
	for _, m := range other {
		out.Errors = append(out.Errors, ItemError{Message: m})
	}
	sortErrors(out.Errors)

	done := 0
	if writeErr == nil {
		done = len(b.sent) - len(failed)
		if n, ok := appliedCount(res.Message); ok {
			done = n // SERPI's own count of what it did wins
		}
	}
	if update {
		out.Updated = done
	} else {
		out.Created = done
	}
	if done == 0 {
		return out, nil
	}

	out.Stale = s.invalidate(ctx, cred, catalog.CollectionArticles)
	written := make([]serpi.Articulo, 0, len(b.sent))
	for j, a := range b.sent {
		if !failed[j] {
			written = append(written, a)
		}
	}
	if readBack != nil {
		out.Articles = []serpi.Articulo{}
		for _, w := range written {
			if a, ok := readBack(w); ok {
				out.Articles = append(out.Articles, a)
			}
		}
	}
	return out, nil
}

// readBackArticles reads the sent articles back from SERPI and returns how
// to find each: a few by their codes (?codigo=, one call each), more with
// one walk of the collection. After an update the article must still have
// the id sent; after a create, the code is SERPI's unique key.
func (s *Service) readBackArticles(ctx context.Context, cred serpi.Credential, sent []serpi.Articulo, update bool) (func(serpi.Articulo) (serpi.Articulo, bool), error) {
	if s.ByCode != nil && len(sent) <= MaxCodeReadBacks {
		byCode := make(map[string]serpi.Articulo, len(sent))
		for _, w := range sent {
			code := strings.TrimSpace(string(w.Codigo))
			a, found, err := s.ByCode.ArticleByCode(ctx, cred, code)
			if err != nil {
				return nil, fmt.Errorf("read article %q back: %w", code, err)
			}
			if found {
				byCode[code] = a
			}
		}
		return func(w serpi.Articulo) (serpi.Articulo, bool) {
			a, ok := byCode[strings.TrimSpace(string(w.Codigo))]
			if ok && update && a.ID.Value != w.ID.Value {
				return serpi.Articulo{}, false
			}
			return a, ok
		}, nil
	}
	ix, err := s.fresh().Articles(ctx, cred)
	if err != nil {
		return nil, err
	}
	return func(w serpi.Articulo) (serpi.Articulo, bool) { return findArticle(ix, w, update) }, nil
}

// mergeCurrent lays each valid update item over its article as SERPI
// holds it; an item whose id SERPI does not hold is refused without being
// sent.
func mergeCurrent(b batch, current *catalog.Index[serpi.Articulo], merge func(i int, cur serpi.Articulo) (serpi.Articulo, Problems)) batch {
	out := batch{rejected: b.rejected, problems: b.problems}
	for j, a := range b.sent {
		orig := b.origin[j]
		cur, ok := current.Get(a.ID.Value)
		if !ok {
			out.rejected = append(out.rejected, ItemError{Index: intPtr(orig), Field: itemPath(orig) + ".id",
				Message: fmt.Sprintf("No se encontraron registros con el id %d", a.ID.Value)})
			continue
		}
		rec, problems := merge(orig, cur)
		if len(problems) > 0 { // unreachable: the checks do not depend on cur
			for _, p := range problems {
				out.rejected = append(out.rejected, ItemError{Index: intPtr(orig), Field: p.Field, Message: p.Message})
			}
			continue
		}
		out.sent = append(out.sent, rec)
		out.origin = append(out.origin, orig)
	}
	sortErrors(out.rejected)
	return out
}

// refusedItems reports a bulk write SERPI refused as a whole while naming
// the items (no item was valid to it).
func refusedItems(err error) bool {
	ue, ok := upstream.As(err)
	if !ok || ue.Kind != upstream.KindBadRequest {
		return false
	}
	items, _ := serpi.ParseItemErrors(ue.Details)
	return len(items) > 0
}

// findArticle looks a written item up in a walked collection: by id after
// an update, by code after a create (codes are unique in SERPI; the newest
// holding it).
func findArticle(ix *catalog.Index[serpi.Articulo], w serpi.Articulo, update bool) (serpi.Articulo, bool) {
	if update {
		return ix.Get(w.ID.Value)
	}
	return newest(ix.Find(catalog.Query[serpi.Articulo]{Equal: map[string][]string{catalog.KeyCode: {string(w.Codigo)}}}))
}

// appliedCountPattern reads "Se crearon 9 de 10 articulos".
var appliedCountPattern = regexp.MustCompile(`(\d+)\s+de\s+(\d+)`)

func appliedCount(message string) (int, bool) {
	m := appliedCountPattern.FindStringSubmatch(message)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// articleFieldNames maps the SERPI field names its messages quote ("El campo
// codigo es obligatorio") to the input's field names.
var articleFieldNames = map[string]string{
	"id": "id", "codigo": "code", "referencia": "reference", "barras": "barcode", "descripcion": "description",
	"idgrupocontable": "accountingGroupId", "descripcionalterna": "alternateDescription", "idlinea": "lineId",
	"idcategoria": "categoryId", "idpresentacion": "presentationId", "idmarca": "brandId",
	"idunidadmedida": "unitOfMeasureId", "peso": "weight", "costo": "cost", "costou": "lastCost",
	"activo": "active", "posicionarancel": "tariffPosition", "porcentajearancel": "tariffPercent",
	"diasmaximo": "maxDays", "diasminimo": "minDays", "diasoptimo": "optimalDays",
	"dias_reposicion": "replenishmentDays", "tipoplaneacion": "planningType", "multiplocompra": "purchaseMultiple",
	"pedidominimo": "minimumOrder", "stockminimounidades": "minimumStockUnits",
	"stockoptimounidades": "optimalStockUnits", "aplicapromocion": "promotionEnabled", "aplicakit": "kitEnabled",
	"exportable": "exportable", "volumen": "volume", "ubicacion": "location",
	"ubicacionalfanumerica": "locationCode", "palabrasclave": "keywords", "campospersonalizados": "customFields",
	"aplicaaiu": "aiuEnabled", "porcentajeaiu": "aiuPercent", "idgrupocontableaiu": "aiuAccountingGroupId",
}

var (
	fieldMessagePattern = regexp.MustCompile(`(?i)\bcampo\s+([A-Za-z_]+)`)
	codeMessagePattern  = regexp.MustCompile(`(?i)\bcon el c[oó]digo\b`)
	idMessagePattern    = regexp.MustCompile(`(?i)\bcon el id\b`)
)

// serpiField guesses the input field a SERPI item message is about; ""
// when it names none.
func serpiField(prefix, message string) string {
	if m := fieldMessagePattern.FindStringSubmatch(message); m != nil {
		if name, ok := articleFieldNames[strings.ToLower(m[1])]; ok {
			return prefix + "." + name
		}
	}
	switch {
	case codeMessagePattern.MatchString(message):
		return prefix + ".code"
	case idMessagePattern.MatchString(message):
		return prefix + ".id"
	}
	return ""
}

// sortErrors orders errors by input index (stable, so one item's problems
// keep their order); errors naming no item come last.
func sortErrors(errs []ItemError) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Index, errs[j].Index
		switch {
		case a == nil:
			return false
		case b == nil:
			return true
		default:
			return *a < *b
		}
	})
}

func intPtr(i int) *int { return &i }

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// newest is the match with the highest id.
func newest[T any](m catalog.Matches[T]) (T, bool) {
	if len(m.Items) == 0 {
		var zero T
		return zero, false
	}
	return m.Items[len(m.Items)-1], true
}
