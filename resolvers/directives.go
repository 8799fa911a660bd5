package resolvers

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/graph"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/auth"
)

var scopes = map[model.Scope]auth.Scope{
	model.ScopeCatalogRead:  auth.ScopeCatalogRead,
	model.ScopeCatalogWrite: auth.ScopeCatalogWrite,
}

// Directives returns the implementations of the schema's access
// directives.
func Directives() graph.DirectiveRoot {
	return graph.DirectiveRoot{
		HasScope: func(ctx context.Context, _ any, next graphql.Resolver, scope model.Scope) (any, error) {
			s, ok := scopes[scope]
			if !ok {
				return nil, fmt.Errorf("@hasScope: unmapped scope %q", scope)
			}
			// SECURITY: catalog fields run only for API keys holding the
			// scope the schema declares on them.
			if _, err := auth.RequireScope(ctx, s); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		IsCustomer: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			// SECURITY: customer fields run only with a customer token;
			// Brilla then verifies the token on the call it is sent with.
			if _, err := auth.RequireCustomer(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		},
	}
}
