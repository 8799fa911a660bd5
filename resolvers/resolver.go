package resolvers

// Resolver is the root resolver.
type Resolver struct{}
