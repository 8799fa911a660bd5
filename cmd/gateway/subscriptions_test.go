package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/sim"
	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// A stop signal ends open subscriptions (a websocket and an SSE stream)
// at once, and the process exits 0 well within its grace period:
// http.Server.Shutdown alone would ignore the websocket and wait out the
// grace period for the SSE stream. The websocket closes with 1001 (going
// away) and the SSE stream ends without "event: complete", so that
// clients reconnect (elsewhere) instead of believing they are done; each
// step of the shutdown is logged.
func TestStopEndsOpenSubscriptions(t *testing.T) {
	upstreams := httptest.NewServer(sim.New(sim.Config{Brilla: brilla.SimConfig{RegistrationDelay: time.Hour}}).Handler())
	defer upstreams.Close()
	reg, err := brilla.NewClient(upstreams.URL).Register(context.Background(), brilla.RegisterRequest{
		Vat: "1234567891", VatType: "cedula", Name: "Ana", Email: "ana@example.com", Phone: "3001234567",
		ContractNumber: "12345678", Address: "Calle 1", City: "Barranquilla",
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	env := envOf(map[string]string{"BRILLA_URL": upstreams.URL, "SERPI_URL": upstreams.URL})
	go func() { done <- run(ctx, []string{"-demo", "-addr", "127.0.0.1:0"}, env, &stdout, &stderr) }()
	urlRe := regexp.MustCompile(`Playground:\s+(http://\S+)/`)
	var base string
	testutil.WaitUntil(t, "the playground URL", func() bool {
		m := urlRe.FindStringSubmatch(stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	query := map[string]any{
		"query":     `subscription($c: String!) { registrationStatus(trackingCode: $c) { state } }`,
		"variables": map[string]any{"c": reg.TrackingCode},
	}

	// A websocket subscription, as GraphiQL opens it.
	dialCtx, dialCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dialCancel()
	conn, _, err := websocket.Dial(dialCtx, "ws"+strings.TrimPrefix(base, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(v any) {
		raw, _ := json.Marshal(v)
		if err := conn.Write(dialCtx, websocket.MessageText, raw); err != nil {
			t.Fatal(err)
		}
	}
	wsClosed := make(chan struct{})
	var wsErr error
	pending := make(chan string, 4)
	go func() {
		defer close(wsClosed)
		for {
			_, raw, err := conn.Read(context.Background())
			if err != nil {
				wsErr = err
				return
			}
			pending <- string(raw)
		}
	}()
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"X-Api-Key": "demo-key"}})
	send(map[string]any{"type": "subscribe", "id": "1", "payload": query})
	for m := range pending {
		if strings.Contains(m, `"PENDING"`) {
			break
		}
	}

	// An SSE subscription.
	body, _ := json.Marshal(query)
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sseEnded := make(chan string, 1)
	go func() {
		var last string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				last = sc.Text()
			}
		}
		sseEnded <- last
	}()
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway still running 10s after the stop signal")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stopping took %v with open subscriptions", took)
	}
	select {
	case <-wsClosed:
		if code := websocket.CloseStatus(wsErr); code != websocket.StatusGoingAway {
			t.Errorf("the websocket closed with %v (%v), want 1001 going away", code, wsErr)
		}
		for len(pending) > 0 {
			if m := <-pending; strings.Contains(m, `"complete"`) {
				t.Errorf("the shutdown completed the subscription (%s): the client would not resubscribe", m)
			}
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the websocket stayed open after the gateway stopped")
	}
	select {
	case last := <-sseEnded:
		if last == "event: complete" {
			t.Errorf("the SSE stream ended with event: complete; a client would not reconnect")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the SSE stream stayed open after the gateway stopped")
	}
	logs := stderr.String()
	for _, step := range []string{"gateway started", "version=", "shutdown: stop signal received", "shutdown: open streams ended", "websockets=1", "sse_streams=1",
		"shutdown: in-flight requests finished", "shutdown: caches, Redis connections and registration pollers closed", "gateway stopped"} {
		if !strings.Contains(logs, step) {
			t.Errorf("the log lacks %q:\n%s", step, logs)
		}
	}
}
