package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/serfigas/brilla-gateway/internal/edge/observability"
)

// syncBuffer is a buffer several goroutines log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The standard library's logger (gqlgen's transports), go-redis's and
// OpenTelemetry's loggers all end up as redacted JSON lines of the
// gateway's logger.
func TestProcessLogsGoThroughTheRedactingLogger(t *testing.T) {
	var out syncBuffer
	logger := observability.NewLogger(slog.NewJSONHandler(&out, nil))
	restore := routeProcessLogs(logger)

	// What gqlgen's SSE transport printed (issue 9, finding 5).
	log.Printf(`decoding error: unexpected EOF body:{"variables":{"in":{"answer":"mi_respuesta","attachment":"JVBERi0xLjQ="}}} Authorization: Bearer tok.abc.def`)
	// go-redis, for real: a sentinel that is not there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "answer=mi_respuesta", SentinelAddrs: []string{dead}, MaxRetries: -1, DialTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = rdb.Ping(ctx).Err()
	cancel()
	_ = rdb.Close()
	// OpenTelemetry's error handler and internal logger.
	otel.Handle(errors.New("export failed: Bearer tok.abc.def"))
	// Its internal logger (no getter: the one routeProcessLogs installs).
	otelLogger().Error(errors.New("password=hunter2"), "otlp exporter failed", "token", "tok.abc.def")
	restore()
	log.Printf("after restore: not in the gateway's log")

	text := out.String()
	for _, secret := range []string{"mi_respuesta", "JVBERi0xLjQ=", "tok.abc.def", "hunter2"} {
		if strings.Contains(text, secret) {
			t.Errorf("the log holds %q:\n%s", secret, text)
		}
	}
	var sawStd, sawRedis, sawOtel bool
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %s", line)
		}
		msg, _ := rec["msg"].(string)
		sawStd = sawStd || strings.HasPrefix(msg, "decoding error")
		sawRedis = sawRedis || rec["component"] == "go-redis"
		sawOtel = sawOtel || strings.Contains(msg, "export failed") || rec["component"] == "opentelemetry"
		if strings.Contains(msg, "after restore") {
			t.Errorf("restore left the standard logger on the gateway's log")
		}
	}
	if !sawStd || !sawRedis || !sawOtel {
		t.Fatalf("std %v, go-redis %v, otel %v in:\n%s", sawStd, sawRedis, sawOtel, text)
	}
}
