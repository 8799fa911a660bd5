// Package playground serves a GraphiQL IDE entirely from the binary: the
// GraphiQL, React and ReactDOM bundles are embedded (see assets/vendor/README.md
// and scripts/fetch-graphiql.sh), so no CDN or internet access is needed.
//
// The handler serves two kinds of URL, relative to where it is mounted:
//
//	GET /                          the HTML page
//	GET /playground/assets/{file}  embedded JS/CSS/LICENSE files
//
// The page references its assets with relative URLs ("playground/assets/..."),
// so mount it at the root of a ServeMux:
//
//	mux.Handle("/graphql", gqlHandler)
//	playground.Register(mux, playground.Options{Title: "Brilla", Endpoint: "/graphql"})
//
// or equivalently mux.Handle("GET /{$}", h) and mux.Handle("GET /playground/assets/", h)
// with h := playground.New(opts). It can also live under a prefix with
// http.StripPrefix as long as the page URL ends in "/":
//
//	mux.Handle("/debug/", http.StripPrefix("/debug", h))
//
// The page talks only to its own origin: queries and mutations are POSTed to
// Endpoint and subscriptions use graphql-transport-ws on ws(s)://<host><Endpoint>.
// The headers editor is enabled; its content is sent as HTTP headers and, for
// subscriptions, as the connection_init payload. It is kept in the browser's
// localStorage only when Options.PersistHeaders asks: headers carry bearer
// tokens and API keys, which any script of the origin could read there.
// The page is served with a strict Content-Security-Policy (no inline script or
// style; see [ContentSecurityPolicy]).
package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
)

// AssetsPath is the path, relative to the mount point, under which the
// embedded assets are served.
const AssetsPath = "/playground/assets/"

// DefaultEndpoint is used when Options.Endpoint is empty.
const DefaultEndpoint = "/graphql"

// DefaultTitle is used when Options.Title is empty.
const DefaultTitle = "GraphQL Playground"

// Options configures the playground page.
type Options struct {
	// Title is the HTML page title. Defaults to DefaultTitle.
	Title string
	// Endpoint is the same-origin path of the GraphQL endpoint, e.g.
	// "/graphql". It serves HTTP requests and graphql-transport-ws
	// websocket subscriptions. Defaults to DefaultEndpoint.
	Endpoint string
	// DefaultHeaders is the JSON object shown in the headers editor until
	// the user edits it, e.g. `{"X-Api-Key": "demo-key"}`. When set the
	// headers tab is opened by default. Empty means no default headers.
	DefaultHeaders string
	// DefaultQuery is the query shown in the editor on a first visit.
	// Empty means GraphiQL's built-in welcome text.
	DefaultQuery string
	// PersistHeaders keeps the headers editor's content (bearer tokens,
	// API keys) in localStorage across reloads. Off: headers live only as
	// long as the page, and DefaultHeaders is shown again on a reload.
	PersistHeaders bool
}

// Handler returns the playground for the GraphQL endpoint at the given
// same-origin path. It is New(Options{Title: title, Endpoint: endpoint}).
func Handler(title, endpoint string) http.Handler {
	return New(Options{Title: title, Endpoint: endpoint})
}

// Register mounts the playground page at "GET /{$}" and its assets at
// "GET /playground/assets/" on mux.
func Register(mux *http.ServeMux, opts Options) {
	h := New(opts)
	mux.Handle("GET /{$}", h)
	mux.Handle("GET "+AssetsPath, h)
}

// New returns a handler serving the playground page at "/" and the embedded
// assets under AssetsPath; anything else is 404. Only GET and HEAD are
// allowed.
//
// New panics if opts.Endpoint is not an absolute path ("/...") or
// opts.DefaultHeaders is neither empty nor a JSON object: both are
// programmer errors best caught at startup.
func New(opts Options) http.Handler {
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	if err := validEndpoint(opts.Endpoint); err != nil {
		panic("playground: " + err.Error())
	}
	if opts.DefaultHeaders != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(opts.DefaultHeaders), &obj); err != nil || obj == nil {
			panic(fmt.Sprintf("playground: DefaultHeaders must be a JSON object, got %q", opts.DefaultHeaders))
		}
	}

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, opts); err != nil {
		panic("playground: rendering page: " + err.Error())
	}
	page := buf.Bytes()
	sum := sha256.Sum256(page)
	return &handler{page: page, pageETag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

type handler struct {
	page     []byte
	pageETag string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/" || p == "":
		h.servePage(w, r)
	case strings.HasPrefix(p, AssetsPath):
		serveAsset(w, r, strings.TrimPrefix(p, AssetsPath))
	default:
		http.NotFound(w, r)
	}
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", h.pageETag)
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy(r.Host))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page))
}

// hostRE matches a syntactically safe Host header (name or IP, optional port).
var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

// ContentSecurityPolicy returns the CSP sent with the page for a request to
// host: scripts and styles only from 'self' (nothing inline), data: images
// and fonts (GraphiQL's CSS embeds its fonts), and connections to the same
// origin over http(s) and ws(s). CSP3 browsers already match same-host
// websockets with 'self'; the explicit ws:// and wss:// sources cover older
// ones.
func ContentSecurityPolicy(host string) string {
	connect := "'self'"
	if hostRE.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src " + connect + "; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
}

func validEndpoint(ep string) error {
	if !strings.HasPrefix(ep, "/") || strings.HasPrefix(ep, "//") {
		return fmt.Errorf("endpoint must be a same-origin absolute path like %q, got %q", DefaultEndpoint, ep)
	}
	for _, c := range ep {
		if c <= ' ' || c == 0x7f || c == '\\' {
			return fmt.Errorf("endpoint %q contains a space, control character or backslash", ep)
		}
	}
	return nil
}

//go:embed assets
var assetsFS embed.FS

var pageTemplate = template.Must(template.New("index.html").
	Funcs(template.FuncMap{"asset": assetURL}).
	ParseFS(assetsFS, "assets/index.html"))

// asset is one embedded file served under AssetsPath.
type asset struct {
	data        []byte
	contentType string
	hash        string // hex sha256 prefix, used for ETag and cache busting

	gzipOnce sync.Once
	gz       []byte // nil when gzip does not help
}

// assets maps served file names to their content. Files come from assets/
// (our bootstrap) and assets/vendor/ (fetched by scripts/fetch-graphiql.sh).
var assets = loadAssets()

func loadAssets() map[string]*asset {
	m := map[string]*asset{}
	for _, dir := range []string{"assets", "assets/vendor"} {
		entries, err := fs.ReadDir(assetsFS, dir)
		if err != nil {
			panic(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || name == "index.html" || strings.HasSuffix(name, ".md") {
				continue
			}
			data, err := assetsFS.ReadFile(dir + "/" + name)
			if err != nil {
				panic(err)
			}
			if _, dup := m[name]; dup {
				panic("playground: duplicate asset " + name)
			}
			sum := sha256.Sum256(data)
			m[name] = &asset{data: data, contentType: contentType(name), hash: hex.EncodeToString(sum[:8])}
		}
	}
	return m
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "text/plain; charset=utf-8"
	}
}

// assetURL returns the page-relative URL of an embedded asset, versioned by
// content hash so it can be cached forever.
func assetURL(name string) (string, error) {
	a, ok := assets[name]
	if !ok {
		return "", fmt.Errorf("unknown asset %q", name)
	}
	return strings.TrimPrefix(AssetsPath, "/") + name + "?v=" + a.hash, nil
}

func (a *asset) gzipped() []byte {
	a.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.data)
		_ = zw.Close()
		if buf.Len() < len(a.data)*9/10 {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.hash {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	body, etag := a.data, a.hash
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if gz := a.gzipped(); gz != nil {
			body, etag = gz, a.hash+"-gzip"
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		return !strings.HasPrefix(q, "q=0") || strings.HasPrefix(q, "q=0.") && strings.Trim(q[4:], "0") != ""
	}
	return false
}
