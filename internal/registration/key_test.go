package registration

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddlewareReadsTheIdempotencyKey(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    string
		invalid bool
	}{
		{"none", nil, "", false},
		{"uuid", []string{"8d1e7a7e-5b55-4d5c-9f0e-1a2b3c4d5e6f"}, "8d1e7a7e-5b55-4d5c-9f0e-1a2b3c4d5e6f", false},
		{"longest", []string{strings.Repeat("k", MaxKeyLength)}, strings.Repeat("k", MaxKeyLength), false},
		{"too long", []string{strings.Repeat("k", MaxKeyLength+1)}, "", true},
		{"space inside", []string{"a b"}, "", true},
		{"not ascii", []string{"clave-ñ"}, "", true},
		{"sent twice", []string{"a", "b"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			var bad bool
			h := Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				key, err := KeyFromContext(r.Context())
				got, bad = key, err != nil
				if err != nil && (err.Field != HeaderIdempotencyKey || err.Code != "BAD_USER_INPUT") {
					t.Errorf("error %+v", err)
				}
			}))
			req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, v := range tc.values {
				req.Header.Add(HeaderIdempotencyKey, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want || bad != tc.invalid {
				t.Fatalf("key %q invalid %v, want %q invalid %v", got, bad, tc.want, tc.invalid)
			}
		})
	}
}
