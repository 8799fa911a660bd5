package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestKindForStatus(t *testing.T) {
	tests := []struct {
		status int
		want   Kind
	}{
		{400, KindBadRequest},
		{401, KindUnauthorized},
		{403, KindForbidden},
		{404, KindNotFound},
		{422, KindBadRequest},
		{429, KindRateLimited},
		{500, KindServer},
		{501, KindServer},
		{502, KindUnavailable},
		{503, KindUnavailable},
		{504, KindUnavailable},
		{505, KindServer},
		{599, KindServer},
		{418, KindInternal},
		{409, KindInternal},
		{200, KindInternal},
		{0, KindInternal},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			if got := KindForStatus(tt.status); got != tt.want {
				t.Errorf("KindForStatus(%d) = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindInternal, "internal"},
		{KindBadRequest, "bad_request"},
		{KindUnauthorized, "unauthorized"},
		{KindForbidden, "forbidden"},
		{KindNotFound, "not_found"},
		{KindRateLimited, "rate_limited"},
		{KindUnavailable, "unavailable"},
		{KindServer, "server_error"},
		{Kind(99), "internal"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.k), got, tt.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1:443: connection refused")
	tests := []struct {
		name    string
		err     *Error
		want    []string
		notWant []string
	}{
		{
			name: "everything",
			err: &Error{
				Upstream: Serpi, Op: "GET /api/v1/Sucursales", Kind: KindBadRequest, Status: 422,
				Message: "datos inválidos", Details: []string{"nit requerido", "ciudad inválida"}, Err: cause,
			},
			want: []string{"serpi", "GET /api/v1/Sucursales", "bad_request", "(HTTP 422)", "datos inválidos",
				"[nit requerido; ciudad inválida]", "connection refused"},
		},
		{
			name:    "no status, message, details or cause",
			err:     &Error{Upstream: Brilla, Op: "POST /token", Kind: KindUnavailable},
			want:    []string{"brilla POST /token: unavailable"},
			notWant: []string{"HTTP", "[", "<nil>"},
		},
		{
			name: "exact layout",
			err:  &Error{Upstream: Brilla, Op: "GET /x", Kind: KindNotFound, Status: 404, Message: "no existe"},
			want: []string{"brilla GET /x: not_found (HTTP 404): no existe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Error() = %q, missing %q", got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("Error() = %q, should not contain %q", got, w)
				}
			}
		})
	}
}

func TestUnwrap(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	e := &Error{Upstream: Serpi, Op: "GET /x", Kind: KindInternal, Err: cause}
	if got := e.Unwrap(); got != cause {
		t.Errorf("Unwrap() = %v, want %v", got, cause)
	}
	if !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not reach the cause")
	}
	if got := (&Error{}).Unwrap(); got != nil {
		t.Errorf("Unwrap() without cause = %v", got)
	}
}

func TestAsAndIsKind(t *testing.T) {
	base := &Error{Upstream: Brilla, Op: "GET /credits", Kind: KindRateLimited, Status: 429, RetryAfter: 2 * time.Second}
	tests := []struct {
		name     string
		err      error
		wantOK   bool
		kind     Kind
		wantKind bool
	}{
		{"direct", base, true, KindRateLimited, true},
		{"direct other kind", base, true, KindServer, false},
		{"wrapped once", fmt.Errorf("credits: %w", base), true, KindRateLimited, true},
		{"wrapped twice", fmt.Errorf("viewer: %w", fmt.Errorf("credits: %w", base)), true, KindRateLimited, true},
		{"joined", errors.Join(errors.New("other"), base), true, KindRateLimited, true},
		{"formatted with %v loses it", fmt.Errorf("credits: %v", base), false, KindRateLimited, false},
		{"plain error", errors.New("boom"), false, KindInternal, false},
		{"nil", nil, false, KindInternal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := As(tt.err)
			if ok != tt.wantOK {
				t.Fatalf("As ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && got != base {
				t.Errorf("As returned %p, want %p", got, base)
			}
			if !ok && got != nil {
				t.Errorf("As returned %v with ok=false", got)
			}
			if is := IsKind(tt.err, tt.kind); is != tt.wantKind {
				t.Errorf("IsKind(%v) = %v, want %v", tt.kind, is, tt.wantKind)
			}
		})
	}
}

func TestDeadlineError(t *testing.T) {
	typed := &Error{Upstream: Serpi, Kind: KindServer}
	if got := DeadlineError(Serpi, "GET x", typed, "m"); got != typed {
		t.Errorf("a typed error was rewrapped: %v", got)
	}
	plain := errors.New("boom")
	if got := DeadlineError(Serpi, "GET x", plain, "m"); got != plain {
		t.Errorf("a plain error was rewrapped: %v", got)
	}
	got := DeadlineError(Brilla, "GET summary", fmt.Errorf("wait: %w", context.DeadlineExceeded), "no answer in time")
	ue, ok := As(got)
	if !ok || ue.Kind != KindUnavailable || ue.Upstream != Brilla || !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("DeadlineError = %#v", got)
	}
}
