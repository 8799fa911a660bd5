package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSliceInline marshals a list's elements one after the other in the
// calling goroutine. cmd/gqlgen-lean puts it in place of
// graphql.MarshalSliceConcurrently, with the same arguments, in the
// generated marshal functions of lists whose element types never wait on
// anything (no resolver and no context-taking method anywhere below them):
// for those, a goroutine per element costs CPU and buys nothing.
//
// It keeps MarshalSliceConcurrently's contract: each element gets a field
// context holding its index, a panic while marshalling an element becomes
// an error on that element's path (unless the panic handler is omitted)
// and makes the whole list null, and the other elements are still
// marshalled. workerLimit does not apply: there is one worker.
func marshalSliceInline(
	ctx context.Context,
	length int,
	_ int64,
	omitPanicHandler bool,
	marshalElement func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	ret := make(graphql.Array, length)
	if length == 0 {
		return ret
	}
	// One allocation each for the indexes and field contexts of all the
	// elements, instead of two per element.
	indexes := make([]int, length)
	contexts := make([]graphql.FieldContext, length)
	panicked := false
	for i := range length {
		indexes[i] = i
		contexts[i].Index = &indexes[i]
		childCtx := graphql.WithFieldContext(ctx, &contexts[i])
		if omitPanicHandler {
			ret[i] = marshalElement(childCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(childCtx, graphql.Recover(childCtx, r))
					panicked = true
				}
			}()
			ret[i] = marshalElement(childCtx, i)
		}()
	}
	if panicked {
		return nil
	}
	return ret
}
