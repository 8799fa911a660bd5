package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/catalog/catalogwrite"
	"github.com/serfigas/brilla-gateway/internal/catalog/livecat"
)

// CatalogWatcher is the live catalog (*livecat.Hub): subscriptions to a
// company's changes, and the announcement of the gateway's own writes.
type CatalogWatcher interface {
	Subscribe(ctx context.Context, cred serpi.Credential, collections []string) (*livecat.Subscription, error)
	Announce(ctx context.Context, cred serpi.Credential, collection string, kind livecat.Kind, records catalog.Records) error
}

var _ CatalogWatcher = (*livecat.Hub)(nil)

// announceTimeout bounds announcing a write to the live catalog.
const announceTimeout = 5 * time.Second

var collectionNames = map[model.CatalogCollection]string{
	model.CatalogCollectionBranches: catalog.CollectionBranches,
	model.CatalogCollectionTaxes:    catalog.CollectionTaxes,
	model.CatalogCollectionArticles: catalog.CollectionArticles,
}

var collectionEnums = map[string]model.CatalogCollection{
	catalog.CollectionBranches: model.CatalogCollectionBranches,
	catalog.CollectionTaxes:    model.CatalogCollectionTaxes,
	catalog.CollectionArticles: model.CatalogCollectionArticles,
}

// watchCatalog runs a catalogChanges subscription for cred: it forwards
// the hub's changes as GraphQL events and, when the hub ends the
// subscription (a reader too slow, a shutdown), sends the changes already
// buffered and then one event carrying the reason, before the stream
// completes. Memory per subscriber is the hub's bounded buffer: out is
// unbuffered.
func watchCatalog(ctx context.Context, sub *livecat.Subscription) <-chan *model.CatalogChange {
	out := make(chan *model.CatalogChange)
	send := func(c *model.CatalogChange) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		for {
			select {
			case ch := <-sub.C:
				if !send(toCatalogChange(ch)) {
					return
				}
			case <-sub.Done:
				for {
					select {
					case ch := <-sub.C:
						if !send(toCatalogChange(ch)) {
							return
						}
						continue
					default:
					}
					break
				}
				if err := sub.Err(); err != nil {
					send(&model.CatalogChange{At: time.Now(), Failure: err})
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// toCatalogChange maps a hub change to the GraphQL model; a record that
// cannot be read becomes the event's failure.
func toCatalogChange(ch livecat.Change) *model.CatalogChange {
	out := &model.CatalogChange{
		Collection: collectionEnums[ch.Collection],
		Kind:       model.CatalogChangeKind(ch.Kind),
		Source:     model.CatalogChangeSource(ch.Source),
		SerpiID:    int(ch.ID),
		At:         ch.At,
	}
	var err error
	switch ch.Collection {
	case catalog.CollectionBranches:
		var rec serpi.Sucursal
		if err = json.Unmarshal(ch.Record, &rec); err == nil {
			out.Payload = toBranch(rec)
		}
	case catalog.CollectionTaxes:
		var rec serpi.Impuesto
		if err = json.Unmarshal(ch.Record, &rec); err == nil {
			out.Payload = toTax(rec)
		}
	case catalog.CollectionArticles:
		var rec serpi.Articulo
		if err = json.Unmarshal(ch.Record, &rec); err == nil {
			out.Payload = toArticle(rec)
		}
	default:
		err = fmt.Errorf("unknown collection %q", ch.Collection)
	}
	if err != nil {
		out.Payload, out.Failure = nil, apperr.New(apperr.Internal, "a catalog change could not be read")
	}
	return out
}

// announce tells the live catalog about records the gateway wrote. A
// failure is logged, not returned: the write happened.
func announce[T any](r *Resolver, ctx context.Context, cred serpi.Credential, collection string, kind livecat.Kind, spec catalog.Spec[T], written ...T) {
	if r.CatalogLive == nil || len(written) == 0 {
		return
	}
	records := make(catalog.Records, len(written))
	for _, rec := range written {
		raw, err := json.Marshal(rec)
		if err != nil {
			r.logger().WarnContext(ctx, "live catalog: written record not announced", "collection", collection, "error", err)
			return
		}
		records[spec.ID(rec)] = raw
	}
	// Not bound to the caller's cancellation: subscribers must hear of a
	// write whose client went away.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	if err := r.CatalogLive.Announce(actx, cred, collection, kind, records); err != nil {
		r.logger().WarnContext(ctx, "live catalog: write not confirmed by every replica's subscribers", "collection", collection, "error", err)
	}
}

// bulkKind is what a bulk write did by SERPI's own counts (one of them is
// zero), the mutation's kind when SERPI counted neither.
func bulkKind(res *catalogwrite.BulkResult, asked livecat.Kind) livecat.Kind {
	switch {
	case res.Created > 0 && res.Updated == 0:
		return livecat.Created
	case res.Updated > 0 && res.Created == 0:
		return livecat.Updated
	}
	return asked
}
