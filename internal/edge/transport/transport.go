// Package transport is the gateway's own GraphQL-over-HTTP transport for
// plain requests: POST application/json, GET (queries only) and POST
// multipart/form-data uploads (the GraphQL multipart request spec). It
// replaces gqlgen's GET, POST, MultipartForm and Options transports, whose
// defaults echo request bodies in errors, answer refusals without
// extensions.code, panic on a multipart map index past a list and hold
// every upload in memory without a bound on how many run at once.
//
// Every request is admitted before anything runs: method, content type,
// size, the JSON shape of the request (query a string, operationName a
// string, variables and extensions objects), the multipart envelope, the
// upload budget and, when enabled, CSRF prevention. Every refusal is a
// GraphQL error with extensions.code made by refuse, with the status codes
// of the GraphQL-over-HTTP spec:
//
//   - a request that is not a GraphQL request (wrong JSON shape, bad
//     multipart envelope, CSRF): 400 BAD_REQUEST, whatever the media type;
//   - a document that does not parse or validate, or variables that do
//     not fit: 400 without data with Accept: application/graphql-response+json,
//     200 with the legacy application/json;
//   - PUT, DELETE, PATCH, HEAD, and a mutation over GET: 405 with Allow;
//   - a missing or unsupported content type: 415;
//   - a body over the limit: 413;
//   - an upload while the process's upload budget is spent: 503
//     RATE_LIMITED with Retry-After.
//
// Websocket handshakes and SSE requests are left to the streaming
// transports (Config.IsStream); a POST that carries an Upgrade header is
// an ordinary POST here.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/respcache"
)

// Media types of a GraphQL response.
const (
	MediaJSON            = "application/json"
	MediaGraphQLResponse = "application/graphql-response+json"
	mediaMultipart       = "multipart/form-data"
)

// allowed is the Allow header of a 405: the methods /graphql takes.
const allowed = "GET, POST"

// uploadRetryAfter is what a refused upload is told to wait: uploads
// in flight finish within seconds.
const uploadRetryAfter = time.Second

// Config sets the bounds of the transport.
type Config struct {
	// MaxBodyBytes bounds a JSON request body, a GET query string and
	// the operations and map parts of a multipart request.
	MaxBodyBytes int64
	// MaxUploadBytes bounds a whole multipart request.
	MaxUploadBytes int64
	// MaxUploadFiles bounds the file parts of one multipart request.
	MaxUploadFiles int
	// Uploads is the process-wide budget of multipart bytes held at once;
	// NewUploadBudget(2*MaxUploadBytes) when nil.
	Uploads *UploadBudget
	// UploadIdleTimeout cuts a multipart request whose body sends nothing
	// for this long (408), giving its budget back; UploadIdleTimeout when
	// zero.
	UploadIdleTimeout time.Duration
	// CSRFPrevention refuses requests a browser could send cross-site
	// without a CORS preflight (GET, or POST with a content type a form
	// can send) unless they carry a non-empty GraphQL-Preflight,
	// Apollo-Require-Preflight or X-Apollo-Operation-Name header.
	CSRFPrevention bool
	// IsStream tells the requests that belong to the streaming transports
	// (websocket handshakes, SSE); this transport supports all others.
	IsStream func(*http.Request) bool
	// Responses answers repeated reads without executing them; nil
	// executes every request.
	Responses *respcache.Cache
	// CachedAnswer, when set, is told of each request Responses answered
	// (for the operation metrics, which only see executed operations).
	CachedAnswer func(ctx context.Context, operation string, header http.Header, start time.Time)
}

// HTTP is the transport; build it with New.
type HTTP struct {
	cfg Config
}

var _ graphql.Transport = (*HTTP)(nil)

// New returns the transport for cfg.
func New(cfg Config) *HTTP {
	if cfg.MaxUploadFiles <= 0 {
		cfg.MaxUploadFiles = 10
	}
	if cfg.Uploads == nil {
		cfg.Uploads = NewUploadBudget(2 * cfg.MaxUploadBytes)
	}
	return &HTTP{cfg: cfg}
}

// Supports implements graphql.Transport: every request but the streams'.
// Add this transport first so that it, not gqlgen's websocket transport,
// answers a POST with an Upgrade header.
func (h *HTTP) Supports(r *http.Request) bool {
	return h.cfg.IsStream == nil || !h.cfg.IsStream(r)
}

// Do implements graphql.Transport.
func (h *HTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	media := negotiate(r)
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", allowed+", OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if h.cfg.CSRFPrevention && !preflighted(r) {
		refuse(w, media, &Refusal{Status: http.StatusBadRequest, Code: apperr.BadRequest,
			Message: "this request could come from a page on another site (CSRF): send a non-empty GraphQL-Preflight or Apollo-Require-Preflight header, or a Content-Type of application/json"})
		return
	}
	var (
		params *graphql.RawParams
		rf     *Refusal
		// raw is the request as sent (the GET query string or the POST
		// body), by which the response cache recognizes a request it
		// answered before without decoding it again.
		raw string
	)
	switch r.Method {
	case http.MethodGet:
		if h.recalled(w, r, media, h.cfg.Responses.RecallString(r.Context(), rawGET, r.URL.RawQuery), start) {
			return
		}
		raw = rawGET + r.URL.RawQuery
		params, rf = DecodeQueryString(r.URL.RawQuery, min(h.cfg.MaxBodyBytes, MaxQueryStringBytes))
	case http.MethodPost:
		switch mt, ctParams, err := contentType(r); {
		case err != nil:
			rf = unsupportedMedia()
		case mt == MediaJSON:
			if cs, ok := ctParams["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
				rf = unsupportedMedia()
				break
			}
			var body []byte
			if body, rf = h.readBody(w, r); rf != nil {
				break
			}
			if h.recalled(w, r, media, h.cfg.Responses.Recall(r.Context(), rawPOST, body), start) {
				return
			}
			raw = rawPOST + string(body)
			params, rf = DecodeJSON(body)
		case mt == mediaMultipart:
			h.serveMultipart(w, r, exec, media, ctParams["boundary"], start)
			return
		default:
			rf = unsupportedMedia()
		}
	default:
		rf = &Refusal{Status: http.StatusMethodNotAllowed, Code: apperr.BadRequest,
			Message: "GraphQL requests are sent with GET (queries) or POST"}
	}
	if rf != nil {
		refuse(w, media, rf)
		return
	}
	params.ReadTime.Start = start
	h.execute(w, r, exec, media, params, raw)
}

// The prefixes of a request's raw form, by which GET query strings and
// POST bodies never share a recall.
const (
	rawGET  = "GET?"
	rawPOST = "POST "
)

// recalled answers r with a, what the response cache recalled for an
// identical request (its raw form: prefix and payload) answered before;
// it reports whether there was such an answer.
func (h *HTTP) recalled(w http.ResponseWriter, r *http.Request, media string, a *respcache.Answer, start time.Time) bool {
	if a == nil {
		return false
	}
	h.answered(r, a, start)
	writeAnswer(w, r, media, a)
	return true
}

// answered records a cached answer for the access log and the metrics.
func (h *HTTP) answered(r *http.Request, a *respcache.Answer, start time.Time) {
	observability.SetOperation(r.Context(), a.Operation)
	observability.SetCacheOutcome(r.Context(), a.Outcome)
	if h.cfg.CachedAnswer != nil {
		h.cfg.CachedAnswer(r.Context(), a.Operation, r.Header, start)
	}
}

// execute runs an admitted request and writes its answer: from the
// response cache when responses (nil: none) holds a current answer, else
// by executing it, offering the result to the cache.
func (h *HTTP) execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, media string, params *graphql.RawParams, raw string) {
	ctx := r.Context()
	start := params.ReadTime.Start
	var cached *respcache.Read
	if responses := h.cfg.Responses; responses != nil && raw != "" {
		ctx, cached = responses.Begin(ctx, params, raw)
		// The access log says what the cache did (Finish may still turn a
		// miss into a bypass).
		defer func() { observability.SetCacheOutcome(ctx, cached.Outcome) }()
		// Requests waiting for this one's answer (Begin coalesces
		// identical misses) look again once it is stored or known not to
		// be; released below on every path, deferred for a panic.
		defer cached.Release()
		if a := cached.Hit(); a != nil {
			h.answered(r, a, start)
			writeAnswer(w, r, media, a)
			return
		}
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		cached.Release()
		// A request error: nothing ran, so the answer has no data entry
		// (GraphQL over HTTP), whatever the media type.
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), capErrors(errs))
		writeJSON(w, media, requestErrorStatus(media, resp.Errors), requestError{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		// A GET must be safe: a link or an <img> could send it.
		cached.Release()
		refuse(w, media, &Refusal{Status: http.StatusMethodNotAllowed, Code: apperr.BadRequest,
			Message: "GET requests run queries only: send mutations and subscriptions with POST"})
		return
	}
	handler, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := handler(ctx)
	status, body := marshalResponse(resp)
	var stored *respcache.Answer
	if cached != nil && status == http.StatusOK {
		stored = cached.Finish(opCtx, resp, body)
	}
	cached.Release() // before writing: a slow reader must not hold the others
	if stored != nil {
		writeAnswer(w, r, media, stored)
		return
	}
	writeBody(w, media, status, body)
}

// writeAnswer writes an answer the response cache holds. A GET answer
// carries the HTTP caching headers, and is 304 Not Modified without a
// body when the client already holds it (If-None-Match).
func writeAnswer(w http.ResponseWriter, r *http.Request, media string, a *respcache.Answer) {
	if r.Method == http.MethodGet {
		h := w.Header()
		h.Set("ETag", a.ETag)
		h.Set("Cache-Control", a.CacheControl)
		h.Set("Age", strconv.Itoa(a.Age))
		// The body depends on the credentials; its media type on Accept.
		h.Add("Vary", "Accept, Authorization, X-Api-Key")
		if inm := r.Header.Get("If-None-Match"); inm != "" && respcache.ETagMatches(inm, a.ETag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeBody(w, media, http.StatusOK, a.Body)
}

// MaxQueryStringBytes bounds a GET request's query string, well below the
// HTTP server's own header limit (Go's default, 1 MB, answered 431 in
// plain text before any handler runs), so that a long GET gets the coded
// 414 that says to POST instead. Browsers and proxies cut URLs far
// shorter anyway; persisted queries keep GET URLs small.
const MaxQueryStringBytes = 64 << 10

// MaxRequestErrors is the most errors a request error lists, as
// graphql-js stops validation at 100: a document within every admission
// limit can still break one rule many times over, and the client needs
// the first few to fix it, not a megabyte of them.
const MaxRequestErrors = 100

// capErrors keeps the first MaxRequestErrors of errs and says how many
// more there were.
func capErrors(errs gqlerror.List) gqlerror.List {
	if len(errs) <= MaxRequestErrors {
		return errs
	}
	more := &gqlerror.Error{Message: fmt.Sprintf("%d more errors were found and are not listed", len(errs)-MaxRequestErrors)}
	errcode.Set(more, errcode.ValidationFailed)
	if code, ok := errs[0].Extensions["code"].(string); ok {
		more.Extensions = map[string]any{"code": code}
	}
	return append(errs[:MaxRequestErrors:MaxRequestErrors], more)
}

// requestError is the answer to a request that did not run: no data.
type requestError struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// requestErrorStatus is the status of a request error: 200 for the legacy
// application/json (what existing clients expect), 400 for
// application/graphql-response+json, except for the refusals a client
// acts on by retrying.
func requestErrorStatus(media string, errs gqlerror.List) int {
	if media == MediaJSON {
		return http.StatusOK
	}
	for _, e := range errs {
		switch code, _ := e.Extensions["code"].(string); code {
		case "PERSISTED_QUERY_NOT_FOUND":
			// Apollo's APQ protocol: the client sends the full query next.
			return http.StatusOK
		case string(apperr.RateLimited):
			return http.StatusTooManyRequests
		}
	}
	return http.StatusBadRequest
}

// Refusal is a request refused before execution.
type Refusal struct {
	Status     int
	Code       apperr.Code
	Message    string
	RetryAfter time.Duration
}

func (rf *Refusal) Error() string { return rf.Message }

func badRequest(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Code: apperr.BadRequest, Message: fmt.Sprintf(format, args...)}
}

func badInput(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Code: apperr.BadUserInput, Message: fmt.Sprintf(format, args...)}
}

func tooLarge(what string, limit int64) *Refusal {
	return &Refusal{Status: http.StatusRequestEntityTooLarge, Code: apperr.BadRequest,
		Message: fmt.Sprintf("%s is too large: at most %d bytes", what, limit)}
}

func unsupportedMedia() *Refusal {
	return &Refusal{Status: http.StatusUnsupportedMediaType, Code: apperr.BadRequest,
		Message: "send the request as application/json (UTF-8) or multipart/form-data (uploads), or use GET for queries"}
}

// readFailure is the refusal for a body that could not be read whole.
func readFailure(err error, what string, limit int64) *Refusal {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return tooLarge(what, tooBig.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &Refusal{Status: http.StatusRequestTimeout, Code: apperr.BadRequest,
			Message: what + " did not arrive within the request deadline"}
	}
	return badRequest("%s could not be read whole", what)
}

// refuse writes rf through apperr.WriteRefusal, the one place an edge
// refusal becomes a GraphQL error with extensions.code and a status.
func refuse(w http.ResponseWriter, media string, rf *Refusal) {
	if rf.Status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", allowed)
	}
	apperr.WriteRefusal(w, media, rf.Status, &apperr.Error{Code: rf.Code, Message: rf.Message, RetryAfter: rf.RetryAfter})
}

// writeJSON writes v with status as media.
func writeJSON(w http.ResponseWriter, media string, status int, v any) {
	code, b := marshalResponse(v)
	if code != http.StatusOK {
		status = code
	}
	writeBody(w, media, status, b)
}

// marshalResponse encodes v: 200 and its JSON, or 500 and an INTERNAL
// error when it cannot be encoded (only a resolver's value could fail to
// marshal; nothing of it is shown).
func marshalResponse(v any) (int, []byte) {
	var b []byte
	var err error
	if resp, ok := v.(*graphql.Response); ok {
		b, err = encodeResponse(resp) // json.Marshal's bytes, faster
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		b, _ = json.Marshal(requestError{Errors: gqlerror.List{{Message: "internal error",
			Extensions: map[string]any{"code": string(apperr.Internal)}}}})
		return http.StatusInternalServerError, b
	}
	return http.StatusOK, b
}

// writeBody writes an encoded answer with status as media. The length
// is known: without it net/http sends any answer over 2 KiB chunked.
func writeBody(w http.ResponseWriter, media string, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", media)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// contentType parses r's Content-Type. The exact "application/json"
// most clients send is recognized without mime.ParseMediaType, which
// allocates a parameter map for every request.
func contentType(r *http.Request) (string, map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == MediaJSON {
		return MediaJSON, nil, nil
	}
	return mime.ParseMediaType(ct)
}

// IsMultipart reports whether r's body is multipart/form-data (an
// upload), by the parse the transport itself makes.
func IsMultipart(r *http.Request) bool {
	mt, _, _ := contentType(r)
	return mt == mediaMultipart
}

// negotiate picks the response's media type from Accept: the first
// supported type listed; application/json when none is (or no Accept).
func negotiate(r *http.Request) string {
	accepts := r.Header.Values("Accept")
	if len(accepts) == 1 {
		// The one plain value most clients send, without the parsing.
		switch accepts[0] {
		case MediaJSON, "*/*":
			return MediaJSON
		case MediaGraphQLResponse:
			return MediaGraphQLResponse
		}
	}
	return negotiateList(accepts)
}

// negotiateList is negotiate for Accept values, parsed.
func negotiateList(accepts []string) string {
	if len(accepts) == 0 {
		return MediaJSON
	}
	for i, part := range strings.Split(strings.Join(accepts, ","), ",") {
		if i >= 32 {
			break
		}
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case MediaGraphQLResponse:
			return MediaGraphQLResponse
		case MediaJSON, "application/*", "*/*":
			return MediaJSON
		}
	}
	return MediaJSON
}

// preflightHeaders are the headers a browser sends cross-site only after
// a CORS preflight the gateway answered, in canonical form (Header.Get
// allocates a canonical copy of any other spelling on every call).
var preflightHeaders = []string{"Graphql-Preflight", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"}

// preflighted reports whether r could not have been sent by a page on
// another site without a CORS preflight: a method or content type a form
// or a link cannot produce, or one of the preflight headers.
func preflighted(r *http.Request) bool {
	for _, name := range preflightHeaders {
		if strings.TrimSpace(r.Header.Get(name)) != "" {
			return true
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return false
	case http.MethodPost:
		mt, _, err := contentType(r)
		if err != nil {
			return false
		}
		switch mt {
		case "text/plain", "application/x-www-form-urlencoded", "multipart/form-data":
			return false
		}
	}
	return true
}
