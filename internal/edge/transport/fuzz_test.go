package transport

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// fuzzMarker stands for request content that must never come back in a
// refusal.
const fuzzMarker = "SECRET-MARKER-7f3a9c"

func checkRefusal(t *testing.T, rf *Refusal) {
	t.Helper()
	if rf == nil {
		return
	}
	if rf.Code == "" || rf.Status < 400 || rf.Status > 599 {
		t.Fatalf("uncoded refusal %+v", rf)
	}
	if strings.Contains(rf.Message, fuzzMarker) {
		t.Fatalf("refusal repeats request content: %q", rf.Message)
	}
}

// FuzzDecodeJSON: a POST body never panics, and is either a request with
// a query (or a persisted-query extension) or a coded refusal that does
// not quote it.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `null`, `[]`, `[{"query":"{ __typename }"}]`, `"x"`, `0`, `{}`, `{"query":null}`,
		`{"query":"{ __typename }"}`, `{"query":"{ __typename }"} {}`, `{ "not a JSON`,
		`{"query":1}`, `{"query":{"obj":"ect"}}`, `{"query":false}`, `{"query":["array"]}`,
		`{"query":"{ __typename }","operationName":0}`, `{"query":"{ __typename }","variables":"` + fuzzMarker + `"}`,
		`{"query":"{ __typename }","variables":[1]}`, `{"query":"{ __typename }","extensions":false}`,
		`{"notquery":"{ __typename }"}`, `{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ab"}}}`,
		`{"query":"{ __typename }","variables":{"answer":"` + fuzzMarker,
		`{"query": ` + fuzzMarker + `}`, `{"query":"x","variables":{"n":9223372036854775808}}`,
		strings.Repeat("[", 20000), `{"query":"\ud800"}`,
		`{"documentId":"sha256:` + strings.Repeat("ab", 32) + `"}`, `{"documentId":"` + strings.Repeat("0F", 32) + `"}`,
		`{"documentId":"sha256:` + fuzzMarker + `"}`, `{"documentId":1}`, `{"documentId":null}`, `{"documentId":""}`,
		`{"documentId":"sha256:` + strings.Repeat("ab", 32) + `","query":"{ __typename }"}`,
		`{"documentId":"sha256:` + strings.Repeat("ab", 32) + `","extensions":{"persistedQuery":"x"}}`,
		`{"documentId":"sha256:` + strings.Repeat("ab", 32) + `","extensions":{"persistedQuery":{"version":1,"sha256Hash":"cd"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, rf := DecodeJSON(body)
		checkRefusal(t, rf)
		if rf == nil && p.Query == "" && p.Extensions["persistedQuery"] == nil {
			t.Fatalf("admitted a request without a query: %q", body)
		}
	})
}

// FuzzDecodeQueryString: a GET query string never panics and is admitted
// or refused with a code.
func FuzzDecodeQueryString(f *testing.F) {
	for _, seed := range []string{
		``, `query=%7B__typename%7D`, `query=%7B__typename%7D&variables=%7Bnope`, `query=%7B__typename%7D&variables=%5B1%5D`,
		`query=%7B__typename%7D&extensions=%22x%22`, `query=a&query=b`, `operationName=x`, `query=%zz`,
		`query=%7B__typename%7D&variables=` + fuzzMarker, `query=x;y`, `variables=null&query=x`,
		`query=mutation%20%7B%20__typename%20%7D`,
		`documentId=sha256%3A` + strings.Repeat("ab", 32), `documentId=` + strings.Repeat("ab", 32) + `&documentId=x`,
		`documentId=sha256%3A` + fuzzMarker, `documentId=x&query=%7B__typename%7D`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, rf := DecodeQueryString(raw, 1<<20)
		checkRefusal(t, rf)
		if rf == nil && p.Query == "" && p.Extensions["persistedQuery"] == nil {
			t.Fatalf("admitted a request without a query: %q", raw)
		}
	})
}

const fuzzBoundary = "fuzz-boundary"

// fuzzBody is a multipart body with operations, map and one file part.
func fuzzBody(operations, fileMap, fileName string) []byte {
	var b bytes.Buffer
	part := func(name, filename, content string) {
		b.WriteString("--" + fuzzBoundary + "\r\n")
		if filename != "" {
			b.WriteString(`Content-Disposition: form-data; name="` + name + `"; filename="` + filename + "\"\r\n\r\n")
		} else {
			b.WriteString(`Content-Disposition: form-data; name="` + name + "\"\r\n\r\n")
		}
		b.WriteString(content + "\r\n")
	}
	part("operations", "", operations)
	part("map", "", fileMap)
	if fileName != "" {
		part(fileName, "f.jpg", "file content")
	}
	b.WriteString("--" + fuzzBoundary + "--\r\n")
	return b.Bytes()
}

// FuzzReadMultipart: operations and map, whatever they say, never panic
// (a map index past a list included); an admitted request has every file
// where the map put it.
func FuzzReadMultipart(f *testing.F) {
	ops := `{"query":"mutation($in: RegisterInput!) { register(input: $in) { trackingCode } }","variables":{"in":{"attachments":[{"name":"a.jpg","file":null}],"name":"x"}}}`
	for _, seed := range []struct{ ops, fileMap, file string }{
		{ops, `{"0":["variables.in.attachments.0.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.1.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.1000000.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.-1.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.00.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.99999999999999999999.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.0.name"]}`, "0"},
		{ops, `{"0":["variables.in.name.x"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.0.file.0"]}`, "0"},
		{ops, `{"0":["in.attachments.0.file"]}`, "0"},
		{ops, `{"0":["variables."]}`, "0"},
		{ops, `{"0":["variables"]}`, "0"},
		{ops, `{"0":[]}`, "0"},
		{ops, `{"0":"variables.in.attachments.0.file"}`, "0"},
		{ops, `["variables.in.attachments.0.file"]`, "0"},
		{ops, `{"0":`, "0"},
		{ops, `{"0":["variables.in.attachments.0.file"],"1":["variables.in.attachments.0.file"]}`, "0"},
		{ops, `{"0":["variables.in.attachments.0.file"]}`, "7"},
		{ops, `{"0":["variables.in.attachments.0.file"]}`, ""},
		{ops, `{"` + fuzzMarker + `":["variables.` + fuzzMarker + `"]}`, fuzzMarker},
		{`[` + ops + `]`, `{}`, ""},
		{`{"query":1}`, `{}`, ""},
		{`{"query":"` + fuzzMarker, `{}`, ""},
		{`{"query":"{ __typename }","variables":"x"}`, `{}`, ""},
		{`{"query":"x","variables":{"a":[null,[null]]}}`, `{"0":["variables.a.1.0","variables.a.0"]}`, "0"},
	} {
		f.Add(seed.ops, seed.fileMap, seed.file)
	}
	f.Fuzz(func(t *testing.T, operations, fileMap, fileName string) {
		body := fuzzBody(operations, fileMap, fileName)
		p, rf := ReadMultipart(bytes.NewReader(body), fuzzBoundary, MultipartLimits{MaxJSONBytes: 1 << 16, MaxFiles: 10})
		checkRefusal(t, rf)
		if rf != nil {
			return
		}
		// Every placed upload reads back the file's bytes.
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case graphql.Upload:
				got, _ := io.ReadAll(v.File)
				if string(got) != "file content" || v.Size != int64(len(got)) {
					t.Fatalf("upload reads %q (size %d)", got, v.Size)
				}
			case map[string]any:
				for _, x := range v {
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(p.Variables)
		if _, err := json.Marshal(p.Query); err != nil {
			t.Fatal(err)
		}
	})
}

// The transport is a graphql.Transport for everything but streams.
func TestSupports(t *testing.T) {
	h := New(Config{MaxBodyBytes: 1 << 20, MaxUploadBytes: 1 << 20, IsStream: func(r *http.Request) bool {
		return r.Method == http.MethodGet && r.Header.Get("Upgrade") == "websocket"
	}})
	ws, _ := http.NewRequest(http.MethodGet, "/graphql", nil)
	ws.Header.Set("Upgrade", "websocket")
	post, _ := http.NewRequest(http.MethodPost, "/graphql", nil)
	post.Header.Set("Upgrade", "websocket")
	if h.Supports(ws) || !h.Supports(post) {
		t.Fatal("Supports must leave websocket handshakes to the streaming transports and take a POST with Upgrade")
	}
}

// FuzzMediaTypeFastPaths checks that the shortcuts taken for the
// Content-Type and Accept values most clients send answer as the full
// parse does, for any header value.
func FuzzMediaTypeFastPaths(f *testing.F) {
	for _, seed := range []string{
		``, `application/json`, `application/json; charset=utf-8`, `APPLICATION/JSON`, `application/json;`,
		`*/*`, `application/*`, `application/graphql-response+json`, `application/graphql-response+json;q=0`,
		`multipart/form-data; boundary=x`, `text/plain`, `application/json, */*`, `;`, `a/b; q=0, */*`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := &http.Request{Header: http.Header{"Content-Type": {value}, "Accept": {value}}}
		mt, params, err := contentType(r)
		wantMT, wantParams, wantErr := mime.ParseMediaType(value)
		if (err == nil) != (wantErr == nil) || mt != wantMT || len(params) != len(wantParams) {
			t.Fatalf("contentType(%q) = %q, %v, %v; mime.ParseMediaType: %q, %v, %v", value, mt, params, err, wantMT, wantParams, wantErr)
		}
		if got, want := negotiate(r), negotiateList([]string{value}); got != want {
			t.Fatalf("negotiate(Accept: %q) = %q; the full parse gives %q", value, got, want)
		}
	})
}
