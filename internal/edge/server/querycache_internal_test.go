package server

import (
	"context"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

func TestQueryCacheKeepsOnlyShortDocuments(t *testing.T) {
	ctx := context.Background()
	c := newQueryCache()
	short := "{ taxes(first: 5) { totalCount } }"
	padded := "# " + strings.Repeat("x", queryCacheMaxBytes) + "\n" + short
	c.Add(ctx, short, &ast.QueryDocument{})
	c.Add(ctx, padded, &ast.QueryDocument{})
	if _, ok := c.Get(ctx, short); !ok {
		t.Error("a short document was not cached")
	}
	if _, ok := c.Get(ctx, padded); ok {
		t.Errorf("a %d-byte document was cached; the bound is %d", len(padded), queryCacheMaxBytes)
	}
}
