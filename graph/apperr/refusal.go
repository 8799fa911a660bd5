package apperr

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
)

// WriteRefusal answers an HTTP request that the gateway refuses before
// running any operation: the status, Content-Type media
// (application/json when empty), and a GraphQL response that holds only
// err, with extensions.code, extensions.field when set, and
// extensions.retryAfterSeconds plus a Retry-After header when set. It is
// the one place an edge refusal (transport, stream, rate limit, websocket
// handshake) is written; errors of operations that ran go through
// Presenter. A response without data is what the GraphQL-over-HTTP spec
// asks of a request that did not run.
func WriteRefusal(w http.ResponseWriter, media string, status int, err *Error) {
	if media == "" {
		media = "application/json"
	}
	ext := map[string]any{"code": string(err.Code)}
	if err.Field != "" {
		ext["field"] = err.Field
	}
	if err.RetryAfter > 0 {
		secs := max(int(math.Ceil(err.RetryAfter.Seconds())), 1)
		ext["retryAfterSeconds"] = secs
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	type entry struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	body, _ := json.Marshal(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{Message: err.Message, Extensions: ext}}})
	w.Header().Set("Content-Type", media)
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
