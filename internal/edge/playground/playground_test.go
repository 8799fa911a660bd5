package playground

import (
	"compress/gzip"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	externalURLRE = regexp.MustCompile(`(?i)https?://|//[a-z0-9.-]+\.[a-z]{2,}/|cdn|unpkg|jsdelivr`)
	assetRefRE    = regexp.MustCompile(`(?:src|href)="(playground/assets/[^"]+)"`)
)

func TestPage(t *testing.T) {
	h := Handler("Brilla Gateway", "/graphql")
	resp := get(t, h, "/", nil)
	page := body(t, resp)

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if m := externalURLRE.FindString(page); m != "" {
		t.Errorf("page references an external URL/CDN (%q):\n%s", m, page)
	}
	if !strings.Contains(page, "<title>Brilla Gateway</title>") {
		t.Errorf("title missing:\n%s", page)
	}
	if !strings.Contains(page, `data-endpoint="/graphql"`) {
		t.Errorf("endpoint missing:\n%s", page)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<style") || strings.Contains(page, " style=") {
		t.Errorf("page has inline script/style, which the CSP forbids:\n%s", page)
	}

	refs := assetRefRE.FindAllStringSubmatch(page, -1)
	want := []string{"graphiql.min.css", "playground.css", "react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "playground.js"}
	if len(refs) != len(want) {
		t.Fatalf("found asset refs %q, want %q", refs, want)
	}
	for i, ref := range refs {
		u := html.UnescapeString(ref[1])
		if !strings.HasPrefix(u, "playground/assets/"+want[i]+"?v=") {
			t.Errorf("asset ref %d = %q, want %s?v=...", i, u, want[i])
		}
		// Assets resolve relative to the page at "/".
		if r := get(t, h, "/"+u, nil); r.StatusCode != http.StatusOK {
			t.Errorf("GET /%s = %d", u, r.StatusCode)
		}
	}

	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self' ws://example.com wss://example.com;"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("missing X-Content-Type-Options: nosniff")
	}

	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("page has no ETag")
	}
	if r := get(t, h, "/", map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", r.StatusCode)
	}
}

func TestCSPBadHost(t *testing.T) {
	for _, host := range []string{"evil.com; script-src *", "a b", "x'y"} {
		csp := ContentSecurityPolicy(host)
		if strings.Contains(csp, "ws://") || strings.Count(csp, ";") != 8 {
			t.Errorf("host %q leaked into CSP %q", host, csp)
		}
	}
	if csp := ContentSecurityPolicy("[::1]:8080"); !strings.Contains(csp, "ws://[::1]:8080 wss://[::1]:8080") {
		t.Errorf("IPv6 host not allowed: %q", csp)
	}
}

func TestAssets(t *testing.T) {
	h := Handler("", "")
	cases := []struct {
		name, ctype string
		minSize     int
	}{
		{"graphiql.min.js", "text/javascript; charset=utf-8", 500_000},
		{"graphiql.min.css", "text/css; charset=utf-8", 100_000},
		{"react.production.min.js", "text/javascript; charset=utf-8", 5_000},
		{"react-dom.production.min.js", "text/javascript; charset=utf-8", 100_000},
		{"playground.js", "text/javascript; charset=utf-8", 500},
		{"playground.css", "text/css; charset=utf-8", 50},
		{"LICENSE-graphiql", "text/plain; charset=utf-8", 500},
		{"LICENSE-react", "text/plain; charset=utf-8", 500},
		{"LICENSE-react-dom", "text/plain; charset=utf-8", 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := assetURL(c.name)
			if err != nil {
				t.Fatal(err)
			}
			resp := get(t, h, "/"+u, nil)
			b := body(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != c.ctype {
				t.Errorf("Content-Type = %q, want %q", ct, c.ctype)
			}
			if len(b) < c.minSize {
				t.Errorf("size = %d, want >= %d", len(b), c.minSize)
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("versioned Cache-Control = %q", cc)
			}
			etag := resp.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if r := get(t, h, "/"+u, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
				t.Errorf("conditional GET = %d, want 304", r.StatusCode)
			}

			// Unversioned URL: must revalidate.
			r := get(t, h, AssetsPath+c.name, nil)
			if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("unversioned: status %d Cache-Control %q", r.StatusCode, r.Header.Get("Cache-Control"))
			}

			// gzip variant decodes to the same bytes.
			r = get(t, h, "/"+u, map[string]string{"Accept-Encoding": "br, gzip"})
			if r.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(r.Body)
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if string(plain) != b {
					t.Error("gzip body differs from identity body")
				}
				if r.Header.Get("ETag") == etag {
					t.Error("gzip and identity share an ETag")
				}
			} else if c.minSize >= 100_000 {
				t.Error("large asset not gzipped")
			}
		})
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler("", "/graphql")
	for _, p := range []string{"/nope", AssetsPath + "index.html", AssetsPath + "README.md", AssetsPath + "vendor/graphiql.min.js", AssetsPath + "../playground.go", "/playground/assets"} {
		if r := get(t, h, p, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, r.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD / = %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}

// Hostile option values must stay inside their attribute values.
func TestEscaping(t *testing.T) {
	const evil = `"></div><script>alert(1)</script><img src=x onerror=alert(2)>'`
	h := New(Options{
		Title:          "</title><script>alert(0)</script>",
		Endpoint:       `/graphql"><script>alert(3)</script>`,
		DefaultHeaders: `{"X-Api-Key": "demo-key", "X-Evil": "` + strings.ReplaceAll(evil, `"`, `\"`) + `"}`,
		DefaultQuery:   "query Q { me { id } } # " + evil,
	})
	page := body(t, get(t, h, "/", nil))

	if n := strings.Count(page, "<script"); n != 4 {
		t.Errorf("page has %d <script tags, want 4:\n%s", n, page)
	}
	for _, bad := range []string{"<script>alert", "<img", `"></div>`, "</title><script"} {
		if strings.Contains(page, bad) {
			t.Errorf("unescaped %q in page:\n%s", bad, page)
		}
	}

	// The values round-trip through HTML attribute decoding, as the browser's
	// dataset would see them.
	attr := func(name string) string {
		m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("attribute %s missing:\n%s", name, page)
		}
		return html.UnescapeString(m[1])
	}
	if got, want := attr("data-default-headers"), `{"X-Api-Key": "demo-key", "X-Evil": "`+strings.ReplaceAll(evil, `"`, `\"`)+`"}`; got != want {
		t.Errorf("data-default-headers = %q, want %q", got, want)
	}
	if got, want := attr("data-default-query"), "query Q { me { id } } # "+evil; got != want {
		t.Errorf("data-default-query = %q, want %q", got, want)
	}
	if got := attr("data-endpoint"); got != `/graphql"><script>alert(3)</script>` {
		t.Errorf("data-endpoint = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	page := body(t, get(t, Handler("", ""), "/", nil))
	for _, want := range []string{"<title>" + DefaultTitle + "</title>", `data-endpoint="/graphql"`, `data-default-headers=""`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	page = body(t, get(t, New(Options{DefaultHeaders: `{"X-Api-Key": "demo-key"}`, DefaultQuery: "{ __typename }"}), "/", nil))
	for _, want := range []string{`data-default-headers="{&#34;X-Api-Key&#34;: &#34;demo-key&#34;}"`, `data-default-query="{ __typename }"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}

func TestInvalidOptionsPanic(t *testing.T) {
	for _, o := range []Options{
		{Endpoint: "graphql"},
		{Endpoint: "//evil.example/graphql"},
		{Endpoint: "https://example.com/graphql"},
		{Endpoint: "/graph ql"},
		{DefaultHeaders: `{"X-Api-Key": `},
		{DefaultHeaders: `["X-Api-Key"]`},
		{DefaultHeaders: `null`},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", o)
				}
			}()
			New(o)
		}()
	}
}

func TestRegister(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data":{}}`) })
	Register(mux, Options{Title: "T", Endpoint: "/graphql"})

	for p, want := range map[string]int{
		"/":                            http.StatusOK,
		AssetsPath + "graphiql.min.js": http.StatusOK,
		AssetsPath + "nope.js":         http.StatusNotFound,
		"/other":                       http.StatusNotFound,
		"/graphql":                     http.StatusOK,
	} {
		if r := get(t, mux, p, nil); r.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", p, r.StatusCode, want)
		}
	}

	// Under a prefix via StripPrefix, relative asset URLs still resolve.
	mux2 := http.NewServeMux()
	mux2.Handle("/debug/", http.StripPrefix("/debug", Handler("", "/graphql")))
	u, _ := assetURL("playground.js")
	if r := get(t, mux2, "/debug/"+u, nil); r.StatusCode != http.StatusOK {
		t.Errorf("prefixed asset = %d", r.StatusCode)
	}
	if r := get(t, mux2, "/debug/", nil); r.StatusCode != http.StatusOK {
		t.Errorf("prefixed page = %d", r.StatusCode)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"br, gzip":          true,
		"GZIP;q=1":          true,
		"gzip;q=0.5":        true,
		"gzip;q=0":          false,
		"gzip; q=0.000":     false,
		"deflate, identity": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}

// Headers (bearer tokens, API keys) are kept in localStorage only when the
// server asks: the page tells the bootstrap, which hands it to GraphiQL.
func TestHeadersPersistOnlyWhenAsked(t *testing.T) {
	for _, persist := range []bool{false, true} {
		page := body(t, get(t, New(Options{DefaultHeaders: `{"X-Api-Key":"k"}`, PersistHeaders: persist}), "/", nil))
		want := fmt.Sprintf(`data-persist-headers="%t"`, persist)
		if !strings.Contains(page, want) {
			t.Errorf("PersistHeaders %t: page lacks %s:\n%s", persist, want, page)
		}
	}
	js, err := assetsFS.ReadFile("assets/playground.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), "shouldPersistHeaders: cfg.persistHeaders === 'true'") {
		t.Error("playground.js does not take shouldPersistHeaders from data-persist-headers")
	}
	if regexp.MustCompile(`shouldPersistHeaders:\s*true`).Match(js) {
		t.Error("playground.js persists headers unconditionally")
	}
}
