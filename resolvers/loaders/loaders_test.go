package loaders

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

type countingBrilla struct {
	details  atomic.Int64
	lastTok  atomic.Value
	payments atomic.Int64
}

func (c *countingBrilla) CreditsSummary(context.Context, string) (*brilla.Summary, error) {
	return &brilla.Summary{}, nil
}
func (c *countingBrilla) Credits(context.Context, string) (*brilla.CreditList, error) {
	return &brilla.CreditList{}, nil
}
func (c *countingBrilla) Credit(_ context.Context, tok string, id int64) (*brilla.CreditDetail, error) {
	c.details.Add(1)
	c.lastTok.Store(tok)
	return &brilla.CreditDetail{Credit: brilla.Credit{ID: wire.NewInt(id)}}, nil
}
func (c *countingBrilla) CreditPayments(_ context.Context, _ string, id int64) (*brilla.PaymentList, error) {
	c.payments.Add(1)
	return &brilla.PaymentList{LoanID: wire.NewInt(id)}, nil
}

type countingCatalog struct{ walks atomic.Int64 }

func (c *countingCatalog) Branches(context.Context, serpi.Credential) (*catalog.Index[serpi.Sucursal], error) {
	c.walks.Add(1)
	return catalog.NewIndex[serpi.Sucursal](nil, catalog.BranchSpec), nil
}
func (c *countingCatalog) Taxes(context.Context, serpi.Credential) (*catalog.Index[serpi.Impuesto], error) {
	c.walks.Add(1)
	return catalog.NewIndex[serpi.Impuesto](nil, catalog.TaxSpec), nil
}
func (c *countingCatalog) Articles(context.Context, serpi.Credential) (*catalog.Index[serpi.Articulo], error) {
	c.walks.Add(1)
	return catalog.NewIndex[serpi.Articulo](nil, catalog.ArticleSpec), nil
}

func TestEachKeyIsReadOncePerOperation(t *testing.T) {
	br, cat := &countingBrilla{}, &countingCatalog{}
	l := New(br, cat, "token-of-this-operation")
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := int64(i%3 + 1)
			d, err := l.CreditDetail(ctx, id)
			if err != nil || d.Credit.ID.Value != id {
				t.Errorf("detail %d = %+v, %v", id, d, err)
			}
			if _, err := l.Payments(ctx, id); err != nil {
				t.Error(err)
			}
			if _, err := l.Branches(ctx, serpi.Credential{SecretKey: "s", Token: "t"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if br.details.Load() != 3 || br.payments.Load() != 3 || cat.walks.Load() != 1 {
		t.Fatalf("details %d payments %d walks %d; want 3, 3, 1", br.details.Load(), br.payments.Load(), cat.walks.Load())
	}
	if br.lastTok.Load() != "token-of-this-operation" {
		t.Fatalf("read with token %v", br.lastTok.Load())
	}
	// A new operation gets new loaders: nothing carries over.
	l2 := New(br, cat, "another")
	if _, err := l2.CreditDetail(ctx, 1); err != nil || br.details.Load() != 4 {
		t.Fatalf("a new operation reused the previous one's detail (%d calls)", br.details.Load())
	}
}

func TestForWithoutMiddlewarePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("For without loaders in the context did not panic")
		}
	}()
	For(context.Background())
}
