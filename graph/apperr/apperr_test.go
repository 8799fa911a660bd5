package apperr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// logRecords decodes the JSON lines a slog.JSONHandler wrote.
func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func newLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func pathCtx() context.Context {
	ctx := graphql.WithPathContext(context.Background(), graphql.NewPathWithField("viewer"))
	return graphql.WithPathContext(ctx, graphql.NewPathWithField("credits"))
}

const secretCause = `Get "http://user:secret@host/path?token=abc": dial tcp 10.0.0.1:443: connection refused`

var secretFragments = []string{"secret", "token=abc", "http://", "user:", "10.0.0.1", "dial tcp"}

func TestPresenterOwnErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCode  Code
		wantMsg   string
		wantField string
	}{
		{"not found", New(NotFound, "no branch %d", 7), NotFound, "no branch 7", ""},
		{"unauthenticated", New(Unauthenticated, "send a token"), Unauthenticated, "send a token", ""},
		{"forbidden", New(Forbidden, "lacks scope"), Forbidden, "lacks scope", ""},
		{"rate limited", New(RateLimited, "slow down"), RateLimited, "slow down", ""},
		{"internal own message kept", New(Internal, "internal error"), Internal, "internal error", ""},
		{"bad input with field", BadInput("filter.codes", "at most %d codes", 50), BadUserInput, "at most 50 codes", "filter.codes"},
		{"bad input without field", BadInput("", "bad"), BadUserInput, "bad", ""},
		{"wrapped", fmt.Errorf("branches: %w", BadInput("first", "too big")), BadUserInput, "too big", "first"},
		{"wrapped in gqlerror", gqlerror.WrapPath(ast.Path{ast.PathName("tax")}, New(NotFound, "no tax")), NotFound, "no tax", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newLogger()
			got := Presenter(logger)(pathCtx(), tt.err)
			if got.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", got.Message, tt.wantMsg)
			}
			if got.Extensions["code"] != string(tt.wantCode) {
				t.Errorf("code %v, want %s", got.Extensions["code"], tt.wantCode)
			}
			field, hasField := got.Extensions["field"]
			if tt.wantField == "" && hasField {
				t.Errorf("unexpected field extension %v", field)
			}
			if tt.wantField != "" && field != tt.wantField {
				t.Errorf("field %v, want %s", field, tt.wantField)
			}
			if _, ok := got.Extensions["upstream"]; ok {
				t.Errorf("own error has an upstream extension")
			}
			if buf.Len() != 0 {
				t.Errorf("own error was logged: %s", buf)
			}
			if CodeOf(tt.err) != tt.wantCode {
				t.Errorf("CodeOf = %s, want %s", CodeOf(tt.err), tt.wantCode)
			}
		})
	}
}

func TestPresenterPath(t *testing.T) {
	logger, _ := newLogger()
	got := Presenter(logger)(pathCtx(), New(NotFound, "x"))
	if s := got.Path.String(); s != "viewer.credits" {
		t.Errorf("path %q, want viewer.credits", s)
	}
	got = Presenter(logger)(context.Background(), New(NotFound, "x"))
	if len(got.Path) != 0 {
		t.Errorf("path %v without a path context", got.Path)
	}
}

func TestPresenterUpstreamErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        *upstream.Error
		wantCode   Code
		wantMsg    []string // substrings
		notMsg     []string
		wantLogged bool
		wantRetry  any // nil: absent
	}{
		{name: "brilla bad request", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindBadRequest, Status: 400, Message: "contrato inválido"},
			wantCode: BadUserInput, wantMsg: []string{"Brilla refused the input", "contrato inválido"}},
		{name: "serpi bad request with details", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindBadRequest, Status: 422, Message: "validación", Details: []string{"nit requerido", "ciudad"}},
			wantCode: BadUserInput, wantMsg: []string{"SERPI refused the input", "validación", "(nit requerido; ciudad)"}},
		{name: "brilla unauthorized", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindUnauthorized, Status: 401},
			wantCode: Unauthenticated, wantMsg: []string{"Brilla refused the credentials"}},
		{name: "serpi unauthorized is an upstream fault", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindUnauthorized, Status: 401},
			wantCode: UpstreamError, wantMsg: []string{"SERPI refused the gateway's credentials"}, wantLogged: true},
		{name: "brilla forbidden", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindForbidden, Status: 403},
			wantCode: Forbidden, wantMsg: []string{"Brilla denied access"}},
		{name: "serpi forbidden is an upstream fault", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindForbidden, Status: 403},
			wantCode: UpstreamError, wantMsg: []string{"SERPI denied access"}, wantLogged: true},
		{name: "brilla not found", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindNotFound, Status: 404, Message: "crédito no existe"},
			wantCode: NotFound, wantMsg: []string{"Brilla has no such record: crédito no existe"}},
		{name: "serpi not found", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindNotFound, Status: 404},
			wantCode: NotFound, wantMsg: []string{"SERPI has no such record"}},
		{name: "serpi rate limited with retry", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindRateLimited, Status: 429, RetryAfter: 2 * time.Second},
			wantCode: RateLimited, wantMsg: []string{"SERPI is rate limiting"}, wantRetry: float64(2)},
		{name: "brilla rate limited rounds retry", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindRateLimited, Status: 429, RetryAfter: 1500 * time.Millisecond},
			wantCode: RateLimited, wantMsg: []string{"Brilla is rate limiting"}, wantRetry: float64(2)},
		{name: "rate limited without retry", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindRateLimited, Status: 429},
			wantCode: RateLimited},
		{name: "brilla unavailable hides message", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindUnavailable, Status: 503, Message: "<html>nginx 503</html>", RetryAfter: 30 * time.Second},
			wantCode: UpstreamUnavailable, wantMsg: []string{"Brilla is unavailable"}, notMsg: []string{"nginx"}, wantLogged: true, wantRetry: float64(30)},
		{name: "serpi unavailable", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindUnavailable},
			wantCode: UpstreamUnavailable, wantMsg: []string{"SERPI is unavailable"}, wantLogged: true},
		{name: "serpi server error", err: &upstream.Error{Upstream: "serpi", Kind: upstream.KindServer, Status: 500, Message: "error interno"},
			wantCode: UpstreamError, wantMsg: []string{"SERPI failed: error interno"}, wantLogged: true},
		{name: "brilla internal", err: &upstream.Error{Upstream: "brilla", Kind: upstream.KindInternal},
			wantCode: UpstreamError, wantMsg: []string{"Brilla failed"}, wantLogged: true},
		{name: "unknown upstream name", err: &upstream.Error{Upstream: "other", Kind: upstream.KindServer, Status: 500},
			wantCode: UpstreamError, wantMsg: []string{"upstream failed"}, wantLogged: true},
	}
	for _, tt := range tests {
		for _, wrap := range []string{"direct", "wrapped"} {
			t.Run(tt.name+"/"+wrap, func(t *testing.T) {
				ue := *tt.err
				ue.Op = "GET /api/v1/secret-op"
				ue.Err = errors.New(secretCause)
				var err error = &ue
				if wrap == "wrapped" {
					err = fmt.Errorf("resolver: %w", fmt.Errorf("loader: %w", err))
				}
				logger, buf := newLogger()
				got := Presenter(logger)(pathCtx(), err)
				if got.Extensions["code"] != string(tt.wantCode) {
					t.Errorf("code %v, want %s", got.Extensions["code"], tt.wantCode)
				}
				if CodeOf(err) != tt.wantCode {
					t.Errorf("CodeOf = %s, want %s", CodeOf(err), tt.wantCode)
				}
				if got.Extensions["upstream"] != ue.Upstream {
					t.Errorf("upstream extension %v, want %s", got.Extensions["upstream"], ue.Upstream)
				}
				for _, w := range tt.wantMsg {
					if !strings.Contains(got.Message, w) {
						t.Errorf("message %q lacks %q", got.Message, w)
					}
				}
				for _, w := range append(append([]string{"secret-op"}, tt.notMsg...), secretFragments...) {
					if strings.Contains(got.Message, w) {
						t.Errorf("message %q leaks %q", got.Message, w)
					}
				}
				body, err2 := json.Marshal(got)
				if err2 != nil {
					t.Fatal(err2)
				}
				for _, w := range secretFragments {
					if strings.Contains(string(body), w) {
						t.Errorf("presented JSON %s leaks %q", body, w)
					}
				}
				retry, hasRetry := got.Extensions["retryAfterSeconds"]
				if tt.wantRetry == nil && hasRetry {
					t.Errorf("unexpected retryAfterSeconds %v", retry)
				}
				if tt.wantRetry != nil {
					// compare through JSON, as the client sees it
					var ext struct {
						Extensions map[string]any `json:"extensions"`
					}
					if err := json.Unmarshal(body, &ext); err != nil {
						t.Fatal(err)
					}
					if ext.Extensions["retryAfterSeconds"] != tt.wantRetry {
						t.Errorf("retryAfterSeconds %v, want %v", ext.Extensions["retryAfterSeconds"], tt.wantRetry)
					}
				}
				recs := logRecords(t, buf)
				if tt.wantLogged {
					if len(recs) != 1 {
						t.Fatalf("%d log records, want 1: %s", len(recs), buf)
					}
					if c, _ := recs[0]["cause"].(string); !strings.Contains(c, "token=abc") {
						t.Errorf("logged cause %q lacks the underlying error", c)
					}
					if recs[0]["code"] != string(tt.wantCode) || recs[0]["path"] != "viewer.credits" {
						t.Errorf("log record %v", recs[0])
					}
				} else if len(recs) != 0 {
					t.Errorf("unexpected log: %s", buf)
				}
			})
		}
	}
}

func TestPresenterOtherErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   Code
		wantMsg    string
		wantLogged string // substring of the logged cause; "" = not logged; "*" = logged
	}{
		{"deadline", context.DeadlineExceeded, UpstreamUnavailable, "the request took too long and was abandoned", "deadline exceeded"},
		{"wrapped deadline", fmt.Errorf("GET http://user:secret@host/path?token=abc: %w", context.DeadlineExceeded), UpstreamUnavailable, "the request took too long and was abandoned", "token=abc"},
		{"canceled", context.Canceled, Internal, "the request was cancelled", ""},
		{"unknown", errors.New(secretCause), Internal, "internal error", "token=abc"},
		{"unknown wrapped", fmt.Errorf("load: %w", errors.New("db password=hunter2")), Internal, "internal error", "hunter2"},
		// What gqlgen hands the presenter for a resolver error. The cause
		// is only checked to be logged, not for its text: the presenter
		// overwrites the gqlerror's Message before logging err.Error(), so
		// the logged cause is currently the presented text (see report).
		{"gqlerror wrapping unknown", gqlerror.WrapPath(ast.Path{ast.PathName("x")}, errors.New(secretCause)), Internal, "internal error", "*"},
		{"validation error keeps message", gqlerror.Errorf(`Cannot query field "foo" on type "Query".`), BadUserInput, `Cannot query field "foo" on type "Query".`, ""},
		{"parse error keeps message", &gqlerror.Error{Message: "Expected Name, found <EOF>", Locations: []gqlerror.Location{{Line: 1, Column: 3}}}, BadUserInput, "Expected Name, found <EOF>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newLogger()
			got := Presenter(logger)(pathCtx(), tt.err)
			if got.Extensions["code"] != string(tt.wantCode) {
				t.Errorf("code %v, want %s", got.Extensions["code"], tt.wantCode)
			}
			if got.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", got.Message, tt.wantMsg)
			}
			if _, ok := got.Extensions["upstream"]; ok {
				t.Errorf("unexpected upstream extension")
			}
			body, _ := json.Marshal(got)
			for _, w := range append(secretFragments, "hunter2") {
				if strings.Contains(string(body), w) {
					t.Errorf("presented JSON %s leaks %q", body, w)
				}
			}
			recs := logRecords(t, buf)
			if tt.wantLogged == "" {
				if len(recs) != 0 {
					t.Errorf("unexpected log: %s", buf)
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1: %s", len(recs), buf)
			}
			if c, _ := recs[0]["cause"].(string); tt.wantLogged != "*" && !strings.Contains(c, tt.wantLogged) {
				t.Errorf("logged cause %q lacks %q", c, tt.wantLogged)
			}
			if recs[0]["level"] != "WARN" || recs[0]["code"] != string(tt.wantCode) {
				t.Errorf("log record %v", recs[0])
			}
		})
	}
}

func TestPresenterValidationKeepsExtensions(t *testing.T) {
	logger, _ := newLogger()
	in := &gqlerror.Error{Message: "bad", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED", "rule": "x"}}
	got := Presenter(logger)(context.Background(), in)
	if got.Extensions["code"] != string(ValidationFailed) || got.Extensions["rule"] != "x" {
		t.Errorf("extensions %v", got.Extensions)
	}
}

// Parse and validation failures keep Apollo's codes; a variable value
// gqlparser refuses is the caller's input, BAD_USER_INPUT.
func TestPresenterParseValidationAndVariableCodes(t *testing.T) {
	logger, _ := newLogger()
	tests := []struct {
		name string
		in   *gqlerror.Error
		want Code
	}{
		{"parse", &gqlerror.Error{Message: "Unexpected <EOF>", Extensions: map[string]any{"code": "GRAPHQL_PARSE_FAILED"}}, ParseFailed},
		{"validation", &gqlerror.Error{Message: `Cannot query field "x" on type "Query".`, Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}, ValidationFailed},
		{"variable", &gqlerror.Error{Message: "cannot be null", Path: ast.Path{ast.PathName("variable"), ast.PathName("id")},
			Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}, BadUserInput},
		{"uncoded", &gqlerror.Error{Message: "bad"}, BadUserInput},
	}
	for _, tt := range tests {
		got := Presenter(logger)(context.Background(), tt.in)
		if got.Extensions["code"] != string(tt.want) {
			t.Errorf("%s: code %v, want %s", tt.name, got.Extensions["code"], tt.want)
		}
	}
}

// No presented message repeats the literal, variable value or token it
// refused.
func TestScrubDropsRequestContent(t *testing.T) {
	const marker = "SECRET-MARKER-42"
	tests := []struct {
		code Code
		in   string
		want string
	}{
		{ParseFailed, `Unexpected Name "` + marker + `"`, "Unexpected Name"},
		{ParseFailed, `Cannot parse the unexpected character "` + marker + `".`, "Cannot parse the unexpected character."},
		{ParseFailed, `Invalid number, expected digit but got: "` + marker + `".`, "Invalid number, expected digit but got."},
		{ValidationFailed, `Expected value of type "Int!", found "` + marker + `".`, `Expected value of type "Int!"; the value given is not one.`},
		{ValidationFailed, `String cannot represent a non string value: ` + marker, `String cannot represent the non string value given.`},
		{ValidationFailed, `Int cannot represent non 32-bit signed integer value: 99999999999` + marker, `Int cannot represent the non 32-bit signed integer value given.`},
		{ValidationFailed, `Enum "Scope" cannot represent non-enum value: "` + marker + `".`, `Enum "Scope" cannot represent the non-enum value given.`},
		{ValidationFailed, `Value "` + marker + `" does not exist in "Scope" enum.`, `The value given does not exist in "Scope" enum.`},
		{ValidationFailed, `operation ` + marker + ` not found`, `the operation named by operationName is not in the document`},
		{BadUserInput, marker + ` is not a valid Scope`, `the value given is not a valid Scope`},
		{BadUserInput, `cannot use ` + marker + ` as ID: integers beyond 2^53-1 may have been rounded`, `cannot use the value given as ID`},
		{BadUserInput, `Money must be whole pesos, got ` + marker, `Money must be whole pesos`},
		{BadUserInput, `Money must be whole pesos, got "` + marker + `"`, `Money must be whole pesos`},
		{BadUserInput, `"` + marker + `" is not a date (YYYY-MM-DD)`, `the value given is not a date (YYYY-MM-DD)`},
		// What a client needs and did not send verbatim stays.
		{BadUserInput, `first must be between 1 and 100, got 500`, `first must be between 1 and 100, got 500`},
		{BadUserInput, `Money must be an integer, got bool`, `Money must be an integer, got bool`},
		{ValidationFailed, `Cannot query field "viewer" on type "Mutation".`, `Cannot query field "viewer" on type "Mutation".`},
	}
	for _, tt := range tests {
		got := scrub(tt.code, tt.in)
		if got != tt.want || strings.Contains(got, marker) {
			t.Errorf("scrub(%s, %q) = %q, want %q", tt.code, tt.in, got, tt.want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"own", New(Forbidden, "x"), Forbidden},
		{"upstream", &upstream.Error{Upstream: upstream.Serpi, Kind: upstream.KindRateLimited}, RateLimited},
		{"deadline", context.DeadlineExceeded, UpstreamUnavailable},
		{"unknown", errors.New("x"), Internal},
		{"own wins over wrapped upstream", fmt.Errorf("%w: %w", New(NotFound, "x"), &upstream.Error{Kind: upstream.KindServer}), NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestErrorConstructors(t *testing.T) {
	e := New(NotFound, "branch %d of %s", 3, "x")
	if e.Code != NotFound || e.Message != "branch 3 of x" || e.Field != "" || e.Error() != "branch 3 of x" {
		t.Errorf("New = %+v", e)
	}
	b := BadInput("after", "not a cursor: %q", "zz")
	if b.Code != BadUserInput || b.Field != "after" || b.Message != `not a cursor: "zz"` {
		t.Errorf("BadInput = %+v", b)
	}
}

func TestRecover(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"string", "boom", "boom"},
		{"error", errors.New("nil map write"), "nil map write"},
		{"int", 42, "42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, buf := newLogger()
			err := Recover(logger)(pathCtx(), tt.value)
			if CodeOf(err) != Internal {
				t.Errorf("code %s, want INTERNAL", CodeOf(err))
			}
			if err.Error() != "internal error" {
				t.Errorf("message %q", err.Error())
			}
			got := Presenter(logger)(pathCtx(), err)
			if got.Message != "internal error" || got.Extensions["code"] != string(Internal) {
				t.Errorf("presented %+v", got)
			}
			recs := logRecords(t, buf)
			if len(recs) != 1 {
				t.Fatalf("%d log records, want 1: %s", len(recs), buf)
			}
			r := recs[0]
			if r["level"] != "ERROR" || r["msg"] != "resolver panic" || r["panic"] != tt.want {
				t.Errorf("log record %v", r)
			}
			stack, _ := r["stack"].(string)
			if !strings.Contains(stack, "goroutine") || !strings.Contains(stack, "apperr") {
				t.Errorf("logged stack %q", stack)
			}
		})
	}
}

func TestRecoverFromRealPanic(t *testing.T) {
	logger, buf := newLogger()
	rec := Recover(logger)
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = rec(context.Background(), p)
			}
		}()
		panicky(3)
		return nil
	}()
	if CodeOf(err) != Internal {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(buf.String(), "apperr.panicky") || !strings.Contains(buf.String(), "TestRecoverFromRealPanic") {
		t.Errorf("stack does not show the panicking function: %s", buf)
	}
}

// panicky panics with a runtime error (index out of range).
func panicky(n int) int {
	s := make([]int, n)
	return s[n]
}

// gqlgen hands the presenter the *gqlerror.Error it wrapped a resolver's
// error in, and the presenter rewrites that error's message: the log must
// still carry the original cause.
func TestPresenterLogsTheCauseOfGqlgenWrappedErrors(t *testing.T) {
	logger, buf := newLogger()
	err := graphql.ErrorOnPath(pathCtx(), errors.New("read tcp 10.0.0.1: connection reset by peer"))
	got := Presenter(logger)(pathCtx(), err)
	if got.Message != "internal error" {
		t.Fatalf("message %q", got.Message)
	}
	if !strings.Contains(buf.String(), "connection reset by peer") {
		t.Fatalf("log lacks the cause: %s", buf.String())
	}
}

func TestVariableCoercionFailuresAreBadUserInputWithoutTheValue(t *testing.T) {
	cause := &strconv.NumError{Func: "ParseFloat", Num: "1e999", Err: strconv.ErrRange}
	err := &gqlerror.Error{Message: "input: variable.a " + cause.Error(), Path: ast.Path{ast.PathName("variable"), ast.PathName("a")}, Err: cause}
	got := Presenter(slog.New(slog.DiscardHandler))(context.Background(), err)
	if code := got.Extensions["code"]; code != string(BadUserInput) {
		t.Errorf("code = %v, want BAD_USER_INPUT", code)
	}
	if strings.Contains(got.Message, "1e999") || !strings.Contains(got.Message, "$a") {
		t.Errorf("message %q: want the variable named and its value not repeated", got.Message)
	}
}

// A refused variable value names the variable, and the path inside it, in
// extensions.field.
func TestVariableErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		path ast.Path
		want string
	}{
		{ast.Path{ast.PathName("variable"), ast.PathName("p")}, "$p"},
		{ast.Path{ast.PathName("variable"), ast.PathName("in"), ast.PathName("appliesTo")}, "$in.appliesTo"},
		{ast.Path{ast.PathName("variable"), ast.PathName("in"), ast.PathIndex(2), ast.PathName("rate")}, "$in[2].rate"},
	}
	for _, tt := range tests {
		in := &gqlerror.Error{Message: "cannot use 1.0000005e+06 as Int", Path: tt.path,
			Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}
		got := Presenter(slog.New(slog.DiscardHandler))(context.Background(), in)
		if got.Extensions["field"] != tt.want || got.Extensions["code"] != string(BadUserInput) {
			t.Errorf("%v: extensions %v, want field %s", tt.path, got.Extensions, tt.want)
		}
		if strings.Contains(got.Message, "e+06") {
			t.Errorf("message %q repeats the value", got.Message)
		}
	}
	cause := &strconv.NumError{Func: "ParseInt", Num: "99999999999999999999", Err: strconv.ErrRange}
	err := &gqlerror.Error{Message: "x", Path: ast.Path{ast.PathName("variable"), ast.PathName("a")}, Err: cause}
	if got := Presenter(slog.New(slog.DiscardHandler))(context.Background(), err); got.Extensions["field"] != "$a" {
		t.Errorf("coercion failure: extensions %v", got.Extensions)
	}
}

// All reports each problem as its own error, at the current field, and
// gqlgen presents each with its own code and field.
func TestAll(t *testing.T) {
	if All(pathCtx(), nil, nil) != nil {
		t.Fatal("no problems must be nil")
	}
	err := All(pathCtx(), BadInput("vat", "vat bad"), nil, BadInput("contractNumber", "contract bad"))
	list, ok := err.(gqlerror.List)
	if !ok || len(list) != 2 {
		t.Fatalf("got %#v, want a list of 2", err)
	}
	logger, _ := newLogger()
	for i, want := range []string{"vat", "contractNumber"} {
		got := Presenter(logger)(pathCtx(), list[i])
		if got.Extensions["field"] != want || got.Extensions["code"] != string(BadUserInput) || got.Path.String() != "viewer.credits" {
			t.Errorf("error %d: %v at %v", i, got.Extensions, got.Path)
		}
	}
}
