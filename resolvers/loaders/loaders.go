// Package loaders holds the per-operation dataloaders that de-duplicate
// upstream reads within one GraphQL operation: however a query is shaped,
// each credit's detail and payments are fetched once, the credit list and
// summary once, and each catalog collection once.
//
// Loaders live for one operation, not one HTTP request: over a websocket
// the HTTP request is the whole connection, and a loader scoped to it would
// serve stale data to later subscription events.
package loaders

import (
	"context"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// CatalogReader loads indexed SERPI collections.
type CatalogReader interface {
	Branches(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Sucursal], error)
	Taxes(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Impuesto], error)
	Articles(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Articulo], error)
}

// Loaders are the dataloaders of one operation. The customer token they
// read with is fixed when the operation starts, so one operation can never
// mix two customers' data.
type Loaders struct {
	token string

	summary      *dataloader.Loader[struct{}, *brilla.Summary]
	credits      *dataloader.Loader[struct{}, *brilla.CreditList]
	creditDetail *dataloader.Loader[int64, *brilla.CreditDetail]
	payments     *dataloader.Loader[int64, *brilla.PaymentList]

	branches *dataloader.Loader[serpi.Credential, *catalog.Index[serpi.Sucursal]]
	taxes    *dataloader.Loader[serpi.Credential, *catalog.Index[serpi.Impuesto]]
	articles *dataloader.Loader[serpi.Credential, *catalog.Index[serpi.Articulo]]
}

// Brilla has no batch endpoints, so batching buys nothing but latency: a
// zero wait dispatches at once while the loader's cache still folds
// repeated keys into one call.
const wait = 0 * time.Millisecond

// maxParallel bounds the concurrent upstream calls one batch makes.
const maxParallel = 4

// New returns loaders that read Brilla with token (may be empty for
// anonymous operations, which cannot reach the customer loaders anyway).
func New(br brilla.Reader, cat CatalogReader, token string) *Loaders {
	return &Loaders{
		token: token,
		summary: single(func(ctx context.Context) (*brilla.Summary, error) {
			return br.CreditsSummary(ctx, token)
		}),
		credits: single(func(ctx context.Context) (*brilla.CreditList, error) {
			return br.Credits(ctx, token)
		}),
		creditDetail: each(func(ctx context.Context, id int64) (*brilla.CreditDetail, error) {
			return br.Credit(ctx, token, id)
		}),
		payments: each(func(ctx context.Context, id int64) (*brilla.PaymentList, error) {
			return br.CreditPayments(ctx, token, id)
		}),
		branches: each(cat.Branches),
		taxes:    each(cat.Taxes),
		articles: each(cat.Articles),
	}
}

func single[V any](fetch func(context.Context) (V, error)) *dataloader.Loader[struct{}, V] {
	return each(func(ctx context.Context, _ struct{}) (V, error) { return fetch(ctx) })
}

// each builds a loader that fetches every key of a batch with its own
// call, at most maxParallel at a time, results in key order.
func each[K comparable, V any](fetch func(context.Context, K) (V, error)) *dataloader.Loader[K, V] {
	batch := func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		results := make([]*dataloader.Result[V], len(keys))
		sem := make(chan struct{}, maxParallel)
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				v, err := fetch(ctx, k)
				results[i] = &dataloader.Result[V]{Data: v, Error: err}
			}()
		}
		wg.Wait()
		return results
	}
	return dataloader.NewBatchedLoader(batch, dataloader.WithWait[K, V](wait))
}

// Summary returns the customer's quota summary.
func (l *Loaders) Summary(ctx context.Context) (*brilla.Summary, error) {
	return l.summary.Load(ctx, struct{}{})()
}

// Credits returns the customer's credit list.
func (l *Loaders) Credits(ctx context.Context) (*brilla.CreditList, error) {
	return l.credits.Load(ctx, struct{}{})()
}

// CreditDetail returns a credit's detail and schedule.
func (l *Loaders) CreditDetail(ctx context.Context, loanID int64) (*brilla.CreditDetail, error) {
	return l.creditDetail.Load(ctx, loanID)()
}

// CreditDetails returns the detail of each credit of loanIDs, in order,
// fetching those not loaded yet in parallel.
func (l *Loaders) CreditDetails(ctx context.Context, loanIDs []int64) ([]*brilla.CreditDetail, error) {
	return many(ctx, l.creditDetail, loanIDs)
}

// PaymentLists returns the payments of each credit of loanIDs, in order,
// fetching those not loaded yet in parallel.
func (l *Loaders) PaymentLists(ctx context.Context, loanIDs []int64) ([]*brilla.PaymentList, error) {
	return many(ctx, l.payments, loanIDs)
}

// many loads keys in one batch and returns the first error, if any.
func many[K comparable, V any](ctx context.Context, ld *dataloader.Loader[K, V], keys []K) ([]V, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	values, errs := ld.LoadMany(ctx, keys)()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return values, nil
}

// Payments returns a credit's payments.
func (l *Loaders) Payments(ctx context.Context, loanID int64) (*brilla.PaymentList, error) {
	return l.payments.Load(ctx, loanID)()
}

// Branches returns the indexed branches readable with cred.
func (l *Loaders) Branches(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Sucursal], error) {
	return l.branches.Load(ctx, cred)()
}

// Taxes returns the indexed taxes readable with cred.
func (l *Loaders) Taxes(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Impuesto], error) {
	return l.taxes.Load(ctx, cred)()
}

// Articles returns the indexed articles readable with cred.
func (l *Loaders) Articles(ctx context.Context, cred serpi.Credential) (*catalog.Index[serpi.Articulo], error) {
	return l.articles.Load(ctx, cred)()
}

type ctxKey struct{}

// For returns the operation's loaders. It panics when the Middleware is not
// installed, a wiring bug no request should survive silently.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in context; install loaders.Middleware on the GraphQL server")
	}
	return l
}

// With returns ctx carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// Middleware is a gqlgen operation interceptor giving every operation (each
// query, mutation, and each subscription) fresh loaders bound to the
// caller's customer token.
type Middleware struct {
	Brilla  brilla.Reader
	Catalog CatalogReader
}

var (
	_ graphql.HandlerExtension     = Middleware{}
	_ graphql.OperationInterceptor = Middleware{}
)

// ExtensionName implements graphql.HandlerExtension.
func (Middleware) ExtensionName() string { return "Dataloaders" }

// Validate implements graphql.HandlerExtension.
func (Middleware) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (m Middleware) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	token := auth.FromContext(ctx).CustomerToken
	return next(With(ctx, New(m.Brilla, m.Catalog, token)))
}
