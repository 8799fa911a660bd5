package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/server"
	"github.com/serfigas/brilla-gateway/internal/redistest"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// statusPath is how the simulator counts registration status polls.
const statusPath = "GET " + brilla.PathRegisterStatus

const watchQuery = `subscription($code: String!) { registrationStatus(trackingCode: $code) { trackingCode requestId state message updatedAt } }`

// replica is one gateway listening on a real port.
type replica struct {
	gw  *server.Gateway
	srv *httptest.Server
}

// wsURL is the replica's graphql-transport-ws endpoint.
func (r replica) wsURL() string { return "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/graphql" }

// subEnv is a simulator and n gateway replicas sharing Redis (or not),
// each on its own port.
type subEnv struct {
	*env
	replicas   []replica
	prefix     string
	registered int
}

// newSubEnv starts the simulators with the registration delay and n
// replicas polling fast (30ms doubling to 120ms). With withRedis they
// share the package's Redis database under a fresh prefix.
func newSubEnv(t *testing.T, n int, regDelay time.Duration, withRedis bool, tune func(*server.Config)) *subEnv {
	t.Helper()
	se := &subEnv{env: newEnvWith(t, sim.Config{Brilla: brilla.SimConfig{RegistrationDelay: regDelay}, Serpi: serpi.SimConfig{Taxes: 10}})}
	if withRedis {
		redistest.Client(t, redisDB) // skips without Redis
		se.prefix = redistest.Prefix(t)
	}
	for range n {
		h := newGateway(t, se.env, func(c *server.Config) {
			c.RegistrationPollMin = 30 * time.Millisecond
			c.RegistrationPollMax = 120 * time.Millisecond
			c.RegistrationLease = 2 * time.Second
			if withRedis {
				c.RedisURL = redistest.URL(t, redisDB)
				c.RedisPrefix = se.prefix
				c.CacheSecret = "test-cache-secret-0123456789"
			}
			if tune != nil {
				tune(c)
			}
		})
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		se.replicas = append(se.replicas, replica{gw: h.(*server.Gateway), srv: srv})
	}
	return se
}

// register submits a registration through the `register` mutation on
// replica A (the first) and returns its tracking code; a vat ending in 0
// is rejected later. Each call registers a different contract so the
// gateway's duplicate detection never folds two test registrations.
func (se *subEnv) register(t *testing.T, vat string) string {
	t.Helper()
	se.registered++
	in := regInput(b64Attachment("cedula.pdf", []byte("%PDF-1.4 test document")))
	in["vat"] = vat
	in["contractNumber"] = fmt.Sprintf("1234%04d", se.registered)
	var out struct {
		Register struct{ TrackingCode, State string }
	}
	post(t, se.replicas[0].gw, `mutation($in: RegisterInput!) { register(input: $in) { trackingCode state } }`,
		map[string]any{"in": in}).ok(t, &out)
	if out.Register.State != "PENDING" || out.Register.TrackingCode == "" {
		t.Fatalf("register on replica A = %+v", out.Register)
	}
	return out.Register.TrackingCode
}

// wsMsg is one graphql-transport-ws message.
type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a graphql-transport-ws client over a real websocket. A
// goroutine reads the connection all along, answering the server's pings
// as a browser client does.
type wsClient struct {
	t     *testing.T
	conn  *websocket.Conn
	msgs  chan wsMsg
	done  chan struct{}
	err   error // why the connection ended; set before done closes
	pings atomic.Int64
	held  map[string][]wsMsg // read while waiting for another id
}

// errNoMessage is read's timeout.
var errNoMessage = errors.New("no message in time")

// dialWS connects to url, sends connection_init with payload and waits
// for the ack.
func dialWS(t *testing.T, url string, payload map[string]any, header http.Header) *wsClient {
	t.Helper()
	c, err := tryDialWS(url, payload, header)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	c.t = t
	t.Cleanup(func() { _ = c.conn.CloseNow() })
	return c
}

func tryDialWS(url string, payload map[string]any, header http.Header) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, msgs: make(chan wsMsg, 256), done: make(chan struct{}), held: map[string][]wsMsg{}}
	go c.readLoop()
	init := map[string]any{"type": "connection_init"}
	if payload != nil {
		init["payload"] = payload
	}
	if err := c.write(init); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	m, err := c.read(5 * time.Second)
	if err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	if m.Type != "connection_ack" {
		_ = conn.CloseNow()
		return nil, fmt.Errorf("want connection_ack, got %s %s", m.Type, m.Payload)
	}
	return c, nil
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		_, raw, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var m wsMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			c.err = fmt.Errorf("not JSON: %s", raw)
			return
		}
		switch m.Type {
		case "ping":
			c.pings.Add(1)
			_ = c.write(map[string]any{"type": "pong"})
		case "pong", "ka":
		default:
			c.msgs <- m
		}
	}
}

func (c *wsClient) write(v any) error {
	raw, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, raw)
}

// read returns the next message (of any id), the error that ended the
// connection, or errNoMessage after timeout.
func (c *wsClient) read(timeout time.Duration) (wsMsg, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		return m, nil
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m, nil
		default:
			return wsMsg{}, c.err
		}
	case <-timer.C:
		return wsMsg{}, errNoMessage
	}
}

// closed waits until the server ends the connection.
func (c *wsClient) closed(timeout time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// next returns the next message of operation id, failing the test on
// error; messages of other operations are kept for later.
func (c *wsClient) next(id string, timeout time.Duration) wsMsg {
	c.t.Helper()
	if q := c.held[id]; len(q) > 0 {
		c.held[id] = q[1:]
		return q[0]
	}
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("websocket read (waiting for %s): %v", id, err)
		}
		if m.ID == id {
			return m
		}
		c.held[m.ID] = append(c.held[m.ID], m)
	}
}

// subscribe starts an operation with id.
func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	if err := c.write(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": query, "variables": vars}}); err != nil {
		c.t.Fatalf("subscribe: %v", err)
	}
}

// regEvent is one registrationStatus event.
type regEvent struct {
	TrackingCode string
	RequestID    *int
	State        string
	Message      *string
	UpdatedAt    *string
}

// watchResult is what one subscription produced until it completed.
type watchResult struct {
	states    []string
	errors    []gqlError
	completed bool
}

// follow reads the messages of subscription id (ignoring others) until it
// completes or fails.
func (c *wsClient) follow(id string, timeout time.Duration) watchResult {
	c.t.Helper()
	var res watchResult
	deadline := time.Now().Add(timeout)
	for {
		m := c.next(id, time.Until(deadline))
		switch m.Type {
		case "next":
			var p struct {
				Data   struct{ RegistrationStatus *regEvent }
				Errors []gqlError
			}
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				c.t.Fatalf("next payload: %v: %s", err, m.Payload)
			}
			res.errors = append(res.errors, p.Errors...)
			if ev := p.Data.RegistrationStatus; ev != nil {
				res.states = append(res.states, ev.State)
			}
		case "error":
			var errs []gqlError
			_ = json.Unmarshal(m.Payload, &errs)
			res.errors = append(res.errors, errs...)
			return res
		case "complete":
			res.completed = true
			return res
		default:
			c.t.Fatalf("unexpected message %s %s", m.Type, m.Payload)
		}
	}
}

func (r watchResult) want(t *testing.T, who string, states ...string) {
	t.Helper()
	if len(r.errors) > 0 || !r.completed || strings.Join(r.states, ",") != strings.Join(states, ",") {
		t.Fatalf("%s: states %v, completed %v, errors %+v; want %v then complete", who, r.states, r.completed, r.errors, states)
	}
}

func (r watchResult) wantCode(t *testing.T, who, code string) {
	t.Helper()
	if len(r.states) > 0 || len(r.errors) == 0 || r.errors[0].code() != code {
		t.Fatalf("%s: states %v, errors %+v; want only a %s error", who, r.states, r.errors, code)
	}
}

func TestRegistrationStatusOnReplicaBOverARealWebsocket(t *testing.T) {
	for _, c := range []struct {
		vat, final string
	}{
		{"1234567891", "APPROVED"},
		{"1234567890", "REJECTED"}, // the simulator rejects a vat ending in 0
	} {
		t.Run(c.final, func(t *testing.T) {
			se := newSubEnv(t, 2, 300*time.Millisecond, true, nil)
			code := se.register(t, c.vat)
			se.resetStats()
			a := dialWS(t, se.replicas[0].wsURL(), nil, nil)
			b := dialWS(t, se.replicas[1].wsURL(), nil, nil)
			// Three watchers on each replica, anonymous (no init payload).
			for i := range 3 {
				a.subscribe(fmt.Sprint("a", i), watchQuery, map[string]any{"code": code})
				b.subscribe(fmt.Sprint("b", i), watchQuery, map[string]any{"code": code})
			}
			for i := range 3 {
				b.follow(fmt.Sprint("b", i), 5*time.Second).want(t, fmt.Sprint("replica B watcher ", i), "PENDING", c.final)
			}
			for i := range 3 {
				a.follow(fmt.Sprint("a", i), 5*time.Second).want(t, fmt.Sprint("replica A watcher ", i), "PENDING", c.final)
			}
			// One poller for six watchers on two replicas: the first read,
			// then, the registration being young, a poll every 30ms (the
			// fast interval, never slower than REGISTRATION_POLL_MIN) until
			// the decision at 300ms: about 11 (a race on the first read may
			// add one). One poller per watcher would be about 60.
			polls := se.stats().Calls[statusPath]
			t.Logf("6 watchers on 2 replicas: %d status calls to Brilla", polls)
			if polls < 2 || polls > 14 {
				t.Fatalf("%d status calls, want one poller's (2..14)", polls)
			}

			// The registration query, on either replica, reads the shared
			// final state without asking Brilla.
			se.resetStats()
			for i, r := range se.replicas {
				var out struct{ Registration regEvent }
				post(t, r.gw, `query($c: String!) { registration(trackingCode: $c) { state message } }`, map[string]any{"c": code}).ok(t, &out)
				if out.Registration.State != c.final {
					t.Fatalf("registration query on replica %d: %s, want %s", i, out.Registration.State, c.final)
				}
			}
			if n := se.stats().Calls[statusPath]; n != 0 {
				t.Fatalf("registration queries made %d Brilla calls, want 0 (shared final state)", n)
			}
		})
	}
}

func TestRegistrationStatusRefusesUnknownAndMalformedCodes(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, false, nil)
	c := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	c.subscribe("unknown", watchQuery, map[string]any{"code": "BRL209901010001"})
	c.follow("unknown", 5*time.Second).wantCode(t, "unknown code", "NOT_FOUND")
	se.resetStats()
	c.subscribe("bad", watchQuery, map[string]any{"code": "../credits"})
	res := c.follow("bad", 5*time.Second)
	res.wantCode(t, "malformed code", "BAD_USER_INPUT")
	if res.errors[0].Extensions["field"] != "trackingCode" {
		t.Fatalf("malformed code error lacks extensions.field: %+v", res.errors[0])
	}
	if n := se.stats().Calls[statusPath]; n != 0 {
		t.Fatalf("a malformed code reached Brilla %d times", n)
	}
	// The connection survives both and watches a real code.
	code := se.register(t, "1234567891")
	c.subscribe("ok", watchQuery, map[string]any{"code": code})
	if m := c.next("ok", 5*time.Second); m.Type != "next" || !strings.Contains(string(m.Payload), `"PENDING"`) {
		t.Fatalf("after errors: %s %s %s, want PENDING", m.Type, m.ID, m.Payload)
	}
}

func TestSubscriptionsPerConnectionAreCapped(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, false, func(c *server.Config) { c.SubscriptionsPerConnection = 2 })
	code := se.register(t, "1234567891")
	vars := map[string]any{"code": code}
	c := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	pending := func(id string) {
		t.Helper()
		c.subscribe(id, watchQuery, vars)
		if m := c.next(id, 5*time.Second); m.Type != "next" || !strings.Contains(string(m.Payload), `"PENDING"`) {
			t.Fatalf("subscription %s: %s %s %s, want PENDING", id, m.Type, m.ID, m.Payload)
		}
	}
	pending("s1")
	pending("s2")
	c.subscribe("s3", watchQuery, vars)
	res := c.follow("s3", 5*time.Second)
	res.wantCode(t, "third subscription", "RATE_LIMITED")
	if !strings.Contains(res.errors[0].Message, "2 subscriptions") {
		t.Fatalf("cap error does not say the cap: %q", res.errors[0].Message)
	}
	// Completing one frees its slot (the server confirms with its own
	// complete once the subscription has ended).
	if err := c.write(map[string]any{"type": "complete", "id": "s1"}); err != nil {
		t.Fatal(err)
	}
	if m := c.next("s1", 5*time.Second); m.Type != "complete" {
		t.Fatalf("s1 after complete: %s %s", m.Type, m.Payload)
	}
	pending("s4")
	// Queries are not subscriptions: they still run on a full connection.
	c.subscribe("q", `{ creditQuote(amount: 1000000, periods: 12) { installmentAmount } }`, nil)
	if m := c.next("q", 5*time.Second); m.Type != "next" || strings.Contains(string(m.Payload), "errors") {
		t.Fatalf("query on a full connection: %s %s", m.Type, m.Payload)
	}
	// Another connection has its own slots.
	other := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	other.subscribe("o1", watchQuery, vars)
	if m := other.next("o1", 5*time.Second); m.Type != "next" || !strings.Contains(string(m.Payload), `"PENDING"`) {
		t.Fatalf("second connection: %s %s", m.Type, m.Payload)
	}
}

// wsQuery runs a query over c and returns its result.
func wsQuery(t *testing.T, c *wsClient, id, query string) result {
	t.Helper()
	c.subscribe(id, query, nil)
	m := c.next(id, 5*time.Second)
	if m.Type != "next" {
		t.Fatalf("query %s: got %s %s %s", id, m.Type, m.ID, m.Payload)
	}
	var res result
	if err := json.Unmarshal(m.Payload, &res); err != nil {
		t.Fatalf("query %s: %v", id, err)
	}
	res.raw = string(m.Payload)
	if done := c.next(id, 5*time.Second); done.Type != "complete" {
		t.Fatalf("query %s: got %s after the result, want complete", id, done.Type)
	}
	return res
}

func TestConnectionInitPayloadAuthenticatesTheWebsocket(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, false, nil)
	url := se.replicas[0].wsURL()
	const catalog = `{ taxes(first: 1) { totalCount } }`
	token := se.signIn("123456789", "12345678")

	// GraphiQL sends its headers editor as the payload.
	var taxes struct{ Taxes struct{ TotalCount int } }
	wsQuery(t, dialWS(t, url, map[string]any{"X-Api-Key": testKey}, nil), "1", catalog).ok(t, &taxes)
	if taxes.Taxes.TotalCount != 10 {
		t.Fatalf("taxes over the websocket: %d, want 10", taxes.Taxes.TotalCount)
	}
	wsQuery(t, dialWS(t, url, map[string]any{"x-api-key": testReadOnlyKey}, nil), "1", catalog).ok(t, &taxes)
	// The customer token reaches the per-operation loaders (viewer reads
	// through them).
	var viewer struct{ Viewer struct{ Vat string } }
	wsQuery(t, dialWS(t, url, map[string]any{"Authorization": "Bearer " + token}, nil), "1", `{ viewer { vat } }`).ok(t, &viewer)
	if viewer.Viewer.Vat != "123456789" {
		t.Fatalf("viewer over the websocket: %+v", viewer)
	}
	// Without a payload, the upgrade request's own headers count.
	wsQuery(t, dialWS(t, url, nil, http.Header{"X-Api-Key": {testKey}}), "1", catalog).ok(t, &taxes)

	for _, c := range []struct {
		name    string
		payload map[string]any
	}{
		{"anonymous", nil},
		{"unknown key", map[string]any{"X-Api-Key": "not-a-key"}},
		{"malformed authorization", map[string]any{"Authorization": "Basic abc"}},
	} {
		res := wsQuery(t, dialWS(t, url, c.payload, nil), "1", catalog)
		res.wantCode(t, "UNAUTHENTICATED")
	}
	// Anonymous fields need nothing.
	var quote struct{ CreditQuote struct{ Periods int } }
	wsQuery(t, dialWS(t, url, nil, nil), "1", `{ creditQuote(amount: 1000000, periods: 12) { periods } }`).ok(t, &quote)
}

func TestPollerFailsOverWhenItsReplicaCloses(t *testing.T) {
	// A long lease: only the lease released by Close lets B take over in
	// time (a crash is covered by regwatch's tests: the lease expires).
	se := newSubEnv(t, 2, 900*time.Millisecond, true, func(c *server.Config) { c.RegistrationLease = 20 * time.Second })
	rdb := redistest.Client(t, redisDB)
	code := se.register(t, "1234567891")
	vars := map[string]any{"code": code}
	a := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	a.subscribe("a", watchQuery, vars)
	if m := a.next("a", 5*time.Second); m.Type != "next" {
		t.Fatalf("A: %s %s", m.Type, m.Payload)
	}
	lease := se.prefix + "reg:lease:" + code
	testutil.WaitUntil(t, "replica A's poller lease", func() bool { return rdb.Exists(context.Background(), lease).Val() == 1 })
	b := dialWS(t, se.replicas[1].wsURL(), nil, nil)
	b.subscribe("b", watchQuery, vars)
	if m := b.next("b", 5*time.Second); m.Type != "next" || !strings.Contains(string(m.Payload), `"PENDING"`) {
		t.Fatalf("B: %s %s", m.Type, m.Payload)
	}
	if err := se.replicas[0].gw.Close(); err != nil {
		t.Fatal(err)
	}
	// A's client sees its connection end at once.
	if !a.closed(time.Second) {
		t.Fatal("A's connection still open 1s after Close")
	}
	b.follow("b", 5*time.Second).want(t, "replica B after A closed", "APPROVED")
}

func TestLateSubscriberGetsTheCurrentStateFirst(t *testing.T) {
	se := newSubEnv(t, 2, 200*time.Millisecond, true, nil)
	code := se.register(t, "1234567890")
	vars := map[string]any{"code": code}
	a := dialWS(t, se.replicas[0].wsURL(), nil, nil)
	a.subscribe("a", watchQuery, vars)
	a.follow("a", 5*time.Second).want(t, "replica A", "PENDING", "REJECTED")
	// Long after the change was published on Redis, a subscriber on B
	// gets the current (final) state first, from the shared state.
	se.resetStats()
	b := dialWS(t, se.replicas[1].wsURL(), nil, nil)
	b.subscribe("b", watchQuery, vars)
	b.follow("b", 5*time.Second).want(t, "late subscriber on B", "REJECTED")
	if n := se.stats().Calls[statusPath]; n != 0 {
		t.Fatalf("late subscriber made %d Brilla calls, want 0", n)
	}
}

// sseEvents posts a subscription with Accept: text/event-stream to url and
// returns the stream's events ("next" data and a final "complete").
func sseEvents(t *testing.T, ctx context.Context, url, query string, vars map[string]any) (events []string, err error) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			if event == "complete" {
				events = append(events, "complete")
			}
		case strings.HasPrefix(line, "data: ") && event == "next":
			events = append(events, strings.TrimPrefix(line, "data: "))
		}
	}
	return events, sc.Err()
}

func TestRegistrationStatusOverSSEOutlivesTheRequestDeadline(t *testing.T) {
	// The request deadline is far shorter than the registration: SSE
	// streams are exempt from it, as websockets are.
	se := newSubEnv(t, 1, 600*time.Millisecond, false, func(c *server.Config) { c.RequestTimeout = 150 * time.Millisecond })
	code := se.register(t, "1234567891")
	start := time.Now()
	events, err := sseEvents(t, context.Background(), se.replicas[0].srv.URL, watchQuery, map[string]any{"code": code})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 || !strings.Contains(events[0], `"PENDING"`) || !strings.Contains(events[1], `"APPROVED"`) || events[2] != "complete" {
		t.Fatalf("SSE events: %q, want PENDING, APPROVED, complete", events)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("stream ended after %v, before the decision", took)
	}
}

func TestCloseEndsOpenSubscriptionsPromptly(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, true, nil)
	code := se.register(t, "1234567891")
	vars := map[string]any{"code": code}
	r := se.replicas[0]
	// Warm the gateway's connection to Brilla so it is in the baseline.
	post(t, r.gw, `query($c: String!) { registration(trackingCode: $c) { state } }`, map[string]any{"c": code}).ok(t, &struct{}{})
	base := runtime.NumGoroutine()

	c := dialWS(t, r.wsURL(), nil, nil)
	for i := range 3 {
		c.subscribe(fmt.Sprint("s", i), watchQuery, vars)
		if m := c.next(fmt.Sprint("s", i), 5*time.Second); m.Type != "next" {
			t.Fatalf("subscription %d: %s %s", i, m.Type, m.Payload)
		}
	}
	sseDone := make(chan []string, 1)
	go func() {
		events, _ := sseEvents(t, context.Background(), r.srv.URL, watchQuery, vars)
		sseDone <- events
	}()
	testutil.WaitUntil(t, "the SSE stream to start", func() bool { return runtime.NumGoroutine() > base+12 })
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	if err := r.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if !c.closed(time.Second) {
		t.Fatal("websocket still open 1s after Close")
	}
	// Going away (1001), not normal closure (1000): the client reconnects,
	// and resubscribes, since no subscription was completed.
	if code := websocket.CloseStatus(c.err); code != websocket.StatusGoingAway {
		t.Fatalf("websocket closed with %v (%v), want 1001 going away", code, c.err)
	}
	for len(c.msgs) > 0 {
		if m := <-c.msgs; m.Type == "complete" {
			t.Fatalf("subscription %s completed by the shutdown: the client would not resubscribe", m.ID)
		}
	}
	select {
	case events := <-sseDone:
		// The stream just ends: "event: complete" would tell a compliant
		// client the subscription is over, and it would not reconnect.
		if len(events) == 0 || events[len(events)-1] == "complete" {
			t.Fatalf("SSE stream after Close: %q, want it to end without complete", events)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SSE stream still open 2s after Close")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("streams took %v to end after Close", d)
	}
	_ = c.conn.CloseNow()
	http.DefaultClient.CloseIdleConnections() // the SSE request's
	// Everything the subscriptions started has ended (a few transport
	// goroutines may linger for a moment).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the subscriptions:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A new connection to a closed gateway is ended at once.
	if c2, err := tryDialWS(r.wsURL(), nil, nil); err == nil {
		_ = c2.conn.CloseNow()
		t.Fatal("a websocket opened on a closed gateway")
	}
}

func TestWebsocketOriginsAndKeepalive(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, false, func(c *server.Config) {
		c.WebsocketOrigins = []string{"app.example.com", "https://*.serfigas.com"}
		c.WebsocketPing = 50 * time.Millisecond
	})
	r := se.replicas[0]
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{r.srv.URL, true}, // same origin: the playground page
		{"http://app.example.com", true},
		{"https://portal.serfigas.com", true},
		{"http://portal.serfigas.com", false},
		{"https://evil.example.com", false},
		{"", true}, // not a browser
	} {
		h := http.Header{}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		cl, err := tryDialWS(r.wsURL(), nil, h)
		if (err == nil) != c.ok {
			t.Errorf("origin %q: err %v, want ok=%v", c.origin, err, c.ok)
		}
		if cl != nil {
			_ = cl.conn.CloseNow()
		}
	}

	// The server pings; a client that answers stays connected well past
	// two intervals.
	code := se.register(t, "1234567891")
	c := dialWS(t, r.wsURL(), nil, nil)
	c.subscribe("s", watchQuery, map[string]any{"code": code})
	if m := c.next("s", 5*time.Second); m.Type != "next" {
		t.Fatalf("%s %s", m.Type, m.Payload)
	}
	if m, err := c.read(400 * time.Millisecond); err != errNoMessage {
		t.Fatalf("want only pings for 400ms, got %s %v", m.Type, err)
	}
	if n := c.pings.Load(); n < 3 {
		t.Fatalf("%d pings in 400ms at a 50ms interval", n)
	}
	var quote struct{ CreditQuote struct{ Periods int } }
	wsQuery(t, c, "q", `{ creditQuote(amount: 1000000, periods: 12) { periods } }`).ok(t, &quote)

	// A client that stops answering is dropped after two intervals.
	mute, err := tryDialWS(r.wsURL(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.conn.CloseNow()
	mute.conn.CloseRead(context.Background()) // reads nothing, answers nothing
	time.Sleep(300 * time.Millisecond)
	if err := mute.write(map[string]any{"type": "ping"}); err == nil {
		t.Fatal("a client that never answered pings is still connected")
	}
}

// A websocket's operations are rate limited one by one, like HTTP
// requests of the same caller: the upgrade is not a free pass.
func TestWebsocketOperationsAreRateLimited(t *testing.T) {
	se := newSubEnv(t, 1, time.Hour, false, func(c *server.Config) {
		c.Hardening.RateLimits = ratelimit.Limits{APIKey: ratelimit.PerMinute(3), Customer: ratelimit.PerMinute(3), IP: ratelimit.PerMinute(50)}
	})
	ws := dialWS(t, se.replicas[0].wsURL(), map[string]any{"X-Api-Key": testKey}, nil)
	allowed, limited := 0, 0
	for i := range 10 {
		r := wsQuery(t, ws, fmt.Sprint(i+1), `{ taxes(first: 1) { totalCount } }`)
		if len(r.Errors) == 0 {
			allowed++
			continue
		}
		r.wantCode(t, "RATE_LIMITED")
		limited++
	}
	// The key came in connection_init, so the upgrade was charged to the
	// address; the key's three go to the first three operations.
	if allowed != 3 || limited != 7 {
		t.Fatalf("over one websocket: %d allowed, %d limited; want 3 and 7", allowed, limited)
	}
}

// A registration decided soon after it was sent reaches its watchers by
// the fast polls of its first minute (every second), however long the
// backoff: here an hour, so no backoff poll comes during the test.
func TestYoungRegistrationDecisionArrivesWithinSeconds(t *testing.T) {
	se := newSubEnv(t, 1, 300*time.Millisecond, false, func(c *server.Config) {
		c.RegistrationPollMin, c.RegistrationPollMax = time.Hour, time.Hour
	})
	code := se.register(t, "1234567891")
	se.resetStats()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	events, err := sseEvents(t, ctx, se.replicas[0].srv.URL, watchQuery, map[string]any{"code": code})
	if err != nil {
		t.Fatalf("stream: %v (events %q)", err, events)
	}
	if len(events) != 3 || !strings.Contains(events[0], `"PENDING"`) || !strings.Contains(events[1], `"APPROVED"`) || events[2] != "complete" {
		t.Fatalf("SSE events: %q, want PENDING, APPROVED, complete", events)
	}
	// The first read and one poll a second until the decision.
	if n := se.stats().Calls[statusPath]; n < 2 || n > 4 {
		t.Fatalf("%d Brilla status calls, want the first read and 1 to 3 polls", n)
	}
}
