package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/auth"
)

// Secret values the tests plant in the environment and in files; none may
// ever be printed.
const (
	envToken       = "tok-from-env-5f3c9a"
	envSecretKey   = "sk-from-env-8d2e71"
	envCacheSecret = "cache-from-env-0b4d6f2a"
	fileAPIToken   = "apitoken-from-file-77aa1c"
	fileTokenValue = "tok-from-file-9c1b3e"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, secret := range []string{envToken, envSecretKey, envCacheSecret, fileAPIToken, fileTokenValue} {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the secret %q:\n%s", what, secret, out)
		}
	}
}

// -h and a mistyped flag show the flags with their types and where each
// value comes from, never a value taken from the environment or a file.
func TestHelpShowsTypesAndSourcesButNoSecret(t *testing.T) {
	keys := `[{"name":"ci","sha256":"` + auth.HashKey("k") + `","scopes":["catalog:read"],"serpiToken":"` + fileAPIToken + `"}]`
	config := writeFile(t, "gateway.env", "API_KEYS='"+keys+"'\nMAX_DEPTH=12\n")
	env := envOf(map[string]string{"SERPI_TOKEN": envToken, "SERPI_SECRET_KEY": envSecretKey, "CACHE_SECRET": envCacheSecret, "CONFIG_FILE": config})

	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"-h"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("-h: exit %d: %s", code, stderr.String())
	}
	help := stdout.String() + stderr.String()
	assertNoSecret(t, "-h", help)
	for _, want := range []string{
		"-max-complexity int\n", "-upstream-timeout duration\n", "-websocket-ping duration\n", "-csrf-prevention[=bool]\n",
		"-serialize-brilla[=bool]\n", "-cors-origins list\n", "-redis-url string\n",
		"env SERPI_TOKEN; secret: env SERPI_TOKEN_FILE", "now set by env SERPI_TOKEN)", "now set by env CACHE_SECRET)",
		"now set by file " + config + ")", "default 10)", "-version\n", "-print-config\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("-h lacks %q:\n%s", want, help)
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"-max-dept", "3"}, env, &stdout, &stderr); code != 2 {
		t.Fatalf("mistyped flag: exit %d", code)
	}
	out := stdout.String() + stderr.String()
	assertNoSecret(t, "a mistyped flag", out)
	if !strings.Contains(out, "flag provided but not defined: -max-dept") {
		t.Errorf("the mistyped flag is not named:\n%s", out)
	}
}

// The file's keys are settings or refused, with the nearest setting named.
func TestConfigFileRefusesUnknownKeys(t *testing.T) {
	config := writeFile(t, "gateway.env", "MAX_DEPT=3\nREDIS_URLS=redis://cache:6379\nCONFIG_FILE=/etc/other.env\n")
	_, err := parseOptions([]string{"-demo", "-config", config}, envOf(nil))
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, want := range []string{"unknown key MAX_DEPT (did you mean MAX_DEPTH?)", "unknown key REDIS_URLS (did you mean REDIS_URL?)", "unknown key CONFIG_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// Quotes are removed, # starts a comment after an unquoted value, and a #
// or $ inside single quotes is kept.
func TestConfigFileQuotesAndComments(t *testing.T) {
	config := writeFile(t, "gateway.env", `# the gateway's settings
export BRILLA_URL='http://file-brilla'
SERPI_URL="http://file-serpi"   # a comment after a quoted value
MAX_DEPTH=8 # tighter
MAX_ALIASES = 20
REDIS_PREFIX='tenant#1:'
CACHE_SECRET='pa$$word-with-$DOLLARS-0123'
SERPI_SECRET_KEY="say \"hi\" twice"
SERPI_TOKEN=plain

`)
	o, err := parseOptions([]string{"-config", config}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway
	for _, c := range []struct{ name, got, want string }{
		{"BRILLA_URL", g.BrillaURL, "http://file-brilla"},
		{"SERPI_URL", g.SerpiURL, "http://file-serpi"},
		{"REDIS_PREFIX", g.RedisPrefix, "tenant#1:"},
		{"CACHE_SECRET", g.CacheSecret, "pa$$word-with-$DOLLARS-0123"},
		{"SERPI_SECRET_KEY", g.SerpiSecretKey, `say "hi" twice`},
		{"SERPI_TOKEN", g.SerpiToken, "plain"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if g.Hardening.MaxDepth != 8 || g.Hardening.MaxAliases != 20 {
		t.Errorf("MAX_DEPTH %d, MAX_ALIASES %d", g.Hardening.MaxDepth, g.Hardening.MaxAliases)
	}
	if err := o.validate(); err != nil {
		t.Errorf("the file's configuration is valid: %v", err)
	}

	// A $ outside single quotes would be replaced: refused, naming the line
	// and key but not the value.
	config = writeFile(t, "gateway.env", "MAX_DEPTH=8\nSERPI_TOKEN=abc$"+fileTokenValue+"\n")
	_, err = parseOptions([]string{"-demo", "-config", config}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), config+":2: SERPI_TOKEN: a $ in an unquoted") {
		t.Fatalf("an expandable $ accepted: %v", err)
	}
	assertNoSecret(t, "the error", err.Error())
	config = writeFile(t, "gateway.env", "MAX_DEPTH=8\nSERPI_TOKEN='"+fileTokenValue+"\n")
	_, err = parseOptions([]string{"-demo", "-config", config}, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), config+":2: want KEY=VALUE") {
		t.Fatalf("an unclosed quote accepted: %v", err)
	}
	assertNoSecret(t, "the error", err.Error())
}

// One run reports every problem: the sources' (an unknown file key, values
// that do not parse or are out of range) and the semantic ones, API keys
// included, at once.
func TestEveryProblemInOneReport(t *testing.T) {
	config := writeFile(t, "gateway.env", "MAX_DEPT=3\nCORS_ORIGINS='http://a b'\nWEBSOCKET_PING=0\n")
	env := envOf(map[string]string{
		"BRILLA_URL":       "ftp://brilla",
		"SERPI_SECRET_KEY": envSecretKey,
		"SERPI_TOKEN":      envToken,
		"MAX_COMPLEXITY":   "first",
		"UPSTREAM_TIMEOUT": "0s",
		"API_KEYS":         `[{"name":"ops","sha256":"` + auth.HashKey("k") + `","scopes":["admin"]}]`,
	})
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"-config", config, "-max-aliases", "many"}, env, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d", code)
	}
	out := stderr.String()
	for _, want := range []string{
		"unknown key MAX_DEPT",
		`MAX_COMPLEXITY must be a positive whole number (or -1 to disable), got "first" (from env MAX_COMPLEXITY)`,
		`MAX_ALIASES must be a positive whole number (or -1 to disable), got "many" (from flag -max-aliases)`,
		`WEBSOCKET_PING must be a positive duration such as 10s, got "0" (from file ` + config + `)`,
		`UPSTREAM_TIMEOUT must be a positive duration`,
		`CORS_ORIGINS entries must be origins such as https://app.example.com, got "http://a b"`,
		"BRILLA_URL must be an http(s) URL",
		"SERPI_URL is required",
		`API key "ops": unknown scope "admin"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "gateway: configuration: ") {
			t.Errorf("not one line per problem: %q", line)
		}
	}
	assertNoSecret(t, "the report", out)
}

// Secrets are read from the files *_FILE names, without the trailing
// newline; a secret given both ways, or an unreadable file, is refused.
func TestSecretFiles(t *testing.T) {
	token := writeFile(t, "token", fileTokenValue+"\n")
	secretKey := writeFile(t, "secret-key", "sk-file\r\n")
	cacheSecret := writeFile(t, "cache", "cache-secret-from-a-file-123\n")
	keys := writeFile(t, "keys.json", `[{"name":"ops","sha256":"`+auth.HashKey("k")+`","scopes":["catalog:read"]}]`+"\n")
	config := writeFile(t, "gateway.env", "CACHE_SECRET_FILE="+cacheSecret+"\nAPI_KEYS_FILE="+keys+"\n")
	env := envOf(map[string]string{"SERPI_TOKEN_FILE": token, "BRILLA_URL": "http://b", "SERPI_URL": "http://s"})
	o, err := parseOptions([]string{"-config", config, "-serpi-secret-key-file", secretKey}, env)
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway
	if g.SerpiToken != fileTokenValue || g.SerpiSecretKey != "sk-file" || g.CacheSecret != "cache-secret-from-a-file-123" {
		t.Fatalf("token %q, secret key %q, cache secret %q", g.SerpiToken, g.SerpiSecretKey, g.CacheSecret)
	}
	if len(g.APIKeys) != 1 || g.APIKeys[0].Name != "ops" {
		t.Fatalf("API keys %+v", g.APIKeys)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}

	both := envOf(map[string]string{"SERPI_TOKEN_FILE": token, "SERPI_TOKEN": envToken})
	if _, err := parseOptions([]string{"-demo"}, both); err == nil || !strings.Contains(err.Error(), "SERPI_TOKEN: give env SERPI_TOKEN or env SERPI_TOKEN_FILE, not both") {
		t.Fatalf("both accepted: %v", err)
	}
	missing := envOf(map[string]string{"CACHE_SECRET_FILE": "/nonexistent/cache-secret"})
	if _, err := parseOptions([]string{"-demo"}, missing); err == nil || !strings.Contains(err.Error(), "CACHE_SECRET_FILE: open /nonexistent/cache-secret") {
		t.Fatalf("a missing file accepted: %v", err)
	}
}

// -version says the module, its version, the VCS revision and Go's
// version, from the build info.
func TestVersion(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info in this test binary")
	}
	var stdout, stderr strings.Builder
	// The version needs no configuration, even a broken one.
	if code := run(t.Context(), []string{"-version"}, envOf(map[string]string{"MAX_DEPTH": "x"}), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if !regexp.MustCompile(`^gateway \S+ \S+, revision \S+.*, built with go\S+$`).MatchString(out) || !strings.Contains(out, bi.GoVersion) {
		t.Fatalf("-version printed %q (build info: go %s)", out, bi.GoVersion)
	}
}

// -print-config lists every setting with its value and where it came
// from, secrets masked, and exits 0.
func TestPrintConfigMasksSecrets(t *testing.T) {
	token := writeFile(t, "token", fileTokenValue+"\n")
	config := writeFile(t, "gateway.env", "SERPI_URL=http://file-serpi\nMAX_DEPTH=12\nCACHE_SECRET="+envCacheSecret+"\n")
	env := envOf(map[string]string{"BRILLA_URL": "http://env-brilla", "SERPI_SECRET_KEY": envSecretKey, "SERPI_TOKEN_FILE": token, "CONFIG_FILE": config,
		"REDIS_URL": "redis://:" + envToken + "@cache:6379/0"})
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"-print-config", "-max-depth", "7", "-websocket-ping", "10s"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	assertNoSecret(t, "-print-config", out+stderr.String())
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if key, rest, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(key, "#") {
			lines[key] = strings.Join(strings.Fields(rest), " ")
		}
	}
	for key, want := range map[string]string{
		"MAX_DEPTH":        "flag -max-depth 7",
		"WEBSOCKET_PING":   "flag -websocket-ping 10s",
		"BRILLA_URL":       "env BRILLA_URL http://env-brilla",
		"SERPI_URL":        "file " + config + " http://file-serpi",
		"SERPI_SECRET_KEY": "env SERPI_SECRET_KEY ********",
		"SERPI_TOKEN":      "env SERPI_TOKEN_FILE (" + token + ") ********",
		"CACHE_SECRET":     "file " + config + " ********",
		"REDIS_URL":        "env REDIS_URL redis://********@cache:6379/0",
		"API_KEYS":         `default ""`,
		"MAX_ALIASES":      "default 50",
		"UPSTREAM_TIMEOUT": "default 10s",
	} {
		if lines[key] != want {
			t.Errorf("%s: %q, want %q", key, lines[key], want)
		}
	}
	o, _ := loadOptions(nil, envOf(nil))
	for _, r := range o.loaded.resolved {
		if _, ok := lines[r.key]; !ok {
			t.Errorf("-print-config lacks %s", r.key)
		}
	}

	// A configuration with problems is printed, then refused.
	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"-print-config", "-max-depth", "0"}, envOf(nil), &stdout, &stderr); code != 2 ||
		!strings.Contains(stdout.String(), "MAX_DEPTH") || !strings.Contains(stderr.String(), "MAX_DEPTH must be") {
		t.Fatalf("exit %d; stdout %s; stderr %s", code, stdout.String(), stderr.String())
	}
}

// Typed settings reach the gateway's configuration with the documented
// precedence: flag over env over file over default.
func TestPrecedenceOfTypedSettings(t *testing.T) {
	config := writeFile(t, "gateway.env", "WEBSOCKET_PING=7s\nSERIALIZE_BRILLA=yes\nMAX_COMPLEXITY=900\nRATE_LIMIT_IP=20\n")
	env := envOf(map[string]string{"CONFIG_FILE": config, "MAX_COMPLEXITY": "800", "RATE_LIMIT_IP": "30"})
	o, err := parseOptions([]string{"-demo", "-rate-limit-ip", "40", "-serialize-brilla=false"}, env)
	if err != nil {
		t.Fatal(err)
	}
	g := o.gateway
	if g.WebsocketPing != 7*time.Second || g.SerializeBrilla || g.Hardening.MaxComplexity != 800 || g.Hardening.RateLimits.IP.Rate != 40 || g.Hardening.MaxDepth != 10 {
		t.Fatalf("ping %v, serialize %v, complexity %d, ip rate %d, depth %d", g.WebsocketPing, g.SerializeBrilla, g.Hardening.MaxComplexity, g.Hardening.RateLimits.IP.Rate, g.Hardening.MaxDepth)
	}
}
