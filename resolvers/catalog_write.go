package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/catalog/catalogwrite"
)

// writeCredential returns the SERPI credential bound to the caller's API
// key, if the key may write the catalog.
func writeCredential(ctx context.Context) (serpi.Credential, error) {
	// SECURITY: catalog writes need catalog:write (also enforced by the
	// @hasScope directive) and go to SERPI with the credential bound to the
	// caller's key, never a default one.
	key, err := auth.RequireScope(ctx, auth.ScopeCatalogWrite)
	if err != nil {
		return serpi.Credential{}, err
	}
	return key.Serpi, nil
}

// catalogWrites is the write service over the resolver's SERPI writer and
// cached catalog.
func (r *Resolver) catalogWrites() *catalogwrite.Service {
	s := &catalogwrite.Service{Writer: r.Serpi, Catalog: r.Catalog, Logger: r.Logger}
	// The reads around a write go to SERPI itself, in the write's turn of
	// the token (see catalogwrite.Service).
	if turns, ok := r.Serpi.(catalogwrite.Turner); ok {
		s.Turns = turns
	}
	if byCode, ok := r.Serpi.(catalogwrite.ArticleByCoder); ok {
		s.ByCode = byCode
	}
	if c, ok := r.Catalog.(interface{ Fresh() *catalog.Loader }); ok {
		s.Fresh = c.Fresh()
	}
	return s
}

// writeError turns a write's error into the response: input problems
// become one BAD_USER_INPUT error each (with extensions.field) and a nil
// error, so every problem is reported at once; other errors pass through.
func writeError(ctx context.Context, err error) error {
	problems, ok := catalogwrite.AsProblems(err)
	if !ok {
		return err
	}
	for _, p := range problems {
		graphql.AddError(ctx, apperr.BadInput(p.Field, "%s", p.Message))
	}
	return nil
}

func toBranchPayload(ctx context.Context, res *catalogwrite.Result[serpi.Sucursal]) *model.BranchPayload {
	reportWrite(ctx, res.Unresolved, res.Stale)
	out := &model.BranchPayload{Message: res.Message}
	if res.Record != nil {
		out.Branch = toBranch(*res.Record)
	}
	return out
}

func toTaxPayload(ctx context.Context, res *catalogwrite.Result[serpi.Impuesto]) *model.TaxPayload {
	reportWrite(ctx, res.Unresolved, res.Stale)
	out := &model.TaxPayload{Message: res.Message}
	if res.Record != nil {
		out.Tax = toTax(*res.Record)
	}
	return out
}

func toBulkArticlePayload(ctx context.Context, res *catalogwrite.BulkResult) *model.BulkArticlePayload {
	reportWrite(ctx, nil, res.Stale)
	out := &model.BulkArticlePayload{
		Requested: res.Requested,
		Created:   res.Created,
		Updated:   res.Updated,
		Errors:    make([]*model.ItemError, len(res.Errors)),
		Articles:  make([]*model.Article, len(res.Articles)),
		Message:   res.Message,
	}
	for i, e := range res.Errors {
		out.Errors[i] = &model.ItemError{Index: e.Index, Field: optional(e.Field), Message: e.Message}
	}
	for i, a := range res.Articles {
		out.Articles[i] = toArticle(a)
	}
	return out
}

// upsertStatuses maps the service's outcomes to the schema's.
var upsertStatuses = map[catalogwrite.UpsertStatus]model.UpsertStatus{
	catalogwrite.UpsertCreated:   model.UpsertStatusCreated,
	catalogwrite.UpsertUpdated:   model.UpsertStatusUpdated,
	catalogwrite.UpsertRefused:   model.UpsertStatusRefused,
	catalogwrite.UpsertUncertain: model.UpsertStatusUncertain,
}

func toItemErrors(errs []catalogwrite.ItemError) []*model.ItemError {
	out := make([]*model.ItemError, len(errs))
	for i, e := range errs {
		out[i] = &model.ItemError{Index: e.Index, Field: optional(e.Field), Message: e.Message}
	}
	return out
}

func toUpsertArticlesPayload(ctx context.Context, res *catalogwrite.UpsertResult) *model.UpsertArticlesPayload {
	reportWrite(ctx, nil, res.Stale)
	out := &model.UpsertArticlesPayload{
		Requested: res.Requested,
		Created:   res.Created,
		Updated:   res.Updated,
		Results:   make([]*model.UpsertArticleResult, len(res.Items)),
		Errors:    toItemErrors(res.Errors),
		Messages:  res.Messages,
	}
	if out.Messages == nil {
		out.Messages = []string{}
	}
	for i, item := range res.Items {
		r := &model.UpsertArticleResult{Index: i, Code: optional(item.Code), Status: upsertStatuses[item.Status], Errors: toItemErrors(item.Errors)}
		if item.Article != nil {
			r.Article = toArticle(*item.Article)
		}
		out.Results[i] = r
	}
	return out
}
