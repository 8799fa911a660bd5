package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

func TestLogSettingsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
	} {
		_, err := parseOptions([]string{"-demo"}, envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.env, err)
		}
	}
	o, err := parseOptions([]string{"-demo", "-log-level=debug", "-log-format=json"}, envOf(map[string]string{"LOG_LEVEL": "error"}))
	if err != nil || o.logLevel != "debug" || o.logFormat != "json" {
		t.Fatalf("flags over env: %+v %v", o, err)
	}
}

// With LOG_FORMAT=json every line the process writes to stderr is one JSON
// object, from the startup line (with the version) to the shutdown line,
// access-log lines carry duration_ms, and LOG_LEVEL=warn leaves info
// lines out.
func TestLogsAreJSONFromStartToStop(t *testing.T) {
	for _, tc := range []struct {
		level    string
		wantInfo bool
	}{{"info", true}, {"warn", false}} {
		t.Run(tc.level, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var stdout, stderr testutil.SyncBuffer
			done := make(chan int, 1)
			env := envOf(map[string]string{"LOG_FORMAT": "json", "LOG_LEVEL": tc.level})
			go func() { done <- run(ctx, []string{"-demo", "-addr", "127.0.0.1:0"}, env, &stdout, &stderr) }()
			urlRe := regexp.MustCompile(`Playground:\s+(http://\S+)/`)
			var base string
			testutil.WaitUntil(t, "the playground URL", func() bool {
				m := urlRe.FindStringSubmatch(stdout.String())
				if m != nil {
					base = m[1]
				}
				return m != nil
			})
			var out struct{ Data any }
			postJSON(t, base+"/graphql", `{"query":"query Quote { creditQuote(amount: 100000, periods: 2) { amount } }"}`, map[string]string{"X-Api-Key": "demo-key"}, &out)
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var started, stopped, access map[string]any
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if line == "" {
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("a line that is not JSON: %q", line)
				}
				switch rec["msg"] {
				case "gateway started":
					started = rec
				case "gateway stopped":
					stopped = rec
				case "request":
					if rec["path"] == "/graphql" {
						access = rec
					}
				}
			}
			if !tc.wantInfo {
				if started != nil || access != nil {
					t.Fatalf("LOG_LEVEL=warn logged info lines:\n%s", stderr.String())
				}
				return
			}
			if started == nil || started["version"] == nil || started["go"] == nil || stopped == nil {
				t.Fatalf("startup %v, shutdown %v in:\n%s", started, stopped, stderr.String())
			}
			if _, ok := access["duration_ms"].(float64); !ok || access["operation"] != "Quote" || access["key_name"] != "demo" || access["client_address"] != "127.0.0.1" {
				t.Fatalf("access line %v", access)
			}
		})
	}
}
