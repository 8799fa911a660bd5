package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"

	"github.com/serfigas/brilla-gateway/internal/auth"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigErrorsAreOneLinePerProblemAndExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"nothing configured", nil, nil, []string{"BRILLA_URL is required", "SERPI_URL is required", "SERPI_SECRET_KEY is required"}},
		{"bad url", nil, map[string]string{"BRILLA_URL": "ftp://x", "SERPI_URL": "http://user:pw@serpi", "SERPI_SECRET_KEY": "s", "SERPI_TOKEN": "t"},
			[]string{"BRILLA_URL must be an http(s) URL", "SERPI_URL must not carry credentials"}},
		{"bad duration", []string{"-upstream-timeout", "soon"}, nil, []string{"UPSTREAM_TIMEOUT must be a positive duration"}},
		{"bad api keys", []string{"-api-keys", `{"name":"x"}`}, nil, []string{"API keys: want a JSON array"}},
		{"bad scope", []string{"-demo", "-api-keys", `[{"name":"x","sha256":"` + auth.HashKey("k") + `","scopes":["admin"]}]`}, nil, []string{`unknown scope "admin"`}},
		{"bad rate", []string{"-demo", "-default-monthly-rate", "1e2"}, nil, []string{"DEFAULT_MONTHLY_RATE must be a positive decimal"}},
		{"stray argument", []string{"demo"}, nil, []string{`unexpected argument "demo"`}},
		{"bad limits", []string{"-demo", "-max-depth", "0", "-max-aliases", "x", "-introspection=maybe", "-rate-limit-ip", "-5"}, nil,
			[]string{"MAX_DEPTH must be a positive whole number (or -1 to disable)", "MAX_ALIASES must be", "INTROSPECTION must be true or false", "RATE_LIMIT_IP must be requests per minute"}},
		{"bad CORS origin", []string{"-demo", "-cors-origins", "app.example.com"}, nil, []string{"CORS_ORIGINS entries must be origins"}},
		{"missing trusted documents", []string{"-demo", "-trusted-documents", "/nonexistent/manifest.json"}, nil, []string{"trusted documents:"}},
		{"missing config file", []string{"-config", "/nonexistent/gateway.env"}, nil, []string{"config file:"}},
		{"bad SERPI walk settings", []string{"-demo", "-serpi-page-size", "0", "-catalog-credential-check", "-1s"}, nil,
			[]string{"SERPI_PAGE_SIZE must be a whole number from 1 to 1000", "CATALOG_CREDENTIAL_CHECK must be a duration"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr testutil.SyncBuffer
			code := run(t.Context(), tc.args, envOf(tc.env), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			out := strings.TrimSuffix(stderr.String(), "\n")
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, "gateway: configuration: ") {
					t.Errorf("not one clear line per problem: %q", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestHashAPIKey(t *testing.T) {
	var stdout, stderr testutil.SyncBuffer
	if code := run(t.Context(), []string{"-hash-api-key", "s3cret"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != auth.HashKey("s3cret") || len(got) != 64 {
		t.Fatalf("printed %q", got)
	}
}

// The first README command: the demo starts with nothing configured, says
// where to go and how to sign in, serves the playground and the API, and
// exits 0 when stopped.
func TestDemoServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-demo", "-addr", "127.0.0.1:0"}, envOf(nil), &stdout, &stderr) }()

	urlRe := regexp.MustCompile(`Playground:\s+(http://\S+)/`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := urlRe.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("no playground URL printed; stdout: %s stderr: %s", stdout.String(), stderr.String())
	}
	banner := stdout.String()
	for _, want := range []string{"demo-key", "demo-readonly-key", "123456789", "12345678", "mi_respuesta", "generateToken"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	page := get(t, base+"/")
	if !strings.Contains(page, "graphiql") || strings.Contains(page, "unpkg.com") || strings.Contains(page, "jsdelivr") {
		t.Errorf("playground page is not the embedded GraphiQL: %.300s", page)
	}
	if h := get(t, base+"/healthz"); !strings.Contains(h, "ok") {
		t.Errorf("healthz = %q", h)
	}

	body := `{"query":"mutation { generateToken(input: {vat: \"123456789\", contractNumber: \"12345678\", questionId: 1, answer: \"mi_respuesta\"}) { token } }"}`
	var tok struct {
		Data struct{ GenerateToken struct{ Token string } }
	}
	postJSON(t, base+"/graphql", body, nil, &tok)
	var me struct {
		Data struct {
			Viewer struct{ Vat string }
			Taxes  struct{ TotalCount int }
		}
		Errors []any
	}
	postJSON(t, base+"/graphql", `{"query":"{ viewer { vat } taxes { totalCount } }"}`,
		map[string]string{"Authorization": "Bearer " + tok.Data.GenerateToken.Token, "X-Api-Key": "demo-key"}, &me)
	if me.Data.Viewer.Vat != "123456789" || me.Data.Taxes.TotalCount == 0 || len(me.Errors) > 0 {
		t.Fatalf("demo query = %+v", me)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after stop; stderr: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func postJSON(t *testing.T, url, body string, headers map[string]string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// A config file sits under the environment: the environment wins, and
// flags win over both.
func TestConfigFileIsLayeredUnderEnvAndFlags(t *testing.T) {
	path := t.TempDir() + "/gateway.env"
	content := "# gateway settings\nBRILLA_URL=http://file-brilla\nSERPI_URL=\"http://file-serpi\"\nMAX_DEPTH=7\nexport UPSTREAM_TIMEOUT=3s\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"-config", path, "-max-depth", "9"}, envOf(map[string]string{"SERPI_URL": "http://env-serpi"}))
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway
	if g.BrillaURL != "http://file-brilla" || g.SerpiURL != "http://env-serpi" || g.Hardening.MaxDepth != 9 || g.UpstreamTimeout != 3*time.Second {
		t.Fatalf("brilla %q serpi %q depth %d timeout %v", g.BrillaURL, g.SerpiURL, g.Hardening.MaxDepth, g.UpstreamTimeout)
	}
	if err := os.WriteFile(path, []byte("NOT A SETTING\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseOptions([]string{"-config=" + path}, envOf(nil)); err == nil || !strings.Contains(err.Error(), ":1: want KEY=VALUE") {
		t.Fatalf("bad line accepted: %v", err)
	}
}

// SIGTERM during a slow query: the query completes and the process exits 0.
func TestStopDuringASlowQueryFinishesIt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-demo", "-addr", "127.0.0.1:0", "-sim-latency", "700ms"}, envOf(nil), &stdout, &stderr)
	}()
	urlRe := regexp.MustCompile(`GraphQL:\s+(http://\S+)`)
	var endpoint string
	testutil.WaitUntil(t, "the banner", func() bool {
		m := urlRe.FindStringSubmatch(stdout.String())
		if m != nil {
			endpoint = m[1]
		}
		return m != nil
	})
	type answer struct {
		Data   struct{ Taxes struct{ TotalCount int } }
		Errors []any
	}
	got := make(chan answer, 1)
	go func() {
		var a answer
		postJSON(t, endpoint, `{"query":"{ taxes { totalCount } }"}`, map[string]string{"X-Api-Key": "demo-key"}, &a)
		got <- a
	}()
	time.Sleep(200 * time.Millisecond) // the query is now waiting on the slow simulator
	started := time.Now()
	cancel() // what SIGTERM does through signal.NotifyContext
	a := <-got
	if a.Data.Taxes.TotalCount == 0 || len(a.Errors) > 0 {
		t.Fatalf("the in-flight query did not complete: %+v", a)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit")
	}
	t.Logf("stopped %v after the signal, the query answered", time.Since(started).Round(time.Millisecond))
}
