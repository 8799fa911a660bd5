package redistest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// testDB is this package's own database, so its FLUSHDB never hits
// another package's tests.
const testDB = 15

func TestURL(t *testing.T) {
	tests := []struct{ env, want string }{
		{"", "redis://127.0.0.1:6379/3"},
		{"redis://:pw@example:6380/0?db=1&dial_timeout=2s", "redis://:pw@example:6380/3?dial_timeout=2s"},
		{"rediss://cache", "rediss://cache/3"},
	}
	for _, tt := range tests {
		t.Setenv("REDIS_URL", tt.env)
		if got := redistest.URL(3); got != tt.want {
			t.Errorf("REDIS_URL=%q: URL(3) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestClient(t *testing.T) {
	c := redistest.Client(t, testDB)
	ctx := context.Background()
	p := redistest.Prefix(t)
	if err := c.Set(ctx, p+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, p+"k").Result(); v != "v" {
		t.Fatalf("Get = %q", v)
	}
	// A second client in the same test binary does not flush the database.
	c2 := redistest.Client(t, testDB)
	if n, _ := c2.Exists(ctx, p+"k").Result(); n != 1 {
		t.Fatal("a second Client call flushed the database")
	}
	if p == redistest.Prefix(t) {
		t.Fatal("Prefix is not unique")
	}
}

// TestUnreachable runs this test binary against a port nothing listens on:
// the test must skip, or fail when CI=true.
func TestUnreachable(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		redistest.Client(t, testDB)
		t.Fatal("Client returned without a server")
	}
	for _, tt := range []struct {
		ci       string
		wantFail bool
		wantOut  string
	}{
		{"", false, "--- SKIP: TestUnreachable"},
		{"false", false, "--- SKIP: TestUnreachable"},
		{"true", true, "--- FAIL: TestUnreachable"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnreachable$", "-test.v")
		cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1", "REDIS_URL=redis://:topsecret@127.0.0.1:1", "CI="+tt.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.wantOut) {
			t.Errorf("CI=%q: err=%v, want failure=%v and %q in:\n%s", tt.ci, err, tt.wantFail, tt.wantOut, out)
		}
		if strings.Contains(string(out), "topsecret") {
			t.Errorf("CI=%q: the password appears in the output:\n%s", tt.ci, out)
		}
		if !strings.Contains(string(out), "not reachable") {
			t.Errorf("CI=%q: no clear message:\n%s", tt.ci, out)
		}
	}
}
