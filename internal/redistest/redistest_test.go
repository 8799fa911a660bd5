package redistest_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// testDB is this package's own database, so its FLUSHDB never hits
// another package's tests.
const testDB = 15

func TestMain(m *testing.M) { redistest.Main(m) }

// TestPrivateServer pins the isolation promise: unless REDIS_URL is set
// explicitly, the tests talk to a server this binary started on a loopback
// port of its own, never to 6379.
func TestPrivateServer(t *testing.T) {
	if os.Getenv("REDIS_URL") != "" {
		t.Skip("REDIS_URL is set explicitly: the tests use that server")
	}
	u, err := url.Parse(redistest.URL(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Port() == "6379" || u.Path != "/3" {
		t.Fatalf("URL(3) = %s, want a private 127.0.0.1 port (not 6379), database 3", u)
	}
	c := redistest.Client(t, testDB)
	info, err := c.Info(context.Background(), "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "aof_enabled:0") {
		t.Errorf("the private server has AOF on:\n%s", info)
	}
	if save, _ := c.ConfigGet(context.Background(), "save").Result(); save["save"] != "" {
		t.Errorf("the private server snapshots: save=%q", save["save"])
	}
}

func TestStartStop(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server on PATH")
	}
	s, err := redistest.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING a started server: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Stop", s.Addr())
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
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

// TestNoServerBinary runs this test binary with neither a redis-server on
// PATH nor REDIS_URL: Redis tests must skip with a clear message, or fail
// when CI=true.
func TestNoServerBinary(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "2" {
		redistest.Client(t, testDB)
		t.Fatal("Client returned without a server")
	}
	for _, tt := range []struct {
		ci       string
		wantFail bool
		wantOut  string
	}{
		{"", false, "--- SKIP: TestNoServerBinary"},
		{"true", true, "--- FAIL: TestNoServerBinary"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoServerBinary$", "-test.v")
		env := []string{"REDISTEST_CHILD=2", "PATH=" + t.TempDir(), "CI=" + tt.ci}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "CI=") {
				env = append(env, kv)
			}
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.wantOut) {
			t.Errorf("CI=%q: err=%v, want failure=%v and %q in:\n%s", tt.ci, err, tt.wantFail, tt.wantOut, out)
		}
		if !strings.Contains(string(out), "no redis-server on PATH") || !strings.Contains(string(out), "set REDIS_URL") {
			t.Errorf("CI=%q: no clear message:\n%s", tt.ci, out)
		}
	}
}

func TestWithDB(t *testing.T) {
	tests := []struct{ base, want string }{
		{"redis://127.0.0.1:41234/0", "redis://127.0.0.1:41234/3"},
		{"redis://:pw@example:6380/0?db=1&dial_timeout=2s", "redis://:pw@example:6380/3?dial_timeout=2s"},
		{"rediss://cache", "rediss://cache/3"},
		{"redis-cluster://a,b", "redis-cluster://a,b"},
	}
	for _, tt := range tests {
		if got := redistest.WithDB(tt.base, 3); got != tt.want {
			t.Errorf("WithDB(%q, 3) = %q, want %q", tt.base, got, tt.want)
		}
	}
}
