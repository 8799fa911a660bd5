package apperr

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWriteRefusal(t *testing.T) {
	tests := []struct {
		name       string
		media      string
		status     int
		err        *Error
		wantMedia  string
		wantRetry  string
		wantFields map[string]any
	}{
		{"plain", "", http.StatusBadRequest, New(BadRequest, "not a GraphQL request"), "application/json", "",
			map[string]any{"code": "BAD_REQUEST"}},
		{"retry rounded up", "application/graphql-response+json", http.StatusTooManyRequests,
			&Error{Code: RateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond},
			"application/graphql-response+json", "2", map[string]any{"code": "RATE_LIMITED", "retryAfterSeconds": float64(2)}},
		{"field", "", http.StatusBadRequest, BadInput("variables.in.file", "no such list item"), "application/json", "",
			map[string]any{"code": "BAD_USER_INPUT", "field": "variables.in.file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteRefusal(rec, tt.media, tt.status, tt.err)
			if rec.Code != tt.status || rec.Header().Get("Content-Type") != tt.wantMedia || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Fatalf("status %d, media %q, Retry-After %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Retry-After"))
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if _, has := body["data"]; has {
				t.Errorf("a refusal carries data: %s", rec.Body)
			}
			errs := body["errors"].([]any)
			got := errs[0].(map[string]any)
			if got["message"] != tt.err.Message {
				t.Errorf("message %v", got["message"])
			}
			ext := got["extensions"].(map[string]any)
			for k, v := range tt.wantFields {
				if ext[k] != v {
					t.Errorf("extensions.%s = %v, want %v", k, ext[k], v)
				}
			}
		})
	}
}
