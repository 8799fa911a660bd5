// Package streams holds the gateway's own front for gqlgen's streaming
// transports (graphql-transport-ws / graphql-ws websockets and SSE),
// where their defaults are unsafe against anonymous clients: a websocket
// whose first message gqlgen cannot use is closed with a close code
// instead of being left open, every websocket message is bounded in size
// (tightly until connection_init is accepted) and in rate, and an SSE
// request body is read under a size bound and a deadline and refused,
// without being repeated or logged, when it is malformed.
package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Close codes of the graphql-transport-ws protocol (the legacy graphql-ws
// clients get the same ones).
const (
	// CloseBadRequest closes a connection whose first message is not a
	// usable connection_init (not JSON, not an object, a payload that is
	// not an object, another message type), and one that later sends a
	// message gqlgen cannot use (a subscribe without an id, or whose
	// payload is not an operation object).
	CloseBadRequest = 4400
	// CloseUnauthorized closes a connection that subscribes before its
	// connection_init was acknowledged.
	CloseUnauthorized = 4401
	// CloseTooManyInits closes a connection that sends connection_init
	// again.
	CloseTooManyInits = 4429
	// CloseSubscriberExists closes a graphql-transport-ws connection that
	// subscribes with the id of one of its subscriptions still running.
	CloseSubscriberExists = 4409
	// CloseInitTimeout closes a connection that sent no connection_init
	// within the init timeout.
	CloseInitTimeout = 4408
	// CloseTooManyMessages (RFC 6455 policy violation) closes a connection
	// that sends messages faster than its budget.
	CloseTooManyMessages = int(websocket.StatusPolicyViolation)
	// CloseGoingAway (RFC 6455 "going away") closes every connection
	// when the gateway ends its streams (shutdown): clients reconnect,
	// where 1000 (normal closure) would tell them they are done.
	CloseGoingAway = int(websocket.StatusGoingAway)
)

// Defaults of Websocket's optional fields.
const (
	DefaultInitTimeout    = 10 * time.Second
	DefaultInitBytes      = int64(16 << 10)
	DefaultMessageBytes   = int64(1 << 20)
	DefaultMessagesPerSec = 20
	DefaultMessageBurst   = 100
	DefaultWriteTimeout   = 10 * time.Second
)

// Websocket is gqlgen's websocket transport behind the gateway's own
// connection handling. Transport carries gqlgen's settings (InitFunc,
// keepalives); its Implementation, InitTimeout and PayloadReadLimit are
// replaced by the fields below.
type Websocket struct {
	Transport transport.Websocket
	// Accept holds coder/websocket's accept options (origin patterns).
	Accept websocket.AcceptOptions
	// InitTimeout is how long a connection may wait before its
	// connection_init (DefaultInitTimeout when zero); past it the
	// connection is closed with CloseInitTimeout.
	InitTimeout time.Duration
	// InitBytes bounds the first message (DefaultInitBytes when zero) and
	// MessageBytes every later one (DefaultMessageBytes when zero); a
	// larger message closes the connection with 1009 (message too big).
	InitBytes    int64
	MessageBytes int64
	// MessagesPerSecond and MessageBurst bound how many messages a
	// connection sends after its init (DefaultMessagesPerSec and
	// DefaultMessageBurst when zero); beyond them it is closed with
	// CloseTooManyMessages. Operations are rate limited on top of this.
	MessagesPerSecond float64
	MessageBurst      int
	// PerAddress caps the websockets one client address holds open at
	// once (nil: no cap); an upgrade beyond it is refused with 429.
	PerAddress *AddressCap
}

var _ graphql.Transport = Websocket{}

// Supports implements graphql.Transport.
func (t Websocket) Supports(r *http.Request) bool { return t.Transport.Supports(r) }

// Do implements graphql.Transport: the handshake is ours (a refused one,
// such as a foreign Origin, is answered by coder/websocket, and gqlgen
// neither logs it nor writes a second status), gqlgen then serves the
// connection over our conn, and once it has given up on a connection it
// never acknowledged, the connection is closed if gqlgen did not close
// it itself.
func (t Websocket) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if t.PerAddress != nil {
		release, ok := t.PerAddress.acquire(r)
		if !ok {
			t.PerAddress.refuse(w)
			return
		}
		// gqlgen's Do returns once it stopped reading the connection,
		// whichever way it ended (or it was never accepted).
		defer release()
	}
	c, err := t.accept(w, r)
	if err != nil {
		return
	}
	defer c.afterTransport()
	inner := t.Transport
	inner.Implementation = accepted{c}
	// The init timeout is ours (it closes with 4408, not 1002).
	inner.InitTimeout = 0
	limit := orDefault(t.MessageBytes, DefaultMessageBytes)
	inner.PayloadReadLimit = &limit
	inner.Do(w, r, exec)
}

func orDefault[T int64 | int | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// subprotocols are the ones gqlgen's transport speaks.
var subprotocols = []string{"graphql-transport-ws", "graphql-ws"}

// accept upgrades r; on failure coder/websocket has answered it.
func (t Websocket) accept(w http.ResponseWriter, r *http.Request) (*conn, error) {
	opts := t.Accept
	opts.Subprotocols = slices.Clone(opts.Subprotocols)
	for _, p := range subprotocols {
		if !slices.Contains(opts.Subprotocols, p) {
			opts.Subprotocols = append(opts.Subprotocols, p)
		}
	}
	hw := &handshakeWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &opts)
	if err != nil {
		hw.refuse()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	c := &conn{
		ctx:         r.Context(),
		ws:          ws,
		running:     map[string]struct{}{},
		initTimeout: orDefault(t.InitTimeout, DefaultInitTimeout),
		limit:       orDefault(t.MessageBytes, DefaultMessageBytes),
		budget: newBucket(orDefault(t.MessagesPerSecond, DefaultMessagesPerSec),
			orDefault(t.MessageBurst, DefaultMessageBurst)),
	}
	// Until the init is accepted only a small message is read.
	ws.SetReadLimit(orDefault(t.InitBytes, DefaultInitBytes))
	// A connection still waiting for its init ends with the gateway's
	// streams (gqlgen only watches the context once the init is done).
	c.stopInitWatch = context.AfterFunc(r.Context(), func() { c.closeWith(CloseGoingAway, "the server is going away") })
	return c, nil
}

// handshakeWriter lets coder/websocket complete a handshake (101, then
// the hijack) but holds back its refusals, which are plain text and repeat
// the request's Origin, so that refuse answers them as coded GraphQL
// errors instead.
type handshakeWriter struct {
	http.ResponseWriter
	refused int // the status coder/websocket chose for a refusal
}

// WriteHeader implements http.ResponseWriter.
func (h *handshakeWriter) WriteHeader(status int) {
	if status == http.StatusSwitchingProtocols {
		h.ResponseWriter.WriteHeader(status)
		return
	}
	h.refused = status
}

// Write implements http.ResponseWriter: a refusal's text is dropped.
func (h *handshakeWriter) Write(b []byte) (int, error) {
	if h.refused != 0 {
		return len(b), nil
	}
	return h.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (coder/websocket's hijack) reach
// the connection.
func (h *handshakeWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// refuse answers a handshake coder/websocket refused (nothing was sent
// yet) through apperr.WriteRefusal.
func (h *handshakeWriter) refuse() {
	status := h.refused
	if status == 0 {
		status = http.StatusBadRequest
	}
	header := h.ResponseWriter.Header()
	for _, k := range []string{"Content-Type", "X-Content-Type-Options"} {
		header.Del(k)
	}
	err := apperr.New(apperr.BadRequest, "not a websocket handshake the gateway takes: GET with Upgrade: websocket, Sec-WebSocket-Version 13 and the graphql-transport-ws subprotocol")
	switch {
	case status == http.StatusForbidden:
		err = apperr.New(apperr.Forbidden, "pages of this origin may not open websockets to this gateway (WEBSOCKET_ORIGINS)")
	case status >= http.StatusInternalServerError:
		err = apperr.New(apperr.Internal, "the websocket could not be opened")
	}
	apperr.WriteRefusal(h.ResponseWriter, "", status, err)
}

// accepted hands gqlgen's transport the connection Do accepted.
type accepted struct{ c *conn }

// Accept implements transport.WebsocketImplementation.
func (a accepted) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return a.c, nil
}

// errRefused is what NextReader returns once the conn closed itself.
var errRefused = errors.New("websocket closed by the gateway")

// conn is a transport.WebsocketConn over coder/websocket that checks the
// first message, bounds every message and closes with protocol codes.
type conn struct {
	// ctx is the upgrade request's: after the hijack it ends only when
	// the gateway ends its streams (or the handler returned).
	ctx           context.Context
	ws            *websocket.Conn
	initTimeout   time.Duration
	limit         int64
	budget        *bucket
	stopInitWatch func() bool

	// Read side: only gqlgen's reading goroutine touches these.
	initialized bool

	mu        sync.Mutex
	closing   bool          // a close (handshake or immediate) started
	handshake chan struct{} // closed when the close handshake ended
	acked     bool          // connection_ack was written
	deadline  *time.Timer   // read deadline (pong timeout)
	// running holds the ids of the graphql-transport-ws subscriptions
	// under way: a subscribe read adds its id; a complete read, or a
	// complete or error written, removes it.
	running map[string]struct{}
}

var (
	_ transport.WebsocketConn          = (*conn)(nil)
	_ transport.WebsocketReadLimiter   = (*conn)(nil)
	_ transport.WebsocketReadDeadliner = (*conn)(nil)
)

// NextReader implements transport.WebsocketConn.
func (c *conn) NextReader() (int, io.Reader, error) {
	if !c.initialized {
		return c.readInit()
	}
	if !c.budget.take(time.Now()) {
		c.closeWith(CloseTooManyMessages, "too many messages")
		return 0, nil, errRefused
	}
	typ, data, err := c.ws.Read(context.Background())
	if err != nil {
		return int(typ), nil, readError(err)
	}
	m, code, reason := checkMessage(c.ws.Subprotocol(), data)
	if code == 0 {
		code, reason = c.track(m)
	}
	if code != 0 {
		c.closeWith(code, reason)
		return 0, nil, errRefused
	}
	return int(typ), bytes.NewReader(data), nil
}

// track follows the ids of a graphql-transport-ws client's subscriptions
// and refuses a subscribe whose id is still running (gqlgen would run
// both, losing the first one's cancel): it returns
// CloseSubscriberExists and the protocol's reason for that.
func (c *conn) track(m envelope) (code int, reason string) {
	if c.ws.Subprotocol() != "graphql-transport-ws" {
		return 0, ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case "subscribe":
		if _, dup := c.running[m.ID]; dup {
			// The id was the client's own (and bounded by the message
			// size), as the protocol's reason has it; it is not echoed
			// into logs.
			return CloseSubscriberExists, "Subscriber for this id already exists"
		}
		c.running[m.ID] = struct{}{}
	case "complete":
		delete(c.running, m.ID)
	}
	return 0, ""
}

// readInit reads the first message within the init timeout and lets it
// through only when gqlgen can use it; otherwise it closes the conn.
func (c *conn) readInit() (int, io.Reader, error) {
	defer c.stopInitWatch()
	timer := time.AfterFunc(c.initTimeout, func() {
		c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
	})
	typ, data, err := c.ws.Read(context.Background())
	if !timer.Stop() && err != nil {
		return int(typ), nil, errRefused
	}
	if err != nil {
		return int(typ), nil, readError(err)
	}
	if code, reason := CheckInit(data); code != 0 {
		c.closeWith(code, reason)
		return 0, nil, errRefused
	}
	c.initialized = true
	c.ws.SetReadLimit(c.limit)
	return int(typ), bytes.NewReader(data), nil
}

// readError maps a peer's normal close to the error gqlgen expects.
func readError(err error) error {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
		return transport.ErrWebsocketClosed
	}
	return err
}

// WriteJSON implements transport.WebsocketConn. A write that the client
// does not take within DefaultWriteTimeout closes the connection.
func (c *conn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.ctx.Err() != nil && messageType(data) == "complete" {
		// The gateway is ending its streams: gqlgen completes each
		// subscription as its context ends, but a client told "complete"
		// would not resubscribe after reconnecting. The close (1001)
		// follows.
		c.mu.Unlock()
		return nil
	}
	if !c.acked || len(c.running) > 0 {
		var m struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(data, &m) == nil {
			switch m.Type {
			case "connection_ack":
				c.acked = true
			case "complete", "error":
				// Either ends the subscription in graphql-transport-ws.
				delete(c.running, m.ID)
			}
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultWriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// messageType is the "type" of a protocol message, or "".
func messageType(data []byte) string {
	var m struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Type
}

// WriteClose implements transport.WebsocketConn: the first close code
// wins; the handshake runs in the background (coder/websocket waits up to
// five seconds for the peer's close frame) and then closes the socket.
// gqlgen closes with 1000 (normal closure) when the connection's context
// ends; that only happens when the gateway ends its streams, so the
// client is told CloseGoingAway instead and reconnects.
func (c *conn) WriteClose(code int, reason string) error {
	if code == int(websocket.StatusNormalClosure) && c.ctx.Err() != nil {
		code, reason = CloseGoingAway, "the server is going away"
	}
	c.closeWith(code, reason)
	return nil
}

func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	c.stopDeadlineLocked()
	done := make(chan struct{})
	c.handshake = done
	go func() {
		defer close(done)
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	}()
}

// Close implements transport.WebsocketConn; a close handshake already
// under way owns the socket and closes it when it ends.
func (c *conn) Close() error {
	c.mu.Lock()
	c.stopDeadlineLocked()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	return c.ws.CloseNow()
}

// afterTransport runs when gqlgen's Do returned. A connection it
// acknowledged is closed by gqlgen itself (when its context ends); one
// it never acknowledged and did not close (gqlgen returns silently on
// some init failures) is closed here.
func (c *conn) afterTransport() {
	c.stopInitWatch()
	c.mu.Lock()
	leftOpen := !c.acked && !c.closing
	c.mu.Unlock()
	if leftOpen {
		c.closeWith(CloseBadRequest, "Invalid connection_init")
	}
}

// Subprotocol implements transport.WebsocketConn.
func (c *conn) Subprotocol() string { return c.ws.Subprotocol() }

// SetReadLimit implements transport.WebsocketReadLimiter: gqlgen's limit
// applies from the init on (the init itself is bounded tighter).
func (c *conn) SetReadLimit(limit int64) {
	c.limit = limit
	if c.initialized {
		c.ws.SetReadLimit(limit)
	}
}

// SetReadDeadline implements transport.WebsocketReadDeadliner (gqlgen's
// pong timeout): past the deadline the socket is closed.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopDeadlineLocked()
	if t.IsZero() || c.closing {
		return nil
	}
	c.deadline = time.AfterFunc(time.Until(t), func() { _ = c.ws.CloseNow() })
	return nil
}

func (c *conn) stopDeadlineLocked() {
	if c.deadline != nil {
		c.deadline.Stop()
		c.deadline = nil
	}
}

// envelope is a websocket message as gqlgen decodes it.
type envelope struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
}

// decodeEnvelope decodes data as gqlgen does.
func decodeEnvelope(data []byte) (envelope, error) {
	var m envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&m)
	return m, err
}

// CheckMessage reports whether data, a message after the init, is one a
// client may send over subprotocol: it returns 0 when it is, else the
// close code (CloseBadRequest, or CloseTooManyInits for a second
// connection_init) and a reason that repeats nothing of data. gqlgen
// would end the connection on these too, but with 1000 or 1002.
func CheckMessage(subprotocol string, data []byte) (code int, reason string) {
	_, code, reason = checkMessage(subprotocol, data)
	return code, reason
}

// checkMessage is CheckMessage, also returning the decoded envelope.
func checkMessage(subprotocol string, data []byte) (m envelope, code int, reason string) {
	m, err := decodeEnvelope(data)
	if err != nil {
		return m, CloseBadRequest, "Invalid message"
	}
	if m.Type == "connection_init" {
		return m, CloseTooManyInits, "Too many initialisation requests"
	}
	allowed := []string{"subscribe", "complete", "ping", "pong"}
	if subprotocol != "graphql-transport-ws" {
		allowed = []string{"start", "stop", "connection_terminate"}
	}
	if !slices.Contains(allowed, m.Type) {
		return m, CloseBadRequest, "Invalid message type"
	}
	if m.Type == "subscribe" || m.Type == "start" {
		if m.ID == "" {
			return m, CloseBadRequest, "Invalid message: subscribe without an id"
		}
		// gqlgen decodes the payload so; when that fails it answers with
		// an uncoded "invalid json" error and leaves the socket open.
		var params graphql.RawParams
		dec := json.NewDecoder(bytes.NewReader(m.Payload))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil {
			return m, CloseBadRequest, "Invalid message: the subscribe payload must be an object with query, operationName, variables and extensions"
		}
	}
	return m, 0, ""
}

// CheckInit reports whether data, a connection's first message, is a
// connection_init gqlgen can use: it returns 0 when it is, else the close
// code and a reason that repeats nothing of data. It decodes exactly as
// gqlgen does (the envelope, then the payload into a map), so every
// message gqlgen would drop without closing is refused here.
func CheckInit(data []byte) (code int, reason string) {
	m, err := decodeEnvelope(data)
	if err != nil {
		return CloseBadRequest, "Invalid message"
	}
	switch m.Type {
	case "connection_init":
		if len(m.Payload) > 0 {
			var p map[string]any
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				return CloseBadRequest, "connection_init payload must be an object"
			}
		}
		return 0, ""
	case "connection_terminate":
		// graphql-ws (legacy): gqlgen closes normally.
		return 0, ""
	case "subscribe", "start":
		return CloseUnauthorized, "Unauthorized"
	default:
		return CloseBadRequest, "Expected connection_init"
	}
}

// bucket is a token bucket counting one connection's messages; only the
// reading goroutine uses it.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(perSecond float64, burst int) *bucket {
	return &bucket{rate: perSecond, burst: float64(burst), tokens: float64(burst)}
}

// take spends one token, refilled at rate since the last call.
func (b *bucket) take(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
