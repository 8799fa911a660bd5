package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"

	"github.com/serfigas/brilla-gateway/internal/edge/streams"
)

// endlessExec runs every operation as a subscription that sends one
// response and then waits for its context to end.
type endlessExec struct{ stubExec }

func (endlessExec) DispatchOperation(ctx context.Context, _ *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	sent := false
	return func(ctx context.Context) *graphql.Response {
		if !sent {
			sent = true
			return &graphql.Response{Data: json.RawMessage(`{"ok":true}`)}
		}
		<-ctx.Done()
		return nil
	}, ctx
}

var _ graphql.GraphExecutor = endlessExec{}

// readUntil reads c until a message of type typ (for id, when set).
func readUntil(t *testing.T, c *websocket.Conn, typ, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		_, raw, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s %s: %v", typ, id, err)
		}
		var m struct{ Type, ID string }
		_ = json.Unmarshal(raw, &m)
		if m.Type == typ && (id == "" || m.ID == id) {
			return
		}
	}
}

func serveWith(t *testing.T, tr graphql.Transport, exec graphql.GraphExecutor) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tr.Do(w, r, exec) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A subscribe reusing the id of a subscription still running closes the
// connection with 4409, as graphql-transport-ws asks; an id is free again
// once its subscription ended, from either side.
func TestWebsocketDuplicateSubscriberCloses4409(t *testing.T) {
	url := serveWith(t, streams.Websocket{}, endlessExec{})
	c := dial(t, url)
	send(t, c, `{"type":"connection_init"}`)
	readUntil(t, c, "connection_ack", "")
	send(t, c, `{"type":"subscribe","id":"a","payload":{"query":"subscription { ok }"}}`)
	readUntil(t, c, "next", "a")
	// The client completes it: "a" is free again.
	send(t, c, `{"type":"complete","id":"a"}`)
	readUntil(t, c, "complete", "a")
	send(t, c, `{"type":"subscribe","id":"a","payload":{"query":"subscription { ok }"}}`)
	readUntil(t, c, "next", "a")
	send(t, c, `{"type":"subscribe","id":"b","payload":{"query":"subscription { ok }"}}`)
	readUntil(t, c, "next", "b")
	// "b" still runs.
	send(t, c, `{"type":"subscribe","id":"b","payload":{"query":"subscription { ok }"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != streams.CloseSubscriberExists || ce.Reason != "Subscriber for this id already exists" {
			t.Fatalf("closed with %v, want 4409 Subscriber for this id already exists", err)
		}
		return
	}
}

// An id the server completed (the subscription ran out) may be used again.
func TestWebsocketIDFreeAfterServerComplete(t *testing.T) {
	url := serve(t, streams.Websocket{})
	c := dial(t, url)
	send(t, c, `{"type":"connection_init"}`)
	readUntil(t, c, "connection_ack", "")
	for i := range 3 {
		send(t, c, `{"type":"subscribe","id":"1","payload":{"query":"{ ok }"}}`)
		readUntil(t, c, "complete", "1")
		if i == 2 {
			send(t, c, `{"type":"ping"}`)
			readUntil(t, c, "pong", "")
		}
	}
}

// A long id still gets its 4409, and the close reason never repeats the
// client's id (no message repeats request content).
func TestWebsocketDuplicateLongID(t *testing.T) {
	url := serveWith(t, streams.Websocket{}, endlessExec{})
	c := dial(t, url)
	id := strings.Repeat("é", 100)
	send(t, c, `{"type":"connection_init"}`)
	readUntil(t, c, "connection_ack", "")
	sub := fmt.Sprintf(`{"type":"subscribe","id":%q,"payload":{"query":"subscription { ok }"}}`, id)
	send(t, c, sub)
	readUntil(t, c, "next", id)
	send(t, c, sub)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = c.Read(ctx)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != streams.CloseSubscriberExists {
		t.Fatalf("closed with %v, want 4409", err)
	}
	if strings.Contains(ce.Reason, "é") {
		t.Fatalf("the close reason repeats the id: %q", ce.Reason)
	}
}

// The per-address cap refuses the upgrade beyond it with 429 RATE_LIMITED
// and frees a slot when a websocket ends.
func TestWebsocketAddressCap(t *testing.T) {
	addrCap := streams.NewAddressCap(2, func(*http.Request) string { return "client" })
	url := serve(t, streams.Websocket{PerAddress: addrCap})
	first, second := dial(t, url), dial(t, url)
	send(t, first, `{"type":"connection_init"}`)
	readUntil(t, first, "connection_ack", "")
	_ = second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third websocket: %v %v, want 429 with Retry-After", err, resp)
	}
	var body struct {
		Errors []struct {
			Extensions map[string]any
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) != 1 || body.Errors[0].Extensions["code"] != "RATE_LIMITED" || body.Errors[0].Extensions["retryAfterSeconds"] == nil {
		t.Fatalf("refusal body %+v (%v)", body, err)
	}
	_ = first.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for addrCap.Open("client") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d open after closing one", addrCap.Open("client"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	third := dial(t, url)
	send(t, third, `{"type":"connection_init"}`)
	readUntil(t, third, "connection_ack", "")
	_ = second.CloseNow()
	_ = third.CloseNow()
	for addrCap.Open("client") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d open after closing all", addrCap.Open("client"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
