package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// readBody reads a POST application/json body whole, within the limit.
func (h *HTTP) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Refusal) {
	limit := h.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge("the request body", limit)
	}
	if r.ContentLength > 0 {
		// The usual case, read into one buffer of the declared size
		// (bytes.Buffer would grow it once more for its read-ahead). net/http
		// ends the body at Content-Length, within the limit checked above,
		// so a longer body is cut and a short one fails here.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, readFailure(err, "the request body", limit)
		}
		return buf, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		return nil, readFailure(err, "the request body", limit)
	}
	return buf.Bytes(), nil
}

// DecodeJSON decodes a GraphQL request sent as a JSON object: query a
// string, operationName a string, variables and extensions objects (each
// may be null or absent; query only with a persisted-query extension or a
// documentId, which becomes that extension).
// Its refusals never quote the body.
func DecodeJSON(body []byte) (*graphql.RawParams, *Refusal) {
	return decodeRequest(body, "the request body")
}

// decodeRequest decodes a JSON request; what names it in messages.
func decodeRequest(body []byte, what string) (*graphql.RawParams, *Refusal) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("%s is empty: send a JSON object with a query", what)
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil {
		return nil, jsonFailure(err, what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("%s has more after its JSON object", what)
	}
	if fields == nil {
		return nil, badRequest("%s must be a JSON object with a query (batched operations are not supported)", what)
	}
	p := &graphql.RawParams{}
	if rf := decodeString(fields["query"], &p.Query, "query"); rf != nil {
		return nil, rf
	}
	if rf := decodeString(fields["operationName"], &p.OperationName, "operationName"); rf != nil {
		return nil, rf
	}
	var rf *Refusal
	if p.Variables, rf = decodeObject(fields["variables"], "variables"); rf != nil {
		return nil, rf
	}
	if p.Extensions, rf = decodeObject(fields["extensions"], "extensions"); rf != nil {
		return nil, rf
	}
	var documentID string
	if rf := decodeString(fields["documentId"], &documentID, "documentId"); rf != nil {
		return nil, rf
	}
	if rf := applyDocumentID(p, documentID); rf != nil {
		return nil, rf
	}
	return p, requireQuery(p)
}

// DecodeQueryString decodes a GET request's query string: query,
// operationName, documentId, and variables and extensions as JSON objects. Its
// refusals never quote the request.
func DecodeQueryString(raw string, limit int64) (*graphql.RawParams, *Refusal) {
	if int64(len(raw)) > limit {
		return nil, &Refusal{Status: http.StatusRequestURITooLong, Code: apperr.BadRequest,
			Message: "the query string is too long: send the request with POST"}
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("the query string is not valid URL encoding")
	}
	p := &graphql.RawParams{}
	one := func(name string) (string, *Refusal) {
		v := values[name]
		if len(v) > 1 {
			return "", badRequest("%s is given more than once", name)
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var rf *Refusal
	if p.Query, rf = one("query"); rf != nil {
		return nil, rf
	}
	if p.OperationName, rf = one("operationName"); rf != nil {
		return nil, rf
	}
	for _, obj := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &p.Variables}, {"extensions", &p.Extensions}} {
		text, rf := one(obj.name)
		if rf != nil {
			return nil, rf
		}
		if text == "" {
			continue
		}
		if *obj.dst, rf = decodeObject(json.RawMessage(text), obj.name); rf != nil {
			return nil, rf
		}
	}
	documentID, rf := one("documentId")
	if rf != nil {
		return nil, rf
	}
	if rf := applyDocumentID(p, documentID); rf != nil {
		return nil, rf
	}
	return p, requireQuery(p)
}

// requireQuery refuses a request without a document, unless it names a
// persisted query (APQ) whose document the server may hold.
func requireQuery(p *graphql.RawParams) *Refusal {
	if p.Query != "" {
		return nil
	}
	if _, ok := p.Extensions["persistedQuery"]; ok {
		return nil
	}
	return badRequest("query is required: a GraphQL document as a string")
}

// decodeString decodes an optional JSON string (null or absent: "").
func decodeString(raw json.RawMessage, dst *string, name string) *Refusal {
	if isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest("%s must be a string", name)
	}
	return nil
}

// decodeObject decodes an optional JSON object (null or absent: nil).
// Numbers stay json.Number, so 64-bit integers keep every digit.
func decodeObject(raw json.RawMessage, name string) (map[string]any, *Refusal) {
	if isNull(raw) {
		return nil, nil
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, badRequest("%s must be a JSON object", name)
		}
		return nil, jsonFailure(err, name)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("%s must be one JSON object", name)
	}
	if out == nil {
		return nil, nil
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// jsonFailure describes a JSON decoding error by where it is, never by
// the bytes it found (encoding/json quotes them).
func jsonFailure(err error, what string) *Refusal {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return badRequest("%s is not valid JSON (error at byte %d)", what, syntax.Offset)
	case errors.As(err, &typeErr):
		return badRequest("%s must be a JSON object with a query (batched operations are not supported)", what)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("%s is not valid JSON (it ends too early)", what)
	}
	return badRequest("%s is not valid JSON", what)
}
