package playground

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRenderInChromium loads the playground in headless Chromium, with no
// network other than the local test server, and checks that GraphiQL really
// rendered, fetched the schema with the default headers and hit no CSP
// violation. It is skipped when no Chromium binary is installed (set
// $CHROMIUM to choose one), except under CI=true, where it fails. With $PLAYGROUND_SCREENSHOT=/path.png it also
// saves a 1280x800 screenshot (used by scripts/check-playground.sh).
func TestRenderInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping browser test in -short mode")
	}
	chromium := findChromium()
	if chromium == "" && os.Getenv("CI") == "true" {
		t.Fatal("chromium not found under CI=true: .ci/run installs it (apt-get install chromium)")
	}
	if chromium == "" {
		t.Skip("chromium not found (install it, e.g. apt-get install chromium, or set $CHROMIUM); skipping browser render check")
	}

	var (
		mu         sync.Mutex
		gqlReqs    []http.Header
		cspReports []string
	)
	mux := http.NewServeMux()
	Register(mux, Options{
		Title:          "Render Test",
		Endpoint:       "/graphql",
		DefaultHeaders: `{"X-Api-Key": "demo-key"}`,
		DefaultQuery:   "query RenderProbe { hello }",
	})
	mux.HandleFunc("POST /graphql", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gqlReqs = append(gqlReqs, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if bytes.Contains(b, []byte("__schema")) {
			io.WriteString(w, minimalIntrospection)
			return
		}
		io.WriteString(w, `{"data":{"hello":"world"}}`)
	})
	mux.HandleFunc("POST /csp-report", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		cspReports = append(cspReports, string(b))
		mu.Unlock()
	})
	// Same CSP as production, plus a report-uri so violations are visible.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&cspReportWriter{ResponseWriter: w}, r)
	}))
	defer srv.Close()

	dom, logs := runChromium(t, chromium, srv.URL+"/", "--dump-dom")

	// Look only at what GraphiQL rendered, not at our data-* attributes.
	rendered := ""
	if i := strings.Index(dom, `class="graphiql-container"`); i >= 0 {
		rendered = dom[i:]
	} else {
		t.Error(`rendered DOM lacks class="graphiql-container": GraphiQL did not render`)
	}
	for _, want := range []string{
		"graphiql-editor", // an editor pane
		"CodeMirror",      // the editors really mounted
		"RenderProbe",     // DefaultQuery reached the query editor
		"demo-key",        // DefaultHeaders reached the headers editor
	} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered GraphiQL lacks %q", want)
		}
	}
	if strings.Contains(dom, "playground-loading") {
		t.Error("loading placeholder still present: GraphiQL did not render")
	}

	mu.Lock()
	reqs, reports := gqlReqs, cspReports
	mu.Unlock()
	if len(reqs) == 0 {
		t.Error("GraphiQL never called /graphql (schema introspection)")
	} else if got := reqs[0].Get("X-Api-Key"); got != "demo-key" {
		t.Errorf("introspection request X-Api-Key = %q, want demo-key (headers editor not applied)", got)
	}
	for _, rep := range reports {
		t.Errorf("CSP violation report: %s", rep)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused to") {
			t.Errorf("chromium: %.300s", line)
		}
	}
	if t.Failed() {
		var keep []string
		for _, line := range strings.Split(logs, "\n") {
			if !strings.Contains(line, "dbus") {
				keep = append(keep, fmt.Sprintf("%.300s", line))
			}
		}
		t.Logf("chromium log:\n%s", strings.Join(keep, "\n"))
		t.Logf("DOM (%d bytes):\n%.4000s", len(dom), dom)
	}

	if shot := os.Getenv("PLAYGROUND_SCREENSHOT"); shot != "" {
		runChromium(t, chromium, srv.URL+"/", "--screenshot="+shot, "--window-size=1280,800")
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
			t.Errorf("screenshot %s missing or tiny: %v", shot, err)
		} else {
			t.Logf("screenshot written to %s (%d bytes)", shot, fi.Size())
		}
	}
}

func findChromium() string {
	if c := os.Getenv("CHROMIUM"); c != "" {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium runs headless Chromium on url with extra args and returns its
// stdout and stderr. It is bounded to 60s.
func runChromium(t *testing.T, chromium, url string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--disable-extensions",
		"--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr",
		"--v=0",
		"--virtual-time-budget=5000",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, chromium, args...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v (ctx: %v)\nstderr:\n%s", chromium, err, ctx.Err(), errb.String())
	}
	return out.String(), errb.String()
}

// cspReportWriter appends a report-uri to the page's CSP.
type cspReportWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (w *cspReportWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if csp := w.Header().Get("Content-Security-Policy"); csp != "" {
			w.Header().Set("Content-Security-Policy", csp+"; report-uri /csp-report")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cspReportWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// minimalIntrospection is a canned introspection result for
// "type Query { hello: String }".
const minimalIntrospection = `{"data":{"__schema":{
 "description":null,
 "queryType":{"name":"Query"},"mutationType":null,"subscriptionType":null,
 "types":[
  {"kind":"OBJECT","name":"Query","description":null,"specifiedByURL":null,"isOneOf":false,
   "fields":[{"name":"hello","description":"Says hello.","args":[],
     "type":{"kind":"SCALAR","name":"String","ofType":null},
     "isDeprecated":false,"deprecationReason":null}],
   "inputFields":null,"interfaces":[],"enumValues":null,"possibleTypes":null},
  {"kind":"SCALAR","name":"String","description":null,"specifiedByURL":null,"isOneOf":null,
   "fields":null,"inputFields":null,"interfaces":null,"enumValues":null,"possibleTypes":null},
  {"kind":"SCALAR","name":"Boolean","description":null,"specifiedByURL":null,"isOneOf":null,
   "fields":null,"inputFields":null,"interfaces":null,"enumValues":null,"possibleTypes":null}
 ],
 "directives":[]
}}}`
