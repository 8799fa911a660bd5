package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// marshalSliceInline keeps MarshalSliceConcurrently's contract: elements
// in order, each with a field context holding its index, and a panic in
// one element an error on its path that nulls the list while the others
// are still marshalled.
func TestMarshalSliceInlineKeepsTheContract(t *testing.T) {
	for _, length := range []int{0, 1, 3} {
		ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
		var indexes []int
		ret := marshalSliceInline(ctx, length, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
			indexes = append(indexes, *graphql.GetFieldContext(ctx).Index)
			return graphql.MarshalInt(i * 10)
		})
		if len(ret) != length {
			t.Fatalf("length %d: %d values", length, len(ret))
		}
		for i := range length {
			var b strings.Builder
			ret[i].MarshalGQL(&b)
			if want := []string{"0", "10", "20"}[i]; b.String() != want || indexes[i] != i {
				t.Errorf("length %d, element %d: value %s, index %d", length, i, b.String(), indexes[i])
			}
		}
	}

	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
		func(context.Context, any) error { return gqlerror.Errorf("internal system error") })
	var marshalled []int
	ret := marshalSliceInline(ctx, 3, 0, false, func(_ context.Context, i int) graphql.Marshaler {
		marshalled = append(marshalled, i)
		if i == 1 {
			panic("element 1 breaks")
		}
		return graphql.MarshalInt(i)
	})
	if ret != nil {
		t.Errorf("a panicking element left the list %v, want nil", ret)
	}
	if len(marshalled) != 3 {
		t.Errorf("marshalled %v, want every element", marshalled)
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 || len(errs[0].Path) != 1 || errs[0].Path[0] != ast.PathIndex(1) {
		t.Errorf("errors %v, want one on path [1]", errs)
	}
}
