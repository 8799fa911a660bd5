package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
)

// Bounds of the parsed-document cache. A parsed document keeps its source
// text alive, and comments and whitespace cost no parser tokens, so an
// entry count alone would let a thousand comment-padded 1 MiB documents
// pin a gigabyte. Real operations are a few kilobytes.
const (
	queryCacheEntries  = 1000
	queryCacheMaxBytes = 32 << 10
)

// boundedQueryCache is gqlgen's LRU of parsed, validated documents that
// remembers only documents up to maxBytes long: at most
// entries*maxBytes of source text, plus their ASTs.
type boundedQueryCache struct {
	lru      *lru.LRU[*ast.QueryDocument]
	maxBytes int
}

var _ graphql.Cache[*ast.QueryDocument] = boundedQueryCache{}

func newQueryCache() boundedQueryCache {
	return boundedQueryCache{lru: lru.New[*ast.QueryDocument](queryCacheEntries), maxBytes: queryCacheMaxBytes}
}

// Get implements graphql.Cache.
func (c boundedQueryCache) Get(ctx context.Context, query string) (*ast.QueryDocument, bool) {
	if len(query) > c.maxBytes {
		return nil, false
	}
	return c.lru.Get(ctx, query)
}

// Add implements graphql.Cache; longer documents are parsed every time.
func (c boundedQueryCache) Add(ctx context.Context, query string, doc *ast.QueryDocument) {
	if len(query) <= c.maxBytes {
		c.lru.Add(ctx, query, doc)
	}
}
