package transport

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

func TestCapErrors(t *testing.T) {
	var many gqlerror.List
	for range 44_550 {
		many = append(many, &gqlerror.Error{Message: "Fields conflict", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}})
	}
	got := capErrors(many)
	if len(got) != MaxRequestErrors+1 {
		t.Fatalf("%d errors, want %d plus one saying how many more", len(got), MaxRequestErrors)
	}
	last := got[len(got)-1]
	if !strings.Contains(last.Message, "44450 more errors") || last.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("last error %q %v", last.Message, last.Extensions)
	}
	few := many[:3]
	if got := capErrors(few); len(got) != 3 {
		t.Errorf("3 errors became %d", len(got))
	}
}

// Header names looked up on every request are kept canonical: Header.Get
// allocates a canonical copy of any other spelling on every call.
func TestPreflightHeadersAreCanonical(t *testing.T) {
	for _, name := range preflightHeaders {
		if canonical := http.CanonicalHeaderKey(name); canonical != name {
			t.Errorf("%q is not canonical: write %q", name, canonical)
		}
	}
}
