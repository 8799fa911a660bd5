package streams_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/internal/edge/streams"
)

// stubExec answers every operation with {"ok":true}.
type stubExec struct{}

func (stubExec) CreateOperationContext(_ context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	return &graphql.OperationContext{RawQuery: p.Query, Variables: p.Variables}, nil
}

func (stubExec) DispatchOperation(ctx context.Context, _ *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"ok":true}`)}), ctx
}

func (stubExec) DispatchError(_ context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

// serve runs t on a real server.
func serve(t *testing.T, tr graphql.Transport) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tr.Supports(r) {
			http.Error(w, "unsupported", http.StatusBadRequest)
			return
		}
		tr.Do(w, r, stubExec{})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closeCode reads until the server closes c and returns the code, or -1
// if it is still open after d.
func closeCode(c *websocket.Conn, d time.Duration) (websocket.StatusCode, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got []string
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return -1, got
			}
			return websocket.CloseStatus(err), got
		}
		got = append(got, string(msg))
	}
}

func TestWebsocketClosesWithProtocolCodes(t *testing.T) {
	url := serve(t, streams.Websocket{InitTimeout: 200 * time.Millisecond, InitBytes: 1024, MessageBytes: 4096, MessagesPerSecond: 1, MessageBurst: 5})
	for _, tc := range []struct {
		name     string
		messages []string
		want     websocket.StatusCode
	}{
		{"payload not an object", []string{`{"type":"connection_init","payload":[1]}`}, streams.CloseBadRequest},
		{"payload a string", []string{`{"type":"connection_init","payload":"x"}`}, streams.CloseBadRequest},
		{"not JSON", []string{`nope`}, streams.CloseBadRequest},
		{"empty", []string{``}, streams.CloseBadRequest},
		{"unknown type", []string{`{"type":"connection_ack"}`}, streams.CloseBadRequest},
		{"subscribe first", []string{`{"type":"subscribe","id":"1","payload":{"query":"{a}"}}`}, streams.CloseUnauthorized},
		{"init too large", []string{`{"type":"connection_init","payload":{"a":"` + strings.Repeat("x", 2000) + `"}}`}, websocket.StatusMessageTooBig},
		{"no init", nil, streams.CloseInitTimeout},
		{"second init", []string{`{"type":"connection_init"}`, `{"type":"connection_init"}`}, streams.CloseTooManyInits},
		{"message too large after init", []string{`{"type":"connection_init","payload":null}`, `{"type":"ping","payload":{"a":"` + strings.Repeat("x", 5000) + `"}}`}, websocket.StatusMessageTooBig},
		{"message flood", append([]string{`{"type":"connection_init","payload":{}}`}, repeat(`{"type":"pong"}`, 20)...), websocket.StatusPolicyViolation},
		{"unknown type after init", []string{`{"type":"connection_init"}`, `{"type":"complete","id":"x"}`, `{"type":"nope"}`}, streams.CloseBadRequest},
		{"server message type from the client", []string{`{"type":"connection_init"}`, `{"type":"next","id":"x"}`}, streams.CloseBadRequest},
		{"invalid JSON after init", []string{`{"type":"connection_init"}`, `{"type":`}, streams.CloseBadRequest},
		{"subscribe payload a string", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"1","payload":"x"}`}, streams.CloseBadRequest},
		{"subscribe payload an array", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"1","payload":[1]}`}, streams.CloseBadRequest},
		{"subscribe variables a string", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"1","payload":{"query":"{ ok }","variables":"xxxx"}}`}, streams.CloseBadRequest},
		{"subscribe query not a string", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"1","payload":{"query":1}}`}, streams.CloseBadRequest},
		{"subscribe without payload", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"1"}`}, streams.CloseBadRequest},
		{"subscribe without id", []string{`{"type":"connection_init"}`, `{"type":"subscribe","payload":{"query":"{ ok }"}}`}, streams.CloseBadRequest},
		{"subscribe with an empty id", []string{`{"type":"connection_init"}`, `{"type":"subscribe","id":"","payload":{"query":"{ ok }"}}`}, streams.CloseBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url)
			for _, m := range tc.messages {
				send(t, c, m)
			}
			code, msgs := closeCode(c, 3*time.Second)
			if code != tc.want {
				t.Fatalf("closed with %d (messages %q), want %d", code, msgs, tc.want)
			}
			for _, m := range msgs {
				if strings.Contains(m, "xxxx") {
					t.Fatalf("the server echoed the message: %.60s", m)
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestWebsocketServesAValidConnection(t *testing.T) {
	var gotAuth string
	url := serve(t, streams.Websocket{Transport: transport.Websocket{
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			gotAuth = p.Authorization()
			return ctx, nil, nil
		},
	}})
	c := dial(t, url)
	send(t, c, `{"type":"connection_init","payload":{"Authorization":"Bearer t"}}`)
	send(t, c, `{"type":"subscribe","id":"1","payload":{"query":"{ ok }"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var types []string
	for len(types) < 3 {
		_, raw, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", types, err)
		}
		var m struct{ Type string }
		_ = json.Unmarshal(raw, &m)
		types = append(types, m.Type)
	}
	if fmt.Sprint(types) != "[connection_ack next complete]" || gotAuth != "Bearer t" {
		t.Fatalf("messages %q, init saw %q", types, gotAuth)
	}
}

// captureLog collects the standard logger's output during the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(prev) })
	return &buf
}

func TestSSERefusesBadBodiesWithoutRepeatingThem(t *testing.T) {
	logged := captureLog(t)
	url := serve(t, streams.SSE{MaxBodyBytes: 256, BodyTimeout: 200 * time.Millisecond})
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"query":"SECRET`, http.StatusBadRequest},
		{`{"query":"{ ok }"} SECRET`, http.StatusBadRequest},
		{`{"query":"{ ok }","variables":"SECRET"}`, http.StatusBadRequest},
		{`["SECRET"]`, http.StatusBadRequest},
		{``, http.StatusBadRequest},
		{`{"query":"` + strings.Repeat("SECRET", 100) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		status, resp := post(tc.body)
		if status != tc.want || strings.Contains(resp, "SECRET") || !strings.Contains(resp, `"errors"`) {
			t.Errorf("%.30q: %d %s, want %d and no echo", tc.body, status, resp, tc.want)
		}
	}
	if status, resp := post(`{"query":"{ ok }"}`); status != http.StatusOK || !strings.Contains(resp, `event: next`) {
		t.Fatalf("a valid SSE request: %d %s", status, resp)
	}
	if logged.Len() > 0 {
		t.Fatalf("logged: %s", logged)
	}
}

func TestSSEStalledBodyIsCut(t *testing.T) {
	url := serve(t, streams.SSE{MaxBodyBytes: 1 << 20, BodyTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: 50\r\n\r\n{\"query\":")
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
}

// The fuzz targets below are seeded with the payloads (finding
// 1: connection_init payloads that are not objects; finding 5: malformed
// SSE bodies holding a security answer and document content).

// FuzzWebsocketMessages: whatever the first message, CheckInit either
// lets through a message gqlgen decodes (envelope and payload object) or
// names a close code; CheckMessage lets through only decodable messages
// of a client type; no reason repeats the message.
func FuzzWebsocketMessages(f *testing.F) {
	for _, seed := range []string{
		`{"type":"connection_init","payload":[1]}`, `{"type":"connection_init","payload":"x"}`,
		`{"type":"connection_init","payload":1}`, `{"type":"connection_init","payload":null}`,
		`{"type":"connection_init","payload":{"Authorization":"Bearer t"}}`, `{"type":"connection_init"}`,
		`{"type":"connection_init","payload":{`, `[{"type":"connection_init"}]`, `{"type":"ping"}`,
		`{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}`, `{"type":"start"}`,
		`{"type":"connection_terminate"}`, `{"type":1}`, `{"TYPE":"connection_init","Payload":[]}`,
		`{"type":"connection_init","payload":{}} trailing`, ``, `null`, "\xff",
		`{"type":"subscribe","id":"1","payload":"x"}`, `{"type":"subscribe","id":"1","payload":{"query":"{ a }","variables":"x"}}`,
		`{"type":"subscribe","payload":{"query":"{ a }"}}`, `{"type":"subscribe","id":"1"}`, `{"type":"start","id":"1","payload":[1]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, sub := range []string{"graphql-transport-ws", "graphql-ws"} {
			if code, reason := streams.CheckMessage(sub, data); code == 0 {
				var m struct {
					Type, ID string
					Payload  json.RawMessage
				}
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.UseNumber()
				if err := dec.Decode(&m); err != nil || m.Type == "" || m.Type == "connection_init" {
					t.Fatalf("%s: accepted %q after the init (%v)", sub, data, err)
				}
				if m.Type == "subscribe" || m.Type == "start" {
					// What gqlgen then decodes must decode.
					var p graphql.RawParams
					dec := json.NewDecoder(bytes.NewReader(m.Payload))
					dec.UseNumber()
					if err := dec.Decode(&p); err != nil || m.ID == "" {
						t.Fatalf("%s: accepted a subscribe gqlgen cannot use: %q (%v)", sub, data, err)
					}
				}
			} else if len(data) > 3 && strings.Contains(reason, string(data)) {
				t.Fatalf("reason %q repeats the message", reason)
			}
		}
		code, reason := streams.CheckInit(data)
		if code != 0 {
			if len(data) > 3 && strings.Contains(reason, string(data)) {
				t.Fatalf("reason %q repeats the message", reason)
			}
			return
		}
		var m struct {
			Payload json.RawMessage `json:"payload,omitempty"`
			Type    string          `json:"type"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("accepted %q that gqlgen cannot decode: %v", data, err)
		}
		if m.Type != "connection_init" && m.Type != "connection_terminate" {
			t.Fatalf("accepted a first message of type %q", m.Type)
		}
		if len(m.Payload) > 0 {
			var p transport.InitPayload
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatalf("accepted payload %q gqlgen drops the connection on: %v", m.Payload, err)
			}
		}
	})
}

// logSink is a concurrency-safe log destination.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.buf.String()
	s.buf.Reset()
	return out
}

// FuzzSSEBody: a body CheckSSEBody accepts is one gqlgen's SSE transport
// decodes without logging; a refused one is answered 400 without being
// repeated, and gqlgen's transport never sees it.
func FuzzSSEBody(f *testing.F) {
	for _, seed := range []string{
		`{"query":"mutation($in: GenerateTokenInput!) { generateToken(input: $in) { token } }","variables":{"in":{"answer":"SECURITY-ANSWER","attachment":"JVBERi0xLjQ="}}`,
		`{"query":"{ ok }","variables":{"in":{"answer":"SECURITY-ANSWER"`, `{"query":"{ ok }"}}{"answer":"x"`,
		`{"query":"SECURITY-ANSWER","variables":"JVBERi0xLjQ="}`, `{"query":{"answer":"x"}}`, `["SECURITY-ANSWER"]`,
		`{"query":"\x41"}`, ``, `null`, `{}`, `{"query":"{ ok }","extensions":[]}`, `{"operationName":1}`,
		`{"query":"{ ok }"}   `, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(seed))
	}
	sink := &logSink{}
	prev := log.Writer()
	log.SetOutput(sink)
	f.Cleanup(func() { log.SetOutput(prev) })
	wrapped := streams.SSE{MaxBodyBytes: 1 << 20}
	// Every refused body gets the same fixed answer, so none repeats the
	// body. (A search for the body in the answer also finds bodies that
	// are pieces of the fixed text, such as `,"extens`.)
	refusal := func(body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		rec := httptest.NewRecorder()
		wrapped.Do(rec, req, stubExec{})
		return rec
	}
	fixed := refusal([]byte("{")).Body.String()
	f.Fuzz(func(t *testing.T, body []byte) {
		checked := streams.CheckSSEBody(body)
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		if checked == nil {
			// gqlgen's own transport, on its own: no decoding error.
			rec := httptest.NewRecorder()
			transport.SSE{}.Do(rec, req, stubExec{})
			if logs := sink.take(); logs != "" || rec.Code != http.StatusOK {
				t.Fatalf("accepted %q, but gqlgen answered %d and logged %q", body, rec.Code, logs)
			}
			return
		}
		rec := refusal(body)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("refused %q with %d", body, rec.Code)
		}
		if logs := sink.take(); logs != "" {
			t.Fatalf("refusing %q logged %q", body, logs)
		}
		if got := rec.Body.String(); got != fixed {
			t.Fatalf("the refusal of %q depends on the body: %s", body, got)
		}
	})
}
