package brilla

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/backends/resilience"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// TestRegisterTellsALostAnswerFromADefiniteFailure checks which failed
// writes carry ErrOutcomeUnknown: those sent in full without a definite
// answer, and none that were not sent or were answered by Brilla.
func TestRegisterTellsALostAnswerFromADefiniteFailure(t *testing.T) {
	jsonAnswer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name        string
		handler     http.HandlerFunc // nil: nothing listens (connection refused)
		wantUnknown bool
		wantKind    upstream.Kind
	}{
		{name: "connection refused", wantKind: upstream.KindUnavailable},
		{name: "answer after the timeout", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client hanging up
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, wantUnknown: true, wantKind: upstream.KindUnavailable},
		{name: "connection dropped after the request", handler: func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}, wantUnknown: true, wantKind: upstream.KindUnavailable},
		{name: "body cut mid-answer", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "500")
			_, _ = w.Write([]byte(`{"success":true,"tracking`))
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
		}, wantUnknown: true, wantKind: upstream.KindUnavailable},
		{name: "504 from a proxy", handler: jsonAnswer(http.StatusGatewayTimeout, `<html>timeout</html>`), wantUnknown: true, wantKind: upstream.KindUnavailable},
		{name: "502 from a proxy", handler: jsonAnswer(http.StatusBadGateway, ``), wantUnknown: true, wantKind: upstream.KindUnavailable},
		{name: "2xx that is not JSON", handler: jsonAnswer(http.StatusOK, `<html>ok</html>`), wantUnknown: true, wantKind: upstream.KindInternal},
		{name: "Brilla's 503", handler: jsonAnswer(http.StatusServiceUnavailable, `{"success":false,"error":"server_error","message":"mantenimiento"}`), wantKind: upstream.KindUnavailable},
		{name: "Brilla's 500", handler: jsonAnswer(http.StatusInternalServerError, `{"success":false,"error":"server_error"}`), wantKind: upstream.KindServer},
		{name: "Brilla's 400", handler: jsonAnswer(http.StatusBadRequest, `{"success":false,"error":"bad_request","message":"vat invalido"}`), wantKind: upstream.KindBadRequest},
		{name: "Brilla's 429", handler: jsonAnswer(http.StatusTooManyRequests, `{"success":false,"error":"rate_limit"}`), wantKind: upstream.KindRateLimited},
		{name: "success false on 200", handler: jsonAnswer(http.StatusOK, `{"success":false,"message":"no"}`), wantKind: upstream.KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			if tt.handler == nil {
				srv.Close()
			} else {
				t.Cleanup(srv.Close)
			}
			c := NewClient(srv.URL, WithTimeout(200*time.Millisecond))
			_, err := c.Register(context.Background(), RegisterRequest{Vat: "1012345678"})
			if err == nil {
				t.Fatal("register succeeded")
			}
			if got := OutcomeUnknown(err); got != tt.wantUnknown {
				t.Errorf("OutcomeUnknown = %v, want %v: %v", got, tt.wantUnknown, err)
			}
			if ue, ok := upstream.As(err); !ok || ue.Kind != tt.wantKind {
				t.Errorf("kind %v, want %v: %v", ue, tt.wantKind, err)
			}
		})
	}
}

func TestRegisterThroughAnOpenCircuitIsNotSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	tr := resilience.New(nil, upstream.Brilla, resilience.Policy{FailureThreshold: 1, OpenFor: time.Minute}, nil)
	c := NewClient(srv.URL, WithHTTPClient(&http.Client{Transport: tr}))
	_, _ = c.Register(context.Background(), RegisterRequest{}) // opens the circuit
	_, err := c.Register(context.Background(), RegisterRequest{})
	if !errors.Is(err, resilience.ErrCircuitOpen) || OutcomeUnknown(err) {
		t.Fatalf("through an open circuit: %v; want ErrCircuitOpen and a definite failure", err)
	}
}

func TestReadsNeverCarryOutcomeUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusGatewayTimeout)
	}))
	t.Cleanup(srv.Close)
	_, err := NewClient(srv.URL).RegistrationStatus(context.Background(), "BRL1")
	if err == nil || OutcomeUnknown(err) {
		t.Fatalf("a read's 504: %v, want a failure without ErrOutcomeUnknown", err)
	}
}
