package resolvers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/catalog/livecat"
)

// emptyCatalog is a catalog with no records that accepts every credential.
type emptyCatalog struct{}

func (emptyCatalog) Check(context.Context, serpi.Credential, string) error { return nil }
func (emptyCatalog) Snapshot(context.Context, serpi.Credential, string) (catalog.Records, error) {
	return catalog.Records{}, nil
}
func (emptyCatalog) Refresh(context.Context, serpi.Credential, string) (catalog.Records, error) {
	return catalog.Records{}, nil
}

func TestASlowCatalogSubscriberGetsItsBufferThenARateLimitedEvent(t *testing.T) {
	hub := livecat.New(livecat.Options{Catalog: emptyCatalog{}, Bus: cache.NewLocalBus(), Period: time.Hour, Buffer: 1})
	defer hub.Close()
	cred := serpi.Credential{SecretKey: "s", Token: "t"}
	sub, err := hub.Subscribe(t.Context(), cred, []string{catalog.CollectionTaxes})
	if err != nil {
		t.Fatal(err)
	}
	out := watchCatalog(t.Context(), sub)
	// Nobody reads out: the forwarder holds one change, the hub's buffer
	// one more, and the third ends the subscription.
	for id := range int64(4) {
		rec := catalog.Records{id: []byte(`{"id":` + string(rune('0'+id)) + `,"descripcion":"IVA","valor":"19"}`)}
		if err := hub.Announce(t.Context(), cred, catalog.CollectionTaxes, livecat.Updated, rec); err != nil {
			t.Fatal(err)
		}
	}
	var got []*model.CatalogChange
	for ch := range out {
		got = append(got, ch)
	}
	if len(got) < 2 {
		t.Fatalf("got %d events, want the buffered changes then the failure", len(got))
	}
	last := got[len(got)-1]
	var ae *apperr.Error
	if !errors.As(last.Failure, &ae) || ae.Code != apperr.RateLimited {
		t.Fatalf("last event's failure = %v, want RATE_LIMITED", last.Failure)
	}
	for _, ch := range got[:len(got)-1] {
		tax, ok := ch.Payload.(*model.Tax)
		if ch.Failure != nil || !ok || tax.Description != "IVA" || ch.Kind != model.CatalogChangeKindUpdated || ch.Collection != model.CatalogCollectionTaxes {
			t.Fatalf("buffered event %+v (payload %T), want an updated tax", ch, ch.Payload)
		}
	}
}
