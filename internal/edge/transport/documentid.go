package transport

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// documentIDPrefix is the hash algorithm prefix of a persisted document id
// in the GraphQL-over-HTTP persisted documents convention
// ("sha256:<hex>"); the trusted-documents manifest keys its operations by
// the bare hex, which is accepted too.
const documentIDPrefix = "sha256:"

// applyDocumentID maps a request's documentId onto the persisted-query
// extension the APQ store and the trusted-documents manifest already read,
// so one store answers both forms. A documentId goes without a query (the
// id is the document) and agrees with any persistedQuery hash sent along.
// Refusals never repeat the id.
func applyDocumentID(p *graphql.RawParams, id string) *Refusal {
	if id == "" {
		return nil
	}
	if p.Query != "" {
		return badRequest("send either query or documentId, not both")
	}
	hash := strings.ToLower(strings.TrimPrefix(id, documentIDPrefix))
	if len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return badRequest("documentId must be sha256:<64 hex digits> (or the 64 hex digits alone)")
	}
	if pq, ok := p.Extensions["persistedQuery"].(map[string]any); ok {
		if sent, _ := pq["sha256Hash"].(string); !strings.EqualFold(sent, hash) {
			return badRequest("documentId and extensions.persistedQuery name different documents")
		}
	} else if p.Extensions["persistedQuery"] != nil {
		return badRequest("extensions.persistedQuery must be an object")
	}
	if p.Extensions == nil {
		p.Extensions = map[string]any{}
	}
	p.Extensions["persistedQuery"] = map[string]any{"version": int64(1), "sha256Hash": hash}
	return nil
}
