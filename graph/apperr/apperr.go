// Package apperr is the one place where errors become GraphQL errors: it
// defines the extensions.code values of the contract, constructors for the
// gateway's own errors, and the presenter that maps upstream errors to a
// code plus extensions.upstream without leaking tokens, keys, URLs or
// stack traces.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Code is a value of extensions.code.
type Code string

// The codes of the contract (PRODUCT.md).
const (
	Unauthenticated     Code = "UNAUTHENTICATED"
	Forbidden           Code = "FORBIDDEN"
	BadUserInput        Code = "BAD_USER_INPUT"
	NotFound            Code = "NOT_FOUND"
	RateLimited         Code = "RATE_LIMITED"
	UpstreamError       Code = "UPSTREAM_ERROR"
	UpstreamUnavailable Code = "UPSTREAM_UNAVAILABLE"
	Internal            Code = "INTERNAL"
	// ParseFailed is a document that is not GraphQL (a syntax error), and
	// ValidationFailed a document that does not fit the schema (an unknown
	// field, a missing argument, a literal of the wrong type): Apollo's
	// names, so a client can tell a malformed document from a wrong field.
	// Wrong variable values stay BAD_USER_INPUT.
	ParseFailed      Code = "GRAPHQL_PARSE_FAILED"
	ValidationFailed Code = "GRAPHQL_VALIDATION_FAILED"
	// BadRequest is an HTTP request that is not a GraphQL request the
	// gateway takes: wrong method or content type, a body that is not a
	// GraphQL request, an upload that breaks the multipart request spec,
	// a cross-site request without a preflight header (CSRF prevention).
	BadRequest Code = "BAD_REQUEST"
	// Unavailable is the gateway itself declining for a moment (it is
	// shutting down); retryAfterSeconds says when to try again, on any
	// replica.
	Unavailable Code = "UNAVAILABLE"
)

// keepCode lists the codes a gqlgen-level error may already carry.
var keepCode = map[string]bool{
	string(Unauthenticated): true, string(Forbidden): true, string(BadUserInput): true,
	string(RateLimited): true, "PERSISTED_QUERY_NOT_FOUND": true,
	string(ParseFailed): true, string(ValidationFailed): true, string(BadRequest): true,
}

// Error is an error the gateway raises itself, with a message that is safe
// to show as is.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input, e.g. "filter.codes"; optional.
	Field string
	// RetryAfter tells a RATE_LIMITED caller when to try again; optional.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// New returns an *Error.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadInput returns a BAD_USER_INPUT error for field.
func BadInput(field, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Message: fmt.Sprintf(format, args...), Field: field}
}

// All returns every non-nil error of errs as one error that gqlgen reports
// as that many GraphQL errors (a gqlerror.List), each at the current
// field and presented with its own code and extensions.field, so that a
// caller learns every problem of its arguments at once; nil when there
// are none.
func All(ctx context.Context, errs ...error) error {
	var list gqlerror.List
	for _, err := range errs {
		if err == nil {
			continue
		}
		gqlErr := gqlerror.WrapPath(graphql.GetPath(ctx), err)
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil && fc.Field.Position != nil {
			gqlErr.Locations = []gqlerror.Location{{Line: fc.Field.Position.Line, Column: fc.Field.Position.Column}}
		}
		list = append(list, gqlErr)
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// CodeOf returns the code err would be presented with.
func CodeOf(err error) Code {
	code, _, _, _ := classify(err)
	return code
}

// classify maps err to a code, a safe message and the upstream name (empty
// for the gateway's own errors). known is false for errors of unknown
// origin, whose text must not reach the client.
func classify(err error) (code Code, msg, upstreamName string, known bool) {
	var own *Error
	if errors.As(err, &own) {
		return own.Code, own.Message, "", true
	}
	if ue, ok := upstream.As(err); ok {
		return upstreamCode(ue), upstreamMessage(ue), ue.Upstream, true
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return UpstreamUnavailable, "the request took too long and was abandoned", "", true
	case errors.Is(err, context.Canceled):
		return Internal, "the request was cancelled", "", true
	}
	return Internal, "internal error", "", false
}

func upstreamCode(ue *upstream.Error) Code {
	switch ue.Kind {
	case upstream.KindBadRequest:
		return BadUserInput
	case upstream.KindUnauthorized:
		// A Brilla 401 means the customer's token is bad or expired. A SERPI
		// 401 means the gateway's own credential is wrong: the caller can do
		// nothing about it, so it is an upstream fault, not theirs.
		if ue.Upstream == upstream.Brilla {
			return Unauthenticated
		}
		return UpstreamError
	case upstream.KindForbidden:
		if ue.Upstream == upstream.Brilla {
			return Forbidden
		}
		return UpstreamError
	case upstream.KindNotFound:
		return NotFound
	case upstream.KindRateLimited:
		return RateLimited
	case upstream.KindUnavailable:
		return UpstreamUnavailable
	default:
		return UpstreamError
	}
}

// upstreamMessage builds the message from the upstream's own words and our
// description of the failure, never from err.Error(), which may carry a URL.
func upstreamMessage(ue *upstream.Error) string {
	name := map[string]string{upstream.Brilla: "Brilla", upstream.Serpi: "SERPI"}[ue.Upstream]
	if name == "" {
		name = "upstream"
	}
	var what string
	switch ue.Kind {
	case upstream.KindBadRequest:
		what = "refused the input"
	case upstream.KindUnauthorized:
		if ue.Upstream == upstream.Brilla {
			what = "refused the credentials (invalid or expired token)"
		} else {
			what = "refused the gateway's credentials"
		}
	case upstream.KindForbidden:
		what = "denied access"
	case upstream.KindNotFound:
		what = "has no such record"
	case upstream.KindRateLimited:
		what = "is rate limiting requests; retry later"
	case upstream.KindUnavailable:
		what = "is unavailable"
	default:
		what = "failed"
	}
	msg := name + " " + what
	// An unavailable upstream's "message" comes from whatever answered in
	// its place (a proxy page); it is logged, not shown.
	if ue.Message != "" && ue.Kind != upstream.KindUnavailable {
		msg += ": " + ue.Message
	}
	if len(ue.Details) > 0 {
		msg += " (" + strings.Join(ue.Details, "; ") + ")"
	}
	return msg
}

// Presenter returns a gqlgen ErrorPresenterFunc that assigns every error
// its code and logs the ones whose cause is hidden from the client.
func Presenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		// DefaultErrorPresenter returns the very *gqlerror.Error gqlgen
		// wrapped the resolver's error in, and its message is rewritten
		// below: keep the real cause for the log first.
		cause := err.Error()
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		code, msg, up, known := classify(err)
		if !known {
			var parsed *gqlerror.Error
			if errors.As(err, &parsed) && parsed.Err != nil && isVariableError(parsed) {
				// Coercing a variable (or its default) failed inside Go's
				// number parsing (1e999, a 20-digit Int): the caller's input;
				// the cause would repeat the value, so it goes to the log.
				logger.LogAttrs(ctx, slog.LevelDebug, "variable refused", slog.String("cause", cause))
				gqlErr.Message = "variable $" + fmt.Sprint(parsed.Path[len(parsed.Path)-1]) + " has a value its type cannot hold"
				gqlErr.Extensions["code"] = string(BadUserInput)
				gqlErr.Extensions["field"] = variableField(parsed.Path)
				gqlErr.Err = nil
				return gqlErr
			}
			if errors.As(err, &parsed) && parsed.Err == nil {
				// gqlgen's own parse and validation errors, and refusals of
				// our extensions: safe, precise, and the caller's to fix. A
				// contract code set by an extension stays, and so does the
				// APQ protocol's PERSISTED_QUERY_NOT_FOUND, which clients
				// act on; anything else becomes BAD_USER_INPUT.
				code, _ := gqlErr.Extensions["code"].(string)
				if !keepCode[code] || isVariableError(gqlErr) {
					gqlErr.Extensions["code"] = string(BadUserInput)
				}
				if isVariableError(gqlErr) {
					gqlErr.Extensions["field"] = variableField(gqlErr.Path)
				}
				gqlErr.Message = scrub(Code(gqlErr.Extensions["code"].(string)), gqlErr.Message)
				return gqlErr
			}
		}
		gqlErr.Message = scrub(code, msg)
		gqlErr.Extensions["code"] = string(code)
		if up != "" {
			gqlErr.Extensions["upstream"] = up
			if ue, ok := upstream.As(err); ok && ue.RetryAfter > 0 {
				gqlErr.Extensions["retryAfterSeconds"] = int(ue.RetryAfter.Seconds() + 0.5)
			}
		}
		var own *Error
		if errors.As(err, &own) && own.Field != "" {
			gqlErr.Extensions["field"] = own.Field
		}
		if errors.As(err, &own) && own.RetryAfter > 0 {
			gqlErr.Extensions["retryAfterSeconds"] = int(math.Ceil(own.RetryAfter.Seconds()))
		}
		if !known || code == UpstreamError || code == UpstreamUnavailable {
			logger.LogAttrs(ctx, slog.LevelWarn, "graphql error",
				slog.String("code", string(code)),
				slog.String("path", gqlErr.Path.String()),
				slog.String("cause", cause))
		}
		return gqlErr
	}
}

// Recover returns a gqlgen RecoverFunc: a panic in a resolver becomes an
// INTERNAL error for the client and a logged stack for us.
func Recover(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.LogAttrs(ctx, slog.LevelError, "resolver panic",
			slog.String("panic", fmt.Sprint(p)),
			slog.String("stack", string(debug.Stack())))
		return New(Internal, "internal error")
	}
}
