package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// SSE is gqlgen's SSE transport behind a body reader of the gateway's
// own: gqlgen reads the body without a deadline and, when it cannot
// decode it, prints it with log.Printf and repeats it in the error. Here
// the body is read within BodyTimeout and MaxBodyBytes and checked before
// gqlgen sees it, so gqlgen only ever gets a body it decodes; the stream
// that follows has no deadline.
type SSE struct {
	Transport transport.SSE
	// MaxBodyBytes bounds the body (413 past it); none when zero.
	MaxBodyBytes int64
	// BodyTimeout bounds reading the body (408 past it); none when zero.
	BodyTimeout time.Duration
}

var _ graphql.Transport = SSE{}

// Supports implements graphql.Transport.
func (t SSE) Supports(r *http.Request) bool { return t.Transport.Supports(r) }

// Do implements graphql.Transport.
func (t SSE) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	rc := http.NewResponseController(w)
	if t.BodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(t.BodyTimeout))
	}
	body, err := readBody(r.Body, t.MaxBodyBytes)
	if t.BodyTimeout > 0 {
		// The stream lives as long as its subscription.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		refuse(w, bodyStatus(err), "the request body could not be read in time or is too large")
		return
	}
	if err := CheckSSEBody(body); err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.Transport.Do(cutWriter{ResponseWriter: w, ctx: r.Context()}, r, exec)
}

// cutWriter drops whatever gqlgen writes once the stream's context has
// ended. The context ends when the gateway ends its streams (shutdown) or
// the client went away; gqlgen then still writes "event: complete", which
// tells a compliant client the subscription is over and not to reconnect.
// Without it the stream just ends, and the client reconnects (to another
// replica).
type cutWriter struct {
	http.ResponseWriter
	ctx context.Context
}

// Write implements http.ResponseWriter.
func (c cutWriter) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return len(p), nil
	}
	return c.ResponseWriter.Write(p)
}

// Flush implements http.Flusher (gqlgen's SSE transport requires it).
func (c cutWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// readBody reads all of body, at most limit bytes when limit > 0.
func readBody(body io.Reader, limit int64) ([]byte, error) {
	if body == nil {
		return nil, nil
	}
	if limit <= 0 {
		return io.ReadAll(body)
	}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = &http.MaxBytesError{Limit: limit}
	}
	return data, err
}

// bodyStatus is the HTTP status for a body that could not be read.
func bodyStatus(err error) int {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusRequestTimeout
}

// errBadBody is CheckSSEBody's refusal; its text repeats nothing of the
// body.
var errBadBody = errors.New("the request body must be one JSON object of GraphQL request parameters: query (a string), operationName (a string), variables and extensions (objects)")

// CheckSSEBody reports whether body is one JSON object that gqlgen
// decodes into its request parameters, with nothing after it. It decodes
// exactly as gqlgen does (UseNumber, into graphql.RawParams), so a body
// that passes never reaches gqlgen's decoding error and its log.
func CheckSSEBody(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var params graphql.RawParams
	if err := dec.Decode(&params); err != nil {
		return errBadBody
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadBody
	}
	return nil
}

// refuse answers status with a BAD_REQUEST GraphQL error (the body is not
// a GraphQL request the gateway takes), written like every edge refusal by
// apperr.WriteRefusal.
func refuse(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusRequestTimeout || status == http.StatusRequestEntityTooLarge {
		// The rest of the body is not worth waiting for.
		w.Header().Set("Connection", "close")
	}
	apperr.WriteRefusal(w, "", status, apperr.New(apperr.BadRequest, "%s", msg))
}
