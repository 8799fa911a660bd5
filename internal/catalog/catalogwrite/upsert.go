package catalogwrite

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// UpsertStatus is what happened to one upsert item.
type UpsertStatus int

// The outcomes of an upsert item.
const (
	// UpsertRefused: not applied; the item's errors say why.
	UpsertRefused UpsertStatus = iota
	// UpsertCreated: the code was new and SERPI created the article.
	UpsertCreated
	// UpsertUpdated: the code existed and SERPI updated the article.
	UpsertUpdated
	// UpsertUncertain: sent, but SERPI gave no clear answer; it may or
	// may not have been applied.
	UpsertUncertain
)

// UpsertItem is the result of one upsert item.
type UpsertItem struct {
	// Code is the item's code, trimmed ("" when it gave none).
	Code   string
	Status UpsertStatus
	// Article is the article read back after the write; nil when refused
	// or not read back.
	Article *serpi.Articulo
	// Errors say why the item was refused.
	Errors []ItemError
}

// UpsertResult is what an upsert did.
type UpsertResult struct {
	Requested, Created, Updated int
	// Items holds one result per input item, in input order.
	Items []UpsertItem
	// Errors are SERPI's problems that name no item.
	Errors []ItemError
	// Messages are SERPI's messages, one per write sent.
	Messages []string
	// Stale is set when other replicas may still serve the old values.
	Stale *Staleness
}

// UpsertArticles creates the articles whose codes SERPI does not hold and
// merges the others into the articles as SERPI holds them, in one turn of
// the token: look the codes up (one ?codigo= read per code for up to
// MaxCodeReadBacks items, one walk of the collection for more), one bulk
// POST for the new codes, one bulk PUT for the others, then the read-back
// by code. Items failing the checks that do not depend on SERPI are
// refused before the turn; when none passes, nothing is sent and the
// problems come back as Problems.
func (s *Service) UpsertArticles(ctx context.Context, cred serpi.Credential, in []*model.UpsertArticleInput) (*UpsertResult, error) {
	n := len(in)
	if p := s.checkCount(n); p != nil {
		return nil, p
	}
	b := prepare(n, false, func(i int) (serpi.Articulo, Problems) { return upsertPrecheck(i, in[i]) })
	if len(b.sent) == 0 {
		return nil, b.problems
	}
	out := &UpsertResult{Requested: n, Items: make([]UpsertItem, n)}
	for i, item := range in {
		if item.Code != nil {
			out.Items[i].Code = strings.TrimSpace(*item.Code)
		}
	}
	for _, e := range b.rejected {
		out.Items[*e.Index].Errors = append(out.Items[*e.Index].Errors, e)
	}

	u := &upsert{s: s, cred: cred, in: in, out: out}
	err := s.turn(ctx, cred, func(ctx context.Context) error { return u.run(ctx, b) })
	if err != nil {
		return nil, s.finish(ctx, cred, err, catalog.CollectionArticles)
	}
	if u.mayHaveWritten {
		out.Stale = s.invalidate(ctx, cred, catalog.CollectionArticles)
	}
	sortErrors(out.Errors)
	return out, nil
}

// upsert is one UpsertArticles call's state inside the token's turn.
type upsert struct {
	s    *Service
	cred serpi.Credential
	in   []*model.UpsertArticleInput
	out  *UpsertResult
	// mayHaveWritten is set once a write may have changed SERPI.
	mayHaveWritten bool
}

// write is one bulk write of an upsert: the records and their input
// indexes.
type write struct {
	records []serpi.Articulo
	origin  []int
	status  UpsertStatus // what a success means for its items
	send    func(context.Context, serpi.Credential, []serpi.Articulo) (*serpi.WriteResult, error)
}

func (u *upsert) run(ctx context.Context, b batch) error {
	codes := make([]string, len(b.sent))
	for j, a := range b.sent {
		codes[j] = string(a.Codigo)
	}
	existing, err := u.s.articlesByCode(ctx, u.cred, codes)
	if err != nil {
		return err
	}
	creates := &write{status: UpsertCreated, send: u.s.Writer.CreateArticulos}
	updates := &write{status: UpsertUpdated, send: u.s.Writer.UpdateArticulos}
	for j, orig := range b.origin {
		var rec serpi.Articulo
		var problems Problems
		w := creates
		if cur, ok := existing[codes[j]]; ok {
			rec, problems = articleForUpdate(itemPath(orig), upsertAsUpdate(u.in[orig], cur.ID.Value), cur)
			w = updates
		} else {
			rec, problems = articleForCreate(itemPath(orig), upsertAsCreate(u.in[orig]))
		}
		if len(problems) > 0 {
			for _, p := range problems {
				u.out.Items[orig].Errors = append(u.out.Items[orig].Errors, ItemError{Index: intPtr(orig), Field: p.Field, Message: p.Message})
			}
			continue
		}
		w.records = append(w.records, rec)
		w.origin = append(w.origin, orig)
	}

	sentAny, stopped := false, false
	for _, w := range []*write{creates, updates} {
		if len(w.records) == 0 {
			continue
		}
		if stopped {
			u.notSent(w)
			continue
		}
		res, err := w.send(ctx, u.cred, w.records)
		if err != nil && !refusedItems(err) {
			if !sentAny {
				// Nothing of this call was written: the call fails as a
				// bulk write does, its error saying whether a retry is
				// safe.
				return &sent{err}
			}
			u.unanswered(ctx, w, err)
			stopped = true
			continue
		}
		sentAny = true
		u.answered(w, res, err)
	}
	return u.readBack(ctx, creates, updates)
}

// answered records SERPI's answer to a write: its message, and each
// item's outcome (SERPI names the items it refused by their position in
// the write).
func (u *upsert) answered(w *write, res *serpi.WriteResult, err error) {
	var messages []string
	if err == nil {
		u.mayHaveWritten = true
		u.out.Messages = append(u.out.Messages, res.Message)
		messages = res.Errors
	} else {
		ue, _ := upstream.As(err)
		u.out.Messages = append(u.out.Messages, ue.Message)
		messages = ue.Details
	}
	items, other := serpi.ParseItemErrors(messages)
	failed := map[int]bool{}
	for _, ie := range items {
		if ie.Index < 0 || ie.Index >= len(w.records) {
			other = append(other, ie.Message)
			continue
		}
		failed[ie.Index] = true
		orig := w.origin[ie.Index]
		u.out.Items[orig].Errors = append(u.out.Items[orig].Errors,
			ItemError{Index: intPtr(orig), Field: serpiField(itemPath(orig), ie.Message), Message: ie.Message})
	}
	for _, m := range other {
		u.out.Errors = append(u.out.Errors, ItemError{Message: m})
	}
	if err != nil {
		return
	}
	done := 0
	for j, orig := range w.origin {
		if !failed[j] {
			u.out.Items[orig].Status = w.status
			done++
		}
	}
	if n, ok := appliedCount(res.Message); ok {
		done = n // SERPI's own count of what it did wins
	}
	if w.status == UpsertCreated {
		u.out.Created = done
	} else {
		u.out.Updated = done
	}
}

// unanswered records a write that failed without naming items, after an
// earlier write of the call was sent: its items were refused, or may have
// been applied.
func (u *upsert) unanswered(ctx context.Context, w *write, err error) {
	status, message := UpsertRefused, "SERPI refused the write"
	if ue, ok := upstream.As(err); ok && ue.Message != "" {
		message += ": " + ue.Message
	}
	if mayHaveApplied(err) {
		u.mayHaveWritten = true
		status = UpsertUncertain
		message = "sent to SERPI, which gave no clear answer: " + noteUncertain + " (running upsertArticles again is safe)"
	}
	u.s.logger().WarnContext(ctx, "an upsert's second write failed", "error", err, "items", len(w.records))
	for _, orig := range w.origin {
		u.out.Items[orig].Status = status
		u.out.Items[orig].Errors = append(u.out.Items[orig].Errors, ItemError{Index: intPtr(orig), Message: message})
	}
}

// notSent refuses the items of a write not sent because an earlier one
// failed.
func (u *upsert) notSent(w *write) {
	for _, orig := range w.origin {
		u.out.Items[orig].Errors = append(u.out.Items[orig].Errors,
			ItemError{Index: intPtr(orig), Message: "not sent: an earlier write of this request failed; " + noteNotSent})
	}
}

// readBack reads the applied articles back by code; an updated one must
// still have the id it was written with.
func (u *upsert) readBack(ctx context.Context, ws ...*write) error {
	var written []serpi.Articulo
	var at []int
	for _, w := range ws {
		for j, orig := range w.origin {
			if u.out.Items[orig].Status == w.status {
				written = append(written, w.records[j])
				at = append(at, orig)
			}
		}
	}
	if len(written) == 0 {
		return nil
	}
	lookup, err := u.s.readBackArticles(ctx, u.cred, written, false)
	if err != nil {
		u.s.logger().WarnContext(ctx, "could not read the upserted articles back", "error", err)
		return nil
	}
	for j, w := range written {
		if a, ok := lookup(w); ok && (!w.ID.Valid || a.ID.Value == w.ID.Value) {
			u.out.Items[at[j]].Article = &a
		}
	}
	return nil
}

// articlesByCode looks codes up in SERPI: one ?codigo= read per code for
// up to MaxCodeReadBacks codes, one walk of the collection for more
// (whichever costs fewer calls of the token's turn).
func (s *Service) articlesByCode(ctx context.Context, cred serpi.Credential, codes []string) (map[string]serpi.Articulo, error) {
	found := make(map[string]serpi.Articulo, len(codes))
	if s.ByCode != nil && len(codes) <= MaxCodeReadBacks {
		for _, code := range codes {
			a, ok, err := s.ByCode.ArticleByCode(ctx, cred, code)
			if err != nil {
				return nil, fmt.Errorf("look article %q up: %w", code, err)
			}
			if ok {
				found[code] = a
			}
		}
		return found, nil
	}
	ix, err := s.fresh().Articles(ctx, cred)
	if err != nil {
		return nil, err
	}
	for _, code := range codes {
		if a, ok := newest(ix.Find(catalog.Query[serpi.Articulo]{Equal: map[string][]string{catalog.KeyCode: {code}}})); ok {
			found[code] = a
		}
	}
	return found, nil
}

// mayHaveApplied reports a write error after which SERPI may or may not
// hold the write: not a refusal, and not a write that never left the
// gateway.
func mayHaveApplied(err error) bool {
	ue, ok := upstream.As(err)
	if !ok || errors.Is(err, serializer.ErrWaitTimeout) || errors.Is(err, serializer.ErrStore) {
		return false
	}
	switch ue.Kind {
	case upstream.KindBadRequest, upstream.KindNotFound, upstream.KindUnauthorized,
		upstream.KindForbidden, upstream.KindRateLimited:
		return false
	}
	return true
}

// upsertPrecheck checks what an upsert item must satisfy whether or not
// SERPI holds its code: a code, and valid values for the fields given (a
// null on a field SERPI requires is refused either way). The required
// fields of a create are checked once the code is known to be new.
func upsertPrecheck(i int, in *model.UpsertArticleInput) (serpi.Articulo, Problems) {
	c := &checker{prefix: itemPath(i)}
	code := c.text("code", in.Code, true)
	_, problems := articleForUpdate(itemPath(i), upsertAsUpdate(in, 1), serpi.Articulo{})
	return serpi.Articulo{Codigo: code}, append(c.problems, problems...)
}

// upsertAsCreate is an upsert item as a create: fields left out or null
// are not given.
func upsertAsCreate(in *model.UpsertArticleInput) *model.ArticleInput {
	return &model.ArticleInput{
		Code: in.Code, Reference: in.Reference.Value(), Barcode: in.Barcode.Value(), Description: in.Description.Value(),
		AlternateDescription: in.AlternateDescription.Value(), Active: in.Active.Value(),
		AccountingGroupID: in.AccountingGroupID.Value(), LineID: in.LineID.Value(), CategoryID: in.CategoryID.Value(),
		PresentationID: in.PresentationID.Value(), BrandID: in.BrandID.Value(), UnitOfMeasureID: in.UnitOfMeasureID.Value(),
		Weight: in.Weight.Value(), Cost: in.Cost.Value(), LastCost: in.LastCost.Value(),
		TariffPosition: in.TariffPosition.Value(), TariffPercent: in.TariffPercent.Value(),
		MaxDays: in.MaxDays.Value(), MinDays: in.MinDays.Value(), OptimalDays: in.OptimalDays.Value(),
		ReplenishmentDays: in.ReplenishmentDays.Value(), PlanningType: in.PlanningType.Value(),
		PurchaseMultiple: in.PurchaseMultiple.Value(), MinimumOrder: in.MinimumOrder.Value(),
		MinimumStockUnits: in.MinimumStockUnits.Value(), OptimalStockUnits: in.OptimalStockUnits.Value(),
		PromotionEnabled: in.PromotionEnabled.Value(), KitEnabled: in.KitEnabled.Value(), Exportable: in.Exportable.Value(),
		Volume: in.Volume.Value(), Location: in.Location.Value(), LocationCode: in.LocationCode.Value(),
		Keywords: in.Keywords.Value(), CustomFields: in.CustomFields.Value(),
		AiuEnabled: in.AiuEnabled.Value(), AiuPercent: in.AiuPercent.Value(), AiuAccountingGroupID: in.AiuAccountingGroupID.Value(),
	}
}

// upsertAsUpdate is an upsert item as an update of article id. The code
// is the key the article was found by, so it is not written over.
func upsertAsUpdate(in *model.UpsertArticleInput, id int64) *model.UpdateArticleInput {
	return &model.UpdateArticleInput{
		ID: strconv.FormatInt(id, 10), Code: graphql.Omittable[*string]{},
		Reference: in.Reference, Barcode: in.Barcode, Description: in.Description,
		AlternateDescription: in.AlternateDescription, Active: in.Active,
		AccountingGroupID: in.AccountingGroupID, LineID: in.LineID, CategoryID: in.CategoryID,
		PresentationID: in.PresentationID, BrandID: in.BrandID, UnitOfMeasureID: in.UnitOfMeasureID,
		Weight: in.Weight, Cost: in.Cost, LastCost: in.LastCost,
		TariffPosition: in.TariffPosition, TariffPercent: in.TariffPercent,
		MaxDays: in.MaxDays, MinDays: in.MinDays, OptimalDays: in.OptimalDays,
		ReplenishmentDays: in.ReplenishmentDays, PlanningType: in.PlanningType,
		PurchaseMultiple: in.PurchaseMultiple, MinimumOrder: in.MinimumOrder,
		MinimumStockUnits: in.MinimumStockUnits, OptimalStockUnits: in.OptimalStockUnits,
		PromotionEnabled: in.PromotionEnabled, KitEnabled: in.KitEnabled, Exportable: in.Exportable,
		Volume: in.Volume, Location: in.Location, LocationCode: in.LocationCode,
		Keywords: in.Keywords, CustomFields: in.CustomFields,
		AiuEnabled: in.AiuEnabled, AiuPercent: in.AiuPercent, AiuAccountingGroupID: in.AiuAccountingGroupID,
	}
}
