package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

// openFiles counts this process's open file descriptors (Linux only).
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// waitFor polls cond every 20ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Finding 1: a connection_init the server cannot use (a payload that is
// not an object, a message that is not connection_init, one too large)
// is answered by closing the socket with a graphql-transport-ws close
// code; clients that drop such connections leave no socket and no
// goroutine behind.
func TestAbuse1_WebsocketInitLeak(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(newGateway(t, e, nil))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"

	dial := func(t *testing.T) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.SetReadLimit(1 << 20)
		return c
	}
	send := func(c *websocket.Conn, msg string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Write(ctx, websocket.MessageText, []byte(msg))
	}

	cases := []struct {
		name, first string
		code        websocket.StatusCode
	}{
		{"array payload", `{"type":"connection_init","payload":[1]}`, 4400},
		{"string payload", `{"type":"connection_init","payload":"x"}`, 4400},
		{"number payload", `{"type":"connection_init","payload":1}`, 4400},
		{"boolean payload", `{"type":"connection_init","payload":true}`, 4400},
		{"not JSON", `{"type":"connection_init","payload":{`, 4400},
		{"not an object", `[{"type":"connection_init"}]`, 4400},
		{"unknown type", `{"type":"hello"}`, 4400},
		{"ping before init", `{"type":"ping"}`, 4400},
		{"subscribe before init", `{"type":"subscribe","id":"1","payload":{"query":"{ __typename }"}}`, 4401},
		{"oversized init", `{"type":"connection_init","payload":{"Authorization":"` + strings.Repeat("A", 64<<10) + `"}}`, websocket.StatusMessageTooBig},
	}
	// Every refusal closes the socket with its code, promptly.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t)
			defer c.CloseNow()
			if err := send(c, tc.first); err != nil {
				t.Fatalf("write: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			for {
				_, msg, err := c.Read(ctx)
				if err == nil {
					// graphql-transport-ws sends nothing before closing;
					// anything else must not echo the message.
					if bytes.Contains(msg, []byte("AAAA")) {
						t.Fatalf("the server echoed the message: %.80s", msg)
					}
					continue
				}
				if ctx.Err() != nil {
					t.Fatalf("socket still open 3s after a bad first message: %v", err)
				}
				if got := websocket.CloseStatus(err); got != tc.code {
					t.Fatalf("closed with %d (%v), want %d", got, err, tc.code)
				}
				return
			}
		})
	}
	// A valid connection still works after all that.
	dialWS(t, url, map[string]any{"X-Api-Key": testKey}, nil).conn.CloseNow()

	// 50 bad inits dropped by the client at once (the attack):
	// no socket and no goroutine stays behind on the server.
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	baseFiles, baseGoroutines := openFiles(t), runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t)
			_ = send(c, cases[i%4].first)
			time.Sleep(20 * time.Millisecond) // the server has read it
			_ = c.CloseNow()
		}()
	}
	wg.Wait()
	if !waitFor(15*time.Second, func() bool { return openFiles(t) <= baseFiles+2 }) {
		t.Fatalf("%d open files after 50 dropped bad inits, %d before: the server kept their sockets", openFiles(t), baseFiles)
	}
	if !waitFor(15*time.Second, func() bool { return runtime.NumGoroutine() <= baseGoroutines+2 }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after 50 dropped bad inits, %d before:\n%s", runtime.NumGoroutine(), baseGoroutines, buf[:runtime.Stack(buf, true)])
	}
}

// captureProcessLog sends the standard logger and os.Stderr to a buffer
// for the rest of the test.
func captureProcessLog(t *testing.T) func() string {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := &lockedWriter{mu: &mu, w: &buf}
	prevLog := log.Writer()
	log.SetOutput(w)
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	prevStderr := os.Stderr
	os.Stderr = pw
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(w, r); close(copied) }()
	t.Cleanup(func() {
		log.SetOutput(prevLog)
		os.Stderr = prevStderr
		_ = pw.Close()
		<-copied
		_ = r.Close()
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

// ssePost posts body to url as an SSE request and returns status and body.
func ssePost(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("SSE request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// Finding 5 (SSE part): a malformed SSE body is refused with a coded
// error that repeats none of it, and none of it reaches a log.
func TestAbuse5_SSEBodyNeverLogged(t *testing.T) {
	stderr := captureProcessLog(t)
	e := newEnv(t)
	srv := httptest.NewServer(newGateway(t, e, nil))
	t.Cleanup(srv.Close)

	const answer = "SECURITY-ANSWER-MARKER-7731"
	const document = "JVBERi0xLjQgU0VDUkVULURPQ1VNRU5ULUNPTlRFTlQ=" // base64 of a PDF
	mutation := `mutation($in: GenerateTokenInput!) { generateToken(input: $in) { token } }`
	valid, _ := json.Marshal(map[string]any{"query": mutation, "variables": map[string]any{"in": map[string]any{"answer": answer, "attachment": document}}})
	bodies := map[string]string{
		"truncated":            string(valid[:len(valid)-3]),
		"trailing garbage":     string(valid) + `}{"answer":"` + answer + `"`,
		"variables not object": `{"query":"` + answer + `","variables":"` + document + `"}`,
		"query not a string":   `{"query":{"answer":"` + answer + `"},"variables":{"doc":"` + document + `"}}`,
		"not an object":        `["` + answer + `","` + document + `"]`,
		"bad escape":           `{"query":"\x` + answer + document + `"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			status, resp := ssePost(t, srv.URL, body)
			if status != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", status, resp)
			}
			var r result
			if err := json.Unmarshal([]byte(resp), &r); err != nil {
				t.Fatalf("response is not JSON: %s", resp)
			}
			r.raw = resp
			r.wantCode(t, "BAD_USER_INPUT")
			for _, secret := range []string{answer, document, "SECRET"} {
				if strings.Contains(resp, secret) {
					t.Errorf("the response repeats the body: %s", resp)
				}
			}
		})
	}
	for where, text := range map[string]string{"the gateway's log": e.logText(), "stderr / the standard logger": stderr()} {
		for _, secret := range []string{answer, document, "decoding error"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q:\n%s", where, secret, text)
			}
		}
	}
}

// Finding 7: an SSE request whose body stalls half-way is cut at the
// request deadline, as a plain POST is; a stream that started lives on.
func TestAbuse7_StalledSSEBodyIsCut(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(newGateway(t, e, func(c *server.Config) { c.RequestTimeout = 300 * time.Millisecond }))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: 200\r\n\r\n")
	fmt.Fprintf(conn, `{"query":"subscription { registrationStatus(tracking`)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer %v after a stalled SSE body (request timeout 300ms)", time.Since(start).Round(time.Millisecond))
		}
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the stalled body was cut after %v", took)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408: %s", resp.StatusCode, raw)
	}
	var r result
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	r.raw = string(raw)
	r.wantCode(t, "BAD_USER_INPUT")
	if strings.Contains(r.raw, "registrationStatus") {
		t.Fatalf("the response repeats the body: %s", raw)
	}
}
