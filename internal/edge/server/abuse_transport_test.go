package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// Issue 9, the plain HTTP request path (findings 4, 5, 6, 8, 12, 13):
// the gateway's own transport admits every request before execution and
// refuses with a coded GraphQL error and the GraphQL-over-HTTP status.

// httpReply is a raw answer: status, headers, body and, when the body is
// a GraphQL response, its decoded errors.
type httpReply struct {
	status int
	header http.Header
	body   string
	res    result
	isJSON bool
	hasKey map[string]bool // top-level keys of the JSON body
}

// send sends one request to h; headers are "Name: value".
func send(t *testing.T, h http.Handler, method, target string, body io.Reader, headers ...string) httpReply {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for _, hd := range headers {
		name, value, _ := strings.Cut(hd, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return serve(h, req)
}

func serve(h http.Handler, req *http.Request) httpReply {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	rep := httpReply{status: rec.Code, header: rec.Header(), body: rec.Body.String(), hasKey: map[string]bool{}}
	var top map[string]json.RawMessage
	if json.Unmarshal(rec.Body.Bytes(), &top) == nil && json.Unmarshal(rec.Body.Bytes(), &rep.res) == nil {
		rep.isJSON = true
		rep.res.raw = rep.body
		for k := range top {
			rep.hasKey[k] = true
		}
	}
	return rep
}

// coded asserts a refusal: status, one coded error, no data entry.
func (rep httpReply) coded(t *testing.T, status int, code string) gqlError {
	t.Helper()
	if rep.status != status || !rep.isJSON || len(rep.res.Errors) == 0 || rep.res.Errors[0].code() != code {
		t.Fatalf("want %d %s, got %d %q: %s", status, code, rep.status, rep.header.Get("Content-Type"), rep.body)
	}
	if rep.hasKey["data"] {
		t.Fatalf("a refused request carries a data entry: %s", rep.body)
	}
	if status == http.StatusMethodNotAllowed && rep.header.Get("Allow") != "GET, POST" {
		t.Fatalf("405 without Allow: GET, POST (%q)", rep.header.Get("Allow"))
	}
	return rep.res.Errors[0]
}

// mpPart is one part of a hand-made multipart body.
type mpPart struct{ name, filename, content string }

// mpBody writes parts with regBoundary; closed adds the final boundary.
func mpBody(closed bool, parts ...mpPart) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + regBoundary + "\r\n")
		if p.filename != "" {
			fmt.Fprintf(&b, "Content-Disposition: form-data; name=%q; filename=%q\r\nContent-Type: image/jpeg\r\n\r\n", p.name, p.filename)
		} else {
			fmt.Fprintf(&b, "Content-Disposition: form-data; name=%q\r\n\r\n", p.name)
		}
		b.WriteString(p.content + "\r\n")
	}
	if closed {
		b.WriteString("--" + regBoundary + "--\r\n")
	}
	return b.String()
}

// registerOps is the operations part of a register upload with the given
// attachment slots.
func registerOps(t *testing.T, slots ...map[string]any) string {
	t.Helper()
	ops, err := json.Marshal(map[string]any{"query": registerMutation, "variables": map[string]any{"in": regInput(slots...)}})
	if err != nil {
		t.Fatal(err)
	}
	return string(ops)
}

const multipartCT = "Content-Type: multipart/form-data; boundary=" + regBoundary

func TestAbuse8_EveryRefusalIsCoded(t *testing.T) {
	e := newEnv(t)
	ops := registerOps(t, uploadSlot("a.jpg"))
	file := mpPart{"0", "a.jpg", string(regJPEG)}
	okMap := `{"0":["variables.in.attachments.0.file"]}`
	mp := func(parts ...mpPart) string { return mpBody(true, parts...) }
	get := func(q string) string { return "/graphql?" + q }
	tests := []struct {
		name, method, target, body string
		headers                    []string
		status                     int
		code                       string
	}{
		{"POST without content type", "POST", "/graphql", `{"query":"{ __typename }"}`, nil, 415, "BAD_REQUEST"},
		{"POST text/plain", "POST", "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type: text/plain"}, 415, "BAD_REQUEST"},
		{"POST form", "POST", "/graphql", `query=%7B__typename%7D`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "BAD_REQUEST"},
		{"POST application/graphql", "POST", "/graphql", `{ __typename }`, []string{"Content-Type: application/graphql"}, 415, "BAD_REQUEST"},
		{"POST JSON in latin1", "POST", "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type: application/json; charset=iso-8859-1"}, 415, "BAD_REQUEST"},
		{"POST unparsable content type", "POST", "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type: ;;;"}, 415, "BAD_REQUEST"},
		{"PUT", "PUT", "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type: application/json"}, 405, "BAD_REQUEST"},
		{"DELETE", "DELETE", "/graphql", "", nil, 405, "BAD_REQUEST"},
		{"PATCH", "PATCH", "/graphql", `{"query":"{ __typename }"}`, []string{"Content-Type: application/json"}, 405, "BAD_REQUEST"},
		{"HEAD", "HEAD", get("query=%7B__typename%7D"), "", nil, 405, "BAD_REQUEST"},
		{"mutation over GET", "GET", get("query=" + url.QueryEscape(`mutation { generateToken(input: {vat: "1", contractNumber: "1", questionId: 1, answer: "x"}) { token } }`)), "", nil, 405, "BAD_REQUEST"},
		{"GET variables not JSON", "GET", get("query=%7B__typename%7D&variables=%7Bnope"), "", nil, 400, "BAD_REQUEST"},
		{"GET variables a list", "GET", get("query=%7B__typename%7D&variables=%5B1%5D"), "", nil, 400, "BAD_REQUEST"},
		{"GET extensions a string", "GET", get("query=%7B__typename%7D&extensions=%22x%22"), "", nil, 400, "BAD_REQUEST"},
		{"GET query twice", "GET", get("query=%7B__typename%7D&query=%7B__typename%7D"), "", nil, 400, "BAD_REQUEST"},
		{"GET without query", "GET", get("operationName=x"), "", nil, 400, "BAD_REQUEST"},
		{"GET bad escape", "GET", get("query=%zz"), "", nil, 400, "BAD_REQUEST"},
		{"Upgrade on a bad POST", "POST", "/graphql", `{"query":1}`, []string{"Content-Type: application/json", "Upgrade: websocket", "Connection: Upgrade"}, 400, "BAD_REQUEST"},
		{"Upgrade on a POST without content type", "POST", "/graphql", `{}`, []string{"Upgrade: h2c"}, 415, "BAD_REQUEST"},
		{"POST empty body", "POST", "/graphql", "", []string{"Content-Type: application/json"}, 400, "BAD_REQUEST"},
		{"POST batch", "POST", "/graphql", `[{"query":"{ __typename }"}]`, []string{"Content-Type: application/json"}, 400, "BAD_REQUEST"},
		{"POST trailing data", "POST", "/graphql", `{"query":"{ __typename }"} {}`, []string{"Content-Type: application/json"}, 400, "BAD_REQUEST"},
		{"POST over 1 MiB", "POST", "/graphql", `{"query":"{ __typename }","x":"` + strings.Repeat("a", 1<<20) + `"}`, []string{"Content-Type: application/json"}, 413, "BAD_REQUEST"},

		// The GraphQL multipart request spec, broken every way we know.
		{"multipart without boundary", "POST", "/graphql", mp(mpPart{"operations", "", ops}), []string{"Content-Type: multipart/form-data"}, 400, "BAD_REQUEST"},
		{"multipart empty body", "POST", "/graphql", "", []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart garbage", "POST", "/graphql", "not multipart at all", []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map first", "POST", "/graphql", mp(mpPart{"map", "", okMap}, mpPart{"operations", "", ops}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart operations not JSON", "POST", "/graphql", mp(mpPart{"operations", "", `{"query":`}, mpPart{"map", "", okMap}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart batched operations", "POST", "/graphql", mp(mpPart{"operations", "", "[" + ops + "]"}, mpPart{"map", "", okMap}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart query a number", "POST", "/graphql", mp(mpPart{"operations", "", `{"query":1}`}, mpPart{"map", "", `{}`}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart variables a string", "POST", "/graphql", mp(mpPart{"operations", "", `{"query":"{ __typename }","variables":"x"}`}, mpPart{"map", "", `{}`}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart without map", "POST", "/graphql", mp(mpPart{"operations", "", ops}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart file where map goes", "POST", "/graphql", mp(mpPart{"operations", "", ops}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map not JSON", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":`}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map a list", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `["variables.in.attachments.0.file"]`}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map value a string", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":"variables.in.attachments.0.file"}`}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map value empty", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":[]}`}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map too many files", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", manyKeys(11)}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart path without variables.", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["in.attachments.0.file"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart path to no variable", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.nope"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart index past the list", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.1.file"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart negative index", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.-1.file"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart index with a leading zero", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.00.file"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart huge index", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.99999999999999999999.file"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart path at a value", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.0.name"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart path through a string", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.name.x"]}`}, file), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart two files in one place", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", `{"0":["variables.in.attachments.0.file"],"1":["variables.in.attachments.0.file"]}`}, file, mpPart{"1", "b.jpg", "x"}), []string{multipartCT}, 400, "BAD_USER_INPUT"},
		{"multipart file not in map", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", okMap}, file, mpPart{"7", "b.jpg", "x"}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart map names a missing file", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", okMap}), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart file sent twice", "POST", "/graphql", mp(mpPart{"operations", "", ops}, mpPart{"map", "", okMap}, file, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart truncated", "POST", "/graphql", mpBody(false, mpPart{"operations", "", ops}, mpPart{"map", "", okMap}, file), []string{multipartCT}, 400, "BAD_REQUEST"},
		{"multipart operations over 1 MiB", "POST", "/graphql", mp(mpPart{"operations", "", `{"query":"{ __typename }","x":"` + strings.Repeat("a", 1<<20) + `"}`}, mpPart{"map", "", `{}`}), []string{multipartCT}, 413, "BAD_REQUEST"},
	}
	multipart := 0
	for _, tc := range tests {
		if strings.HasPrefix(tc.name, "multipart") {
			multipart++
		}
		t.Run(tc.name, func(t *testing.T) {
			e.resetStats()
			rep := send(t, e.gateway, tc.method, tc.target, strings.NewReader(tc.body), tc.headers...)
			rep.coded(t, tc.status, tc.code)
			if n := e.registerCount(); n != 0 {
				t.Fatalf("a refused request reached Brilla (%d register calls)", n)
			}
		})
	}
	if multipart < 18 {
		t.Errorf("only %d multipart malformations covered", multipart)
	}

	t.Run("multipart over the upload limit", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(mp(mpPart{"operations", "", ops})))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+regBoundary)
		req.ContentLength = 1 << 30
		serve(e.gateway, req).coded(t, http.StatusRequestEntityTooLarge, "BAD_REQUEST")
	})
	t.Run("Upgrade on a good POST is a plain POST", func(t *testing.T) {
		rep := send(t, e.gateway, "POST", "/graphql", strings.NewReader(`{"query":"{ __typename }"}`),
			"Content-Type: application/json", "Upgrade: websocket", "Connection: Upgrade")
		if rep.status != http.StatusOK || !strings.Contains(rep.body, `"__typename":"Query"`) {
			t.Fatalf("POST with Upgrade: %d %s", rep.status, rep.body)
		}
	})
	t.Run("OPTIONS says what is allowed", func(t *testing.T) {
		rep := send(t, e.gateway, "OPTIONS", "/graphql", nil)
		if rep.status >= 300 || !strings.Contains(rep.header.Get("Allow"), "POST") {
			t.Fatalf("OPTIONS: %d %v", rep.status, rep.header)
		}
	})
}

// manyKeys is a map naming n files.
func manyKeys(n int) string {
	m := map[string][]string{}
	for i := range n {
		m[fmt.Sprint(i)] = []string{fmt.Sprintf("variables.in.attachments.%d.file", i)}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestAbuse6_MultipartMapIndexPastList(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"variables.in.attachments.1.file",
		"variables.in.attachments.1000000.file",
		"variables.in.attachments.0.file.0",
	} {
		body := mpBody(true, mpPart{"operations", "", registerOps(t, uploadSlot("a.jpg"))},
			mpPart{"map", "", `{"0":["` + path + `"]}`}, mpPart{"0", "a.jpg", string(regJPEG)})
		rep := send(t, e.gateway, "POST", "/graphql", strings.NewReader(body), multipartCT)
		// Before: gqlgen's AddUpload indexed the list blindly, a panic and a 500.
		got := rep.coded(t, http.StatusBadRequest, "BAD_USER_INPUT")
		if strings.Contains(got.Message, path) {
			t.Errorf("the message repeats the path: %q", got.Message)
		}
	}
	if n := e.registerCount(); n != 0 {
		t.Fatalf("register calls: %d", n)
	}
	if logs := e.logText(); strings.Contains(logs, "panic") {
		t.Fatalf("a panic was logged:\n%s", logs)
	}
}

func TestAbuse5_NoEchoOfRequestContent(t *testing.T) {
	e := newEnv(t)
	const marker = "SECRET-MARKER-7f3a9c"
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	jsonCT := "Content-Type: application/json"
	tests := []struct {
		name, method, target, body string
		headers                    []string
	}{
		{"truncated JSON body", "POST", "/graphql", `{"query":"{ __typename }","variables":{"answer":"` + marker, []string{jsonCT}},
		{"invalid JSON body", "POST", "/graphql", `{"query": ` + marker + `}`, []string{jsonCT}},
		{"query not a string", "POST", "/graphql", `{"query":{"` + marker + `":1}}`, []string{jsonCT}},
		{"variables not an object", "POST", "/graphql", `{"query":"{ __typename }","variables":"` + marker + `"}`, []string{jsonCT}},
		{"document token", "POST", "/graphql", `{"query":` + q(`{ `+marker+` `) + `}`, []string{jsonCT}},
		{"unknown character", "POST", "/graphql", `{"query":` + q(`{ __typename } "`+marker) + `}`, []string{jsonCT}},
		{"string literal for an Int", "POST", "/graphql", `{"query":` + q(`{ creditQuote(amount: 500000, periods: "`+marker+`") { installmentAmount } }`) + `}`, []string{jsonCT}},
		{"string literal for Money", "POST", "/graphql", `{"query":` + q(`{ creditQuote(amount: "`+marker+`", periods: 3) { installmentAmount } }`) + `}`, []string{jsonCT}},
		{"object literal for a String", "POST", "/graphql", `{"query":` + q(`{ validateContract(vat: {a: "`+marker+`"}, contractNumber: "1") { valid } }`) + `}`, []string{jsonCT}},
		{"enum variable", "POST", "/graphql", `{"query":` + q(registerMutation) + `,"variables":{"in":{"vatType":"` + marker + `"}}}`, []string{jsonCT}},
		{"wrong variable type", "POST", "/graphql", `{"query":` + q(`query($p: Int!) { creditQuote(amount: 1, periods: $p) { installmentAmount } }`) + `,"variables":{"p":"` + marker + `"}}`, []string{jsonCT}},
		{"date variable", "POST", "/graphql", `{"query":` + q(registerMutation) + `,"variables":{"in":` + mustJSON(regInputWith("birthDate", marker)) + `}}`, []string{jsonCT}},
		{"unknown operation name", "POST", "/graphql", `{"query":"query A { __typename }","operationName":"` + marker + `"}`, []string{jsonCT}},
		{"GET variables", "GET", "/graphql?query=%7B__typename%7D&variables=" + url.QueryEscape(`{"x":"`+marker), "", nil},
		{"multipart operations", "POST", "/graphql", mpBody(true, mpPart{"operations", "", `{"query":"` + marker}, mpPart{"map", "", `{}`}), []string{multipartCT}},
		{"multipart map", "POST", "/graphql", mpBody(true, mpPart{"operations", "", registerOps(t, uploadSlot("a.jpg"))},
			mpPart{"map", "", `{"` + marker + `":["variables.` + marker + `"]}`}, mpPart{marker, "a.jpg", marker}), []string{multipartCT}},
		{"multipart unknown file", "POST", "/graphql", mpBody(true, mpPart{"operations", "", registerOps(t, uploadSlot("a.jpg"))},
			mpPart{"map", "", `{"0":["variables.in.attachments.0.file"]}`}, mpPart{"0", "a.jpg", string(regJPEG)}, mpPart{marker, marker + ".jpg", marker}), []string{multipartCT}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := send(t, e.gateway, tc.method, tc.target, strings.NewReader(tc.body), tc.headers...)
			if !rep.isJSON || len(rep.res.Errors) == 0 || rep.res.Errors[0].code() == "" {
				t.Fatalf("want a coded error, got %d %s", rep.status, rep.body)
			}
			if strings.Contains(rep.body, marker) {
				t.Fatalf("the response repeats request content: %s", rep.body)
			}
		})
	}
	if strings.Contains(e.logText(), marker) {
		t.Fatalf("the logs repeat request content")
	}
}

// regInputWith is a register input with one field changed.
func regInputWith(field string, value any) map[string]any {
	in := regInput(b64Attachment("a.pdf", regPDF))
	in[field] = value
	return in
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAbuse12_GraphQLOverHTTPStatusCodes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		method string
		target string
		body   string
		// status and code with application/graphql-response+json, then
		// with the legacy application/json; code "" means success.
		gqlStatus, jsonStatus int
		code                  string
	}{
		{"success", "POST", "/graphql", `{"query":"{ __typename }"}`, 200, 200, ""},
		{"success over GET", "GET", "/graphql?query=%7B__typename%7D", "", 200, 200, ""},
		{"parse failure", "POST", "/graphql", `{"query":"{"}`, 400, 200, "GRAPHQL_PARSE_FAILED"},
		{"validation failure", "POST", "/graphql", `{"query":"{ nope }"}`, 400, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"unknown argument", "POST", "/graphql", `{"query":"{ creditQuote(amount: 1, periods: 3, x: 1) { installmentAmount } }"}`, 400, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"variable coercion failure", "POST", "/graphql", `{"query":"query($p: Int!) { creditQuote(amount: 500000, periods: $p) { installmentAmount } }","variables":{"p":null}}`, 400, 200, "BAD_USER_INPUT"},
		{"no operation of that name", "POST", "/graphql", `{"query":"query A { __typename }","operationName":"B"}`, 400, 200, "GRAPHQL_VALIDATION_FAILED"},
		{"parse failure over GET", "GET", "/graphql?query=%7B", "", 400, 200, "GRAPHQL_PARSE_FAILED"},
		{"missing query", "POST", "/graphql", `{"notquery":"{ __typename }"}`, 400, 400, "BAD_REQUEST"},
		{"query a number", "POST", "/graphql", `{"query":0}`, 400, 400, "BAD_REQUEST"},
		{"operationName an object", "POST", "/graphql", `{"query":"{ __typename }","operationName":{}}`, 400, 400, "BAD_REQUEST"},
		{"variables a list", "POST", "/graphql", `{"query":"{ __typename }","variables":[1]}`, 400, 400, "BAD_REQUEST"},
		{"extensions a boolean", "POST", "/graphql", `{"query":"{ __typename }","extensions":false}`, 400, 400, "BAD_REQUEST"},
		{"body not JSON", "POST", "/graphql", `{ "not a JSON`, 400, 400, "BAD_REQUEST"},
		{"no body", "POST", "/graphql", ``, 400, 400, "BAD_REQUEST"},
		{"mutation over GET", "GET", "/graphql?query=" + url.QueryEscape("mutation { __typename }"), "", 405, 405, "BAD_REQUEST"},
	}
	for _, tc := range tests {
		for _, media := range []string{"application/graphql-response+json", "application/json"} {
			t.Run(tc.name+" as "+media, func(t *testing.T) {
				headers := []string{"Accept: " + media}
				if tc.method == "POST" {
					headers = append(headers, "Content-Type: application/json")
				}
				rep := send(t, e.gateway, tc.method, tc.target, strings.NewReader(tc.body), headers...)
				status := tc.jsonStatus
				if media == "application/graphql-response+json" {
					status = tc.gqlStatus
				}
				if got := rep.header.Get("Content-Type"); !strings.HasPrefix(got, media) {
					t.Errorf("Content-Type %q, want %s", got, media)
				}
				if tc.code == "" {
					if rep.status != status || len(rep.res.Errors) > 0 || !rep.hasKey["data"] {
						t.Fatalf("want %d with data, got %d: %s", status, rep.status, rep.body)
					}
					return
				}
				// A request that did not run has no data entry, whatever
				// the media type.
				rep.coded(t, status, tc.code)
			})
		}
	}
	// No Accept, or */*: application/json.
	for _, accept := range []string{"", "*/*", "text/html, */*;q=0.8"} {
		rep := send(t, e.gateway, "POST", "/graphql", strings.NewReader(`{"query":"{"}`), "Content-Type: application/json", "Accept: "+accept)
		if rep.status != 200 || rep.header.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %q: %d %q", accept, rep.status, rep.header.Get("Content-Type"))
		}
	}
}

func TestAbuse13_CookieAndBasicAuthAreAnonymous(t *testing.T) {
	e := newEnv(t)
	tok := e.signIn("123456789", "12345678")

	t.Run("credentials only in cookies or basic auth are not credentials", func(t *testing.T) {
		basic := base64.StdEncoding.EncodeToString([]byte("123456789:" + tok))
		for _, headers := range [][]string{
			{"Cookie: token=" + tok + "; authorization=Bearer%20" + tok + "; Authorization=Bearer " + tok},
			{"Authorization: Basic " + basic},
		} {
			r := e.do(`{ viewer { __typename } }`, nil, headers...)
			r.wantCode(t, "UNAUTHENTICATED")
		}
		for _, headers := range [][]string{
			{"Cookie: X-Api-Key=" + testKey + "; api_key=" + testKey},
			{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("rw:"+testKey))},
		} {
			r := e.do(`{ taxes(first: 1) { totalCount } }`, nil, headers...)
			r.wantCode(t, "UNAUTHENTICATED")
		}
		// The explicit header works, so the refusals above are about
		// where the credential was.
		var out struct {
			Viewer *struct {
				Typename string `json:"__typename"`
			}
		}
		e.do(`{ viewer { __typename } }`, nil, bearer(tok)).ok(t, &out)
		if out.Viewer == nil {
			t.Fatal("the bearer token was not accepted")
		}
	})

	foreign := "Origin: https://evil.example"
	register := func(h http.Handler, headers ...string) httpReply {
		body := mpBody(true, mpPart{"operations", "", registerOps(t, uploadSlot("a.jpg"))},
			mpPart{"map", "", `{"0":["variables.in.attachments.0.file"]}`}, mpPart{"0", "a.jpg", string(regJPEG)})
		return send(t, h, "POST", "/graphql", strings.NewReader(body), append([]string{multipartCT}, headers...)...)
	}
	getQuery := "/graphql?query=" + url.QueryEscape(`{ creditQuote(amount: 500000, periods: 3) { installmentAmount } }`)

	t.Run("CSRF prevention off (default): simple requests run", func(t *testing.T) {
		if rep := send(t, e.gateway, "GET", getQuery, nil, foreign); rep.status != 200 || !strings.Contains(rep.body, "installmentAmount") {
			t.Fatalf("GET: %d %s", rep.status, rep.body)
		}
		if rep := register(e.gateway, foreign); rep.isJSON && len(rep.res.Errors) > 0 && rep.res.Errors[0].code() == "BAD_REQUEST" {
			t.Fatalf("multipart refused with CSRF prevention off: %s", rep.body)
		}
	})

	t.Run("CSRF prevention on", func(t *testing.T) {
		h := newGateway(t, e, func(c *server.Config) {
			c.Hardening.CSRFPrevention = true
			c.Hardening.CORSOrigins = []string{"https://app.example"}
		})
		e.resetStats()
		for name, rep := range map[string]httpReply{
			"GET":                     send(t, h, "GET", getQuery, nil, foreign),
			"GET, empty preflight":    send(t, h, "GET", getQuery, nil, foreign, "GraphQL-Preflight: "),
			"multipart":               register(h, foreign),
			"text/plain POST":         send(t, h, "POST", "/graphql", strings.NewReader(`{"query":"{ __typename }"}`), foreign, "Content-Type: text/plain"),
			"form POST":               send(t, h, "POST", "/graphql", strings.NewReader(`query=x`), foreign, "Content-Type: application/x-www-form-urlencoded"),
			"POST without a type":     send(t, h, "POST", "/graphql", strings.NewReader(`{"query":"{ __typename }"}`), foreign),
			"multipart, same origin?": register(h),
		} {
			got := rep.coded(t, http.StatusBadRequest, "BAD_REQUEST")
			if !strings.Contains(got.Message, "Preflight") {
				t.Errorf("%s: the refusal does not say what to send: %q", name, got.Message)
			}
		}
		if n := e.registerCount(); n != 0 || totalCalls(e.stats(), "/api/") != 0 {
			t.Fatalf("a refused cross-site request reached the upstreams (%d register calls)", n)
		}
		// Each preflight header, and a JSON content type, let requests through.
		for _, hd := range []string{"GraphQL-Preflight: 1", "Apollo-Require-Preflight: true", "X-Apollo-Operation-Name: Quote"} {
			if rep := send(t, h, "GET", getQuery, nil, hd); rep.status != 200 || !strings.Contains(rep.body, "installmentAmount") {
				t.Fatalf("GET with %s: %d %s", hd, rep.status, rep.body)
			}
			if rep := register(h, hd); rep.isJSON && len(rep.res.Errors) > 0 && rep.res.Errors[0].code() == "BAD_REQUEST" {
				t.Fatalf("multipart with %s refused: %s", hd, rep.body)
			}
		}
		if rep := send(t, h, "POST", "/graphql", strings.NewReader(`{"query":"{ __typename }"}`), foreign, "Content-Type: application/json"); rep.status != 200 {
			t.Fatalf("JSON POST: %d %s", rep.status, rep.body)
		}
		// Browsers may send the preflight headers cross-site once CORS allows them.
		pre := send(t, h, "OPTIONS", "/graphql", nil, "Origin: https://app.example", "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: apollo-require-preflight,graphql-preflight,x-apollo-operation-name") // as browsers send it: sorted, lower case
		allowed := strings.ToLower(pre.header.Get("Access-Control-Allow-Headers"))
		for _, hd := range []string{"graphql-preflight", "x-apollo-operation-name", "apollo-require-preflight"} {
			if !strings.Contains(allowed, hd) {
				t.Errorf("CORS does not allow %s: %q", hd, allowed)
			}
		}
	})
}

// patternReader yields n bytes of an ELF-looking file (refused by content,
// so no upload reaches Brilla) without holding them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for i := range b[:n] {
		b[i] = byte('A' + i%26)
	}
	p.left -= n
	return int(n), nil
}

// gate blocks the first read of its body until released, counting the
// readers waiting.
type gate struct {
	r       io.Reader
	once    sync.Once
	waiting *atomic.Int32
	release chan struct{}
}

func (g *gate) Read(b []byte) (int, error) {
	g.once.Do(func() {
		g.waiting.Add(1)
		<-g.release
	})
	return g.r.Read(b)
}

func TestAbuse4_UploadMemory(t *testing.T) {
	e, _ := newRegisterEnv(t, sim.Config{}, nil)
	const (
		burst     = 20
		fileBytes = 49 << 20 / 10 // three files: 14.7 MiB, within 5 MiB each and 15 MiB in total
		// heapBound is what a burst may add to the heap: two maximum-size
		// uploads at once (the default budget) and their copies while
		// register checks them. README states RSS < 300 MB for the process.
		heapBound = 200 << 20
	)
	ops := registerOps(t, uploadSlot("a.jpg"), uploadSlot("b.jpg"), uploadSlot("c.jpg"))
	head := mpBody(false, mpPart{"operations", "", ops},
		mpPart{"map", "", `{"0":["variables.in.attachments.0.file"],"1":["variables.in.attachments.1.file"],"2":["variables.in.attachments.2.file"]}`})
	filePart := func(i int) (string, string) {
		return fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"%d\"; filename=\"f%d.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n", regBoundary, i, i), "\r\n"
	}
	newBody := func(waiting *atomic.Int32, release chan struct{}) (io.Reader, int64) {
		var readers []io.Reader
		size := int64(len(head))
		readers = append(readers, strings.NewReader(head))
		for i := range 3 {
			open, close := filePart(i)
			readers = append(readers, strings.NewReader(open), &patternReader{left: fileBytes}, strings.NewReader(close))
			size += int64(len(open)+len(close)) + fileBytes
		}
		tail := "--" + regBoundary + "--\r\n"
		readers = append(readers, strings.NewReader(tail))
		size += int64(len(tail))
		body := io.MultiReader(readers...)
		if release != nil {
			body = io.MultiReader(strings.NewReader(head), &gate{r: io.MultiReader(readers[1:]...), waiting: waiting, release: release})
		}
		return body, size
	}

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	var (
		waiting atomic.Int32
		done    atomic.Int32
		release = make(chan struct{})
		wg      sync.WaitGroup
		replies = make([]httpReply, burst)
	)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			body, size := newBody(&waiting, release)
			req := httptest.NewRequest(http.MethodPost, "/graphql", body)
			req.ContentLength = size
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+regBoundary)
			replies[i] = serve(e.gateway, req)
		}()
	}
	// Every request is either refused or reading its files: now let the
	// admitted ones read.
	deadline := time.Now().Add(20 * time.Second)
	for waiting.Load()+done.Load() < burst && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(stopSampling)
	<-sampled

	admitted, refused := 0, 0
	for _, rep := range replies {
		if rep.status == http.StatusServiceUnavailable {
			refused++
			got := rep.coded(t, http.StatusServiceUnavailable, "RATE_LIMITED")
			if rep.header.Get("Retry-After") == "" || got.Extensions["retryAfterSeconds"] == nil {
				t.Errorf("a refused upload does not say when to retry: %v %s", rep.header, rep.body)
			}
			continue
		}
		admitted++
		// The files are not JPEGs: register refuses them by content.
		if !rep.isJSON || len(rep.res.Errors) == 0 || rep.res.Errors[0].code() != "BAD_USER_INPUT" {
			t.Errorf("admitted upload: %d %s", rep.status, rep.body)
		}
	}
	grown := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("burst of %d uploads of %.1f MiB: %d admitted at once, %d refused; heap grew by at most %d MB",
		burst, float64(3*fileBytes)/(1<<20), admitted, refused, grown>>20)
	if admitted == 0 || admitted > 2 || refused != burst-admitted {
		t.Errorf("%d admitted and %d refused at once; want at most 2 (the budget) admitted and the rest refused", admitted, refused)
	}
	if grown > heapBound {
		t.Errorf("the burst grew the heap by %d MB, over the %d MB bound", grown>>20, heapBound>>20)
	}
	// The budget is given back: the next upload is admitted.
	body, size := newBody(nil, nil)
	req := httptest.NewRequest(http.MethodPost, "/graphql", body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+regBoundary)
	if rep := serve(e.gateway, req); rep.status == http.StatusServiceUnavailable {
		t.Fatalf("the budget was not given back: %s", rep.body)
	}
	if n := e.registerCount(); n != 0 {
		t.Fatalf("register calls: %d", n)
	}
}
