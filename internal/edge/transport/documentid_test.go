package transport

import (
	"net/url"
	"strings"
	"testing"
)

// A documentId, in the body or the query string, becomes the persisted
// query extension the APQ store and the trusted-documents manifest read.
func TestDocumentIDBecomesThePersistedQueryHash(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	bodies := map[string]string{
		"prefixed":                       `{"documentId":"sha256:` + hash + `"}`,
		"bare":                           `{"documentId":"` + hash + `"}`,
		"upper":                          `{"documentId":"sha256:` + strings.ToUpper(hash) + `"}`,
		"with a matching persistedQuery": `{"documentId":"sha256:` + hash + `","extensions":{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}}`,
	}
	for name, body := range bodies {
		p, rf := DecodeJSON([]byte(body))
		if rf != nil {
			t.Fatalf("%s: refused: %s", name, rf.Message)
		}
		pq, _ := p.Extensions["persistedQuery"].(map[string]any)
		if pq["sha256Hash"] != hash || pq["version"] != int64(1) {
			t.Fatalf("%s: extensions %v", name, p.Extensions)
		}
	}
	p, rf := DecodeQueryString(url.Values{"documentId": {"sha256:" + hash}, "operationName": {"Q"}}.Encode(), 1<<20)
	if rf != nil {
		t.Fatalf("GET refused: %s", rf.Message)
	}
	if pq, _ := p.Extensions["persistedQuery"].(map[string]any); pq["sha256Hash"] != hash || p.OperationName != "Q" {
		t.Fatalf("GET: %+v", p)
	}
}

func TestDocumentIDRefusals(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for name, body := range map[string]string{
		"short":         `{"documentId":"sha256:abc"}`,
		"not hex":       `{"documentId":"sha256:` + strings.Repeat("zz", 32) + `"}`,
		"other prefix":  `{"documentId":"sha1:` + hash + `"}`,
		"not a string":  `{"documentId":["sha256:` + hash + `"]}`,
		"with a query":  `{"documentId":"` + hash + `","query":"{ __typename }"}`,
		"disagreeing":   `{"documentId":"` + hash + `","extensions":{"persistedQuery":{"version":1,"sha256Hash":"cd"}}}`,
		"odd extension": `{"documentId":"` + hash + `","extensions":{"persistedQuery":"x"}}`,
		"marker":        `{"documentId":"sha256:` + fuzzMarker + `"}`,
	} {
		_, rf := DecodeJSON([]byte(body))
		if rf == nil {
			t.Errorf("%s: admitted", name)
			continue
		}
		checkRefusal(t, rf)
		if rf.Status != 400 || rf.Code != "BAD_REQUEST" {
			t.Errorf("%s: %+v", name, rf)
		}
	}
	if _, rf := DecodeQueryString("documentId="+hash+"&documentId="+hash, 1<<20); rf == nil {
		t.Error("GET with documentId twice admitted")
	}
}
