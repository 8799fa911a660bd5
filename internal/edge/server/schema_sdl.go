package server

import (
	"bytes"

	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/serfigas/brilla-gateway/graph"
)

// SchemaSDL is the schema the gateway serves, printed as SDL by
// gqlparser's formatter (descriptions and directives such as @specifiedBy
// included, built-in types left out): what frontends commit as
// schema.graphql and feed to code generators.
func SchemaSDL() string {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(graph.NewExecutableSchema(graph.Config{}).Schema())
	return buf.String()
}
