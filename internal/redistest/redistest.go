// Package redistest gives tests a real Redis that nobody else uses.
//
// A test binary that needs Redis calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// Main starts a private redis-server on a free loopback port (no
// persistence: --save "" --appendonly no, its files in a temporary folder),
// runs the tests and stops the server, so packages tested in parallel never
// share one and a developer's own Redis (on 6379 or anywhere else) is never
// touched. Only when REDIS_URL is set explicitly are the tests run against
// that server instead, and Main says so. Without a redis-server binary and
// without REDIS_URL, Client and URL skip the test with a message, or fail it
// when CI=true.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// target is the Redis this test binary uses, set once by Main before any
// test runs and read-only afterwards.
var target struct {
	url         string // base URL; empty when there is none
	unavailable string // why there is none
	mainCalled  bool
}

// Main runs the test binary m against a Redis of its own and exits with
// m's status. It starts redis-server on a free 127.0.0.1 port (or uses
// REDIS_URL when that is set explicitly) and stops it when the tests end.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	target.mainCalled = true
	if explicit := os.Getenv("REDIS_URL"); explicit != "" {
		target.url = explicit
		fmt.Fprintf(os.Stderr, "redistest: REDIS_URL is set: using %s (its test databases are flushed)\n", redact(explicit))
		return m.Run()
	}
	srv, err := Start(context.Background())
	if err != nil {
		target.unavailable = err.Error() + "; install redis-server or set REDIS_URL"
		return m.Run()
	}
	target.url = srv.URL()
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "redistest: %v\n", err)
	}
	return code
}

// Server is a redis-server process started by Start.
type Server struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	once sync.Once
	err  error
}

// ErrNoServerBinary means there is no redis-server on PATH.
var ErrNoServerBinary = errors.New("redistest: no redis-server on PATH")

// Start launches a redis-server that keeps nothing on disk, listening only on
// a free 127.0.0.1 port, and returns once it answers PING. The process is
// killed if the test binary dies (on Linux), so no server outlives it.
func Start(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoServerBinary
	}
	var lastErr error
	// A free port can be taken by someone else between picking and binding:
	// try a few.
	for range 5 {
		s, err := startOn(ctx, bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOn(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: temporary folder: %w", err)
	}
	s := &Server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
		"--databases", "16",
	)
	s.cmd.SysProcAttr = killWithParent()
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.addr) == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("redistest: redis-server on %s exited at start: %v: %s", s.addr, s.err, lastLine(log))
		case <-ctx.Done():
			_ = s.Stop()
			return nil, fmt.Errorf("redistest: start redis-server: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return nil, fmt.Errorf("redistest: redis-server on %s did not answer PING within 10s", s.addr)
		}
	}
}

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.addr + "/0" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop kills the server, waits for it to exit and removes its folder.
func (s *Server) Stop() error {
	var err error
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			err = fmt.Errorf("redistest: redis-server on %s did not exit", s.addr)
		}
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = fmt.Errorf("redistest: remove %s: %w", s.dir, rmErr)
		}
	})
	return err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping speaks RESP directly: go-redis would retry a refused dial for a while.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redistest: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// URL returns the URL of this test binary's Redis selecting database db
// (1-15). Without a server it skips the test, or fails it when CI=true.
func URL(t testing.TB, db int) string {
	t.Helper()
	if db < 1 || db > 15 {
		t.Fatalf("redistest: db %d: use a database of its own, 1-15", db)
	}
	if !target.mainCalled {
		t.Fatal("redistest: this package's TestMain must call redistest.Main(m)")
	}
	if target.url == "" {
		unavailable(t, target.unavailable)
	}
	return withDB(target.url, db)
}

// withDB returns base selecting database db. A URL that does not parse, or
// is not a single-node redis:// or rediss:// URL, is returned unchanged.
func withDB(base string, db int) string {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return base
	}
	u.Path = "/" + strconv.Itoa(db)
	q := u.Query()
	q.Del("db")
	u.RawQuery = q.Encode()
	return u.String()
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "redistest: no Redis for this test: " + why
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " [CI=true: failing instead of skipping]")
	}
	t.Skip(msg)
}

var (
	flushMu sync.Mutex
	flushed = map[string]bool{}
)

// Client returns a client on database db (1-15) of this test binary's
// Redis, closed when the test ends. The database is flushed the first time
// the test binary asks for it, not on every call, so parallel tests of one
// package can share it (with distinct keys, see Prefix).
//
// If the server cannot be reached within 2s the test is skipped, or fails
// when the environment has CI=true.
func Client(t testing.TB, db int) redis.UniversalClient {
	t.Helper()
	raw := URL(t, db)
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("redistest: REDIS_URL %s: %v", redact(raw), err)
	}
	opt.DB = db
	opt.ContextTimeoutEnabled = true
	notReachable := func(err error) {
		t.Helper()
		unavailable(t, "Redis at "+redact(raw)+" is not reachable ("+err.Error()+")")
	}
	// A plain dial first: go-redis retries refused dials for a while.
	conn, err := net.DialTimeout(opt.Network, opt.Addr, 2*time.Second)
	if err != nil {
		notReachable(err)
	}
	_ = conn.Close()

	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		notReachable(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	flushMu.Lock()
	defer flushMu.Unlock()
	if !flushed[raw] {
		if err := c.FlushDB(ctx).Err(); err != nil {
			t.Fatalf("redistest: FLUSHDB on db %d: %v", db, err)
		}
		flushed[raw] = true
	}
	return c
}

// Prefix returns a key prefix unique to this test run: the test's name
// and random hex, ending in ":".
func Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer(" ", "_", "/", ".").Replace(t.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
