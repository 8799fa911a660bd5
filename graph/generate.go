// Package graph holds the GraphQL schema (*.graphqls) and the executable
// schema gqlgen generates from it. Resolvers live in package resolvers.
package graph

//go:generate go run ../cmd/gqlgen-lean
