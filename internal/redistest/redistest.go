// Package redistest gives tests a client for the real Redis server.
//
// The server is REDIS_URL (a redis:// or rediss:// URL) or, when that is
// unset, redis://127.0.0.1:6379. When it cannot be reached, Client skips
// the test, or fails it when CI=true. Each package should use its own
// database number so packages tested in parallel do not collide, and
// tests within a package should keep to their own keys (Prefix).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is used when REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379"

// URL returns the test server's URL (REDIS_URL or DefaultURL) selecting
// database db. A URL that does not parse is returned unchanged.
func URL(db int) string {
	base := os.Getenv("REDIS_URL")
	if base == "" {
		base = DefaultURL
	}
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

var (
	flushMu sync.Mutex
	flushed = map[string]bool{}
)

// Client returns a client on database db (1-15) of the test server, closed
// when the test ends. The database is flushed the first time a test binary
// asks for it, not on every call, so parallel tests of one package can
// share it safely (with distinct keys, see Prefix).
//
// If the server cannot be reached within 2s the test is skipped, or fails
// when the environment has CI=true.
func Client(t testing.TB, db int) redis.UniversalClient {
	t.Helper()
	if db < 1 || db > 15 {
		t.Fatalf("redistest: db %d: use a database of its own, 1-15 (0 is left to humans)", db)
	}
	raw := URL(db)
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("redistest: REDIS_URL %s: %v", redact(raw), err)
	}
	opt.DB = db
	opt.ContextTimeoutEnabled = true
	unreachable := func(err error) {
		t.Helper()
		msg := "redistest: Redis at " + redact(raw) + " is not reachable (" + err.Error() + "); start one or set REDIS_URL"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " [CI=true: failing instead of skipping]")
		}
		t.Skip(msg)
	}
	// A plain dial first: go-redis retries refused dials for a while.
	conn, err := net.DialTimeout(opt.Network, opt.Addr, 2*time.Second)
	if err != nil {
		unreachable(err)
	}
	_ = conn.Close()

	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		unreachable(err)
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
