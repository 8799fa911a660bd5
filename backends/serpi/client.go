package serpi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

const (
	// DefaultTimeout bounds every SERPI call (the HTTP exchange, not the
	// wait for the token's turn, which the caller's context bounds).
	DefaultTimeout = 15 * time.Second
	// MaxResponseBytes caps how much of an answer is read, so a runaway
	// upstream cannot exhaust the gateway's memory.
	MaxResponseBytes = 32 << 20
	// DefaultPageSize is the page size WalkAll uses when given none, and
	// the simulator's default "limite". It is the one size the seeds show
	// ("?limite=50&pagina=1"); they state no maximum.
	DefaultPageSize = 50
	// MaxWalkPages is the most pages WalkAll fetches before giving up, so
	// an upstream that never returns an empty page cannot loop us forever.
	MaxWalkPages = 10000
)

// defaultSerializer is shared by every Client built without
// WithSerializer: SERPI's one-call-per-token rule is global, so two Clients
// in one process using the same token must still take turns.
var defaultSerializer serializer.Serializer = serializer.NewLocal()

// Writer is the write half of the SERPI API. Writes are never retried: a
// timed-out POST may have been applied, and repeating it could apply it
// twice. *Client implements it.
type Writer interface {
	CreateSucursal(ctx context.Context, cred Credential, s Sucursal) (*WriteResult, error)
	UpdateSucursal(ctx context.Context, cred Credential, s Sucursal) (*WriteResult, error)
	CreateImpuesto(ctx context.Context, cred Credential, i Impuesto) (*WriteResult, error)
	UpdateImpuesto(ctx context.Context, cred Credential, i Impuesto) (*WriteResult, error)
	CreateArticulos(ctx context.Context, cred Credential, items []Articulo) (*WriteResult, error)
	UpdateArticulos(ctx context.Context, cred Credential, items []Articulo) (*WriteResult, error)
}

var _ Writer = (*Client)(nil)

// Client calls the SERPI catalog APIs. Every call goes through a per-token
// serializer (SERPI refuses a token that is already in use) and has its own
// deadline. Every failure is an *upstream.Error with Upstream "serpi".
// A Client is safe for concurrent use.
type Client struct {
	baseURL    string
	http       *http.Client
	timeout    time.Duration
	serializer serializer.Serializer
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client use hc (its transport, TLS settings and
// so on). The Client works on a copy whose redirect policy refuses
// redirects: net/http would forward the custom "secretkey" header to
// whatever host a redirect names.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.http = &cp
		}
	}
}

// WithTimeout sets the deadline of each call (default DefaultTimeout).
// Values <= 0 keep the default.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithSerializer sets the per-token serializer, e.g. a Redis-backed one
// so that gateway replicas take turns too. Nil keeps the process-wide
// default.
func WithSerializer(s serializer.Serializer) Option {
	return func(c *Client) {
		if s != nil {
			c.serializer = s
		}
	}
}

// NewClient returns a Client for the SERPI API at baseURL (scheme and host,
// e.g. "https://www.apis.serpi.com.co"; the /api/v1 paths are added).
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{
		baseURL: strings.TrimRight(baseURL, "/"),
		timeout: DefaultTimeout,
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.serializer == nil {
		c.serializer = defaultSerializer
	}
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// ListSucursales fetches one page of branches.
func (c *Client) ListSucursales(ctx context.Context, cred Credential, q PageQuery) ([]Sucursal, error) {
	p, err := c.SucursalesPage(ctx, cred, q)
	return p.Items, err
}

// SucursalesPage fetches one page of branches with the count SERPI
// reported for it.
func (c *Client) SucursalesPage(ctx context.Context, cred Credential, q PageQuery) (Page[Sucursal], error) {
	return listPage[Sucursal](ctx, c, cred, PathSucursales, pageValues(q))
}

// CreateSucursal creates a branch. SERPI does not report the new id.
func (c *Client) CreateSucursal(ctx context.Context, cred Credential, s Sucursal) (*WriteResult, error) {
	return c.write(ctx, cred, http.MethodPost, PathSucursales, s)
}

// UpdateSucursal replaces the branch s.ID, sending the seed's PUT shape
// (without the NIT and the DANE codes, which SERPI derives from the ids).
// An unknown id is KindNotFound.
func (c *Client) UpdateSucursal(ctx context.Context, cred Credential, s Sucursal) (*WriteResult, error) {
	return c.updateSucursal(ctx, cred, s)
}

// ListImpuestos fetches one page of taxes.
func (c *Client) ListImpuestos(ctx context.Context, cred Credential, q PageQuery) ([]Impuesto, error) {
	p, err := c.ImpuestosPage(ctx, cred, q)
	return p.Items, err
}

// ImpuestosPage fetches one page of taxes with the count SERPI reported
// for it.
func (c *Client) ImpuestosPage(ctx context.Context, cred Credential, q PageQuery) (Page[Impuesto], error) {
	return listPage[Impuesto](ctx, c, cred, PathImpuesto, pageValues(q))
}

// CheckCredential makes the cheapest real call SERPI offers with cred
// (one tax: "limite=1&pagina=1") and returns its error, nil when SERPI
// accepted the credential. A refused credential is an *upstream.Error of
// KindUnauthorized or KindForbidden.
func (c *Client) CheckCredential(ctx context.Context, cred Credential) error {
	_, err := c.ListImpuestos(ctx, cred, PageQuery{Limit: 1, Page: 1})
	return err
}

// CreateImpuesto creates a tax. SERPI does not report the new id.
func (c *Client) CreateImpuesto(ctx context.Context, cred Credential, i Impuesto) (*WriteResult, error) {
	return c.write(ctx, cred, http.MethodPost, PathImpuesto, i)
}

// UpdateImpuesto replaces the tax i.ID. An unknown id is KindNotFound.
func (c *Client) UpdateImpuesto(ctx context.Context, cred Credential, i Impuesto) (*WriteResult, error) {
	return c.write(ctx, cred, http.MethodPut, PathImpuesto, i)
}

// ListArticulos fetches one page of articles, optionally only those whose
// codigo equals q.Codigo. No match is an empty page, not an error.
func (c *Client) ListArticulos(ctx context.Context, cred Credential, q ArticuloQuery) ([]Articulo, error) {
	p, err := c.ArticulosPage(ctx, cred, q)
	return p.Items, err
}

// ArticulosPage is ListArticulos with the count SERPI reported for the
// page.
func (c *Client) ArticulosPage(ctx context.Context, cred Credential, q ArticuloQuery) (Page[Articulo], error) {
	v := pageValues(q.PageQuery)
	if code := strings.TrimSpace(q.Codigo); code != "" {
		v.Set("codigo", code)
	}
	return listPage[Articulo](ctx, c, cred, PathArticulo, v)
}

// ArticleByCode reads the one article whose codigo is code with SERPI's
// "?codigo=" filter, in one call instead of a walk of the collection.
// found is false when SERPI has no such article. SERPI answering more
// than one record, or one with another codigo, is KindServer: the filter
// did not do what the seed documents, and guessing would return someone
// else's record.
func (c *Client) ArticleByCode(ctx context.Context, cred Credential, code string) (a Articulo, found bool, err error) {
	code = strings.TrimSpace(code)
	op := http.MethodGet + " " + PathArticulo
	if code == "" {
		return Articulo{}, false, newError(cred, op, upstream.KindBadRequest, 0, "", "an article code is required", nil, nil)
	}
	items, err := c.ListArticulos(ctx, cred, ArticuloQuery{PageQuery: PageQuery{Limit: 2, Page: 1}, Codigo: code})
	if err != nil {
		return Articulo{}, false, err
	}
	switch {
	case len(items) == 0:
		return Articulo{}, false, nil
	case len(items) > 1:
		return Articulo{}, false, newError(cred, op, upstream.KindServer, 0, "",
			fmt.Sprintf("SERPI answered %d articles for one code", len(items)), nil, nil)
	case strings.TrimSpace(string(items[0].Codigo)) != code:
		return Articulo{}, false, newError(cred, op, upstream.KindServer, 0, "",
			"SERPI answered an article with another code than the one asked for", nil, nil)
	}
	return items[0], true, nil
}

// CreateArticulos creates articles in bulk. SERPI applies the valid items
// and reports the others in WriteResult.Errors (see ParseItemErrors); when
// no item is valid the call fails with KindBadRequest and the same
// messages in Details.
func (c *Client) CreateArticulos(ctx context.Context, cred Credential, items []Articulo) (*WriteResult, error) {
	return c.writeArticulos(ctx, cred, http.MethodPost, items)
}

// UpdateArticulos updates articles in bulk (by id), with the same partial
// success rules as CreateArticulos.
func (c *Client) UpdateArticulos(ctx context.Context, cred Credential, items []Articulo) (*WriteResult, error) {
	return c.writeArticulos(ctx, cred, http.MethodPut, items)
}

func (c *Client) writeArticulos(ctx context.Context, cred Credential, method string, items []Articulo) (*WriteResult, error) {
	if len(items) == 0 {
		// Not worth a turn on the token: SERPI would refuse it anyway.
		return nil, newError(cred, method+" "+PathArticulo, upstream.KindBadRequest, 0, "", "no articles to write", nil, nil)
	}
	return c.write(ctx, cred, method, PathArticulo, items)
}

// ItemError is one per-item message of a bulk Articulo write.
type ItemError struct {
	Index   int    // 0-based position of the item in the request slice
	Message string // SERPI's message without the "Articulo N:" prefix
}

// itemErrorPattern matches "Articulo 3: El campo codigo es obligatorio",
// where 3 is the 1-based position of the item in the request (the
// simulator's convention; SERPI's documentation shows no per-item format).
var itemErrorPattern = regexp.MustCompile(`(?i)^\s*art[ií]culo\s+(\d+)\s*:\s*(.*)$`)

// ParseItemErrors splits bulk write messages into per-item errors (with
// 0-based indexes) and messages that name no item.
func ParseItemErrors(messages []string) (items []ItemError, other []string) {
	for _, m := range messages {
		sub := itemErrorPattern.FindStringSubmatch(m)
		if sub == nil {
			other = append(other, m)
			continue
		}
		n, err := strconv.Atoi(sub[1])
		if err != nil || n < 1 {
			other = append(other, m)
			continue
		}
		items = append(items, ItemError{Index: n - 1, Message: sub[2]})
	}
	return items, other
}

// pageValues turns a PageQuery into "limite"/"pagina" parameters, leaving
// out zero values so SERPI applies its defaults.
func pageValues(q PageQuery) url.Values {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limite", strconv.Itoa(q.Limit))
	}
	if q.Page > 0 {
		v.Set("pagina", strconv.Itoa(q.Page))
	}
	return v
}

// listPage is the body of the page methods (methods cannot be generic).
func listPage[T any](ctx context.Context, c *Client, cred Credential, path string, query url.Values) (Page[T], error) {
	env, err := c.do(ctx, cred, http.MethodGet, path, query, nil)
	if err != nil {
		return Page[T]{}, err
	}
	items, err := decodeResult[T](env.Result)
	if err != nil {
		return Page[T]{}, newError(cred, http.MethodGet+" "+path, upstream.KindInternal, env.Status, env.codeText(),
			"could not decode SERPI's records", nil, err)
	}
	return Page[T]{Items: items, Reported: ReportedCount(env.Message)}, nil
}

// write is the body of the POST and PUT methods.
func (c *Client) write(ctx context.Context, cred Credential, method, path string, body any) (*WriteResult, error) {
	env, err := c.do(ctx, cred, method, path, nil, body)
	if err != nil {
		return nil, err
	}
	code := env.Status
	if env.Code.Valid {
		code = int(env.Code.Value)
	}
	return &WriteResult{Code: code, Message: scrub(env.Message, cred), Errors: scrubAll(env.Errors, cred)}, nil
}

// serializerKey names a token's turn without revealing it: keys may be
// stored in Redis or logged, tokens must not.
func serializerKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "serpi:" + hex.EncodeToString(sum[:])
}

// do performs one call in the token's turn and returns its envelope, or
// an *upstream.Error.
func (c *Client) do(ctx context.Context, cred Credential, method, path string, query url.Values, body any) (*envelope, error) {
	op := method + " " + path
	if cred.SecretKey == "" || cred.Token == "" {
		return nil, newError(cred, op, upstream.KindUnauthorized, 0, "", "missing SERPI secret key or token", nil, nil)
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, newError(cred, op, upstream.KindBadRequest, 0, "", "request cannot be encoded as JSON", nil, err)
		}
	}
	var env *envelope
	err := c.serializer.Do(ctx, serializerKey(cred.Token), func(ctx context.Context) error {
		var err error
		env, err = c.roundTrip(ctx, cred, op, method, path, query, payload)
		return err
	})
	if err == nil {
		return env, nil
	}
	if ue, ok := upstream.As(err); ok {
		return nil, ue
	}
	if errors.Is(err, serializer.ErrWaitTimeout) {
		return nil, newError(cred, op, upstream.KindUnavailable, 0, "",
			"gave up waiting for the previous SERPI call with this token to finish", nil, err)
	}
	// A shared serializer (Redis) can fail on its own.
	return nil, newError(cred, op, upstream.KindUnavailable, 0, "", "could not take the SERPI token's turn", nil, err)
}

// roundTrip sends one request and interprets the answer.
func (c *Client) roundTrip(ctx context.Context, cred Credential, op, method, path string, query url.Values, payload []byte) (*envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, newError(cred, op, upstream.KindInternal, 0, "", "invalid SERPI base URL", nil, err)
	}
	// Header names exactly as the seeds spell them; assigning the map
	// directly keeps "secretkey" lower-case on the wire.
	req.Header["secretkey"] = []string{cred.SecretKey}
	req.Header.Set("Authorization", "Bearer "+cred.Token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(cred, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, transportError(cred, op, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, newError(cred, op, upstream.KindInternal, resp.StatusCode, "",
			fmt.Sprintf("SERPI's answer exceeds %d MiB", MaxResponseBytes>>20), nil, nil)
	}
	return interpret(cred, op, method, resp.StatusCode, resp.Header, data)
}

// transportError classifies a failure to get an answer at all.
func transportError(cred Credential, op string, err error) error {
	msg := "could not reach SERPI"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg = "SERPI did not answer in time"
	case errors.Is(err, context.Canceled):
		msg = "the call was cancelled before SERPI answered"
	}
	return newError(cred, op, upstream.KindUnavailable, 0, "", msg, nil, err)
}

// interpret turns an HTTP answer into an envelope or an error. SERPI's body
// code can disagree with the HTTP status, so both are signals:
//
//   - HTTP 429, or body code 429 (the simulator's "token in use"), is
//     KindRateLimited with Retry-After.
//   - Any other HTTP status >= 300 maps by status (upstream.KindForStatus),
//     with the body's message and errors when it has them.
//   - Body code 401/403/5xx on a 2xx answer maps like the status would.
//   - On a GET, body code 201 or 204 with no records (result missing,
//     null or []) is an empty page, as is HTTP 204 with no body.
//   - On a PUT, body code 204 (or HTTP 204, which cannot carry the body)
//     means "no record with that id": KindNotFound.
//   - success:false, body code >= 400, or an errors list without success
//     is KindBadRequest (Details = errors) for 400 or when errors are
//     listed, KindNotFound for 404, KindServer otherwise.
//   - A 2xx body that is not JSON is KindInternal; empty 2xx bodies on
//     writes are successes.
func interpret(cred Credential, op, method string, status int, header http.Header, body []byte) (*envelope, error) {
	env, perr := parseEnvelope(body)
	if env != nil {
		env.Status = status
	}
	fail := func(kind upstream.Kind, fallback string, cause error) error {
		e := newError(cred, op, kind, status, "", fallback, nil, cause)
		if env != nil {
			e.Code = env.codeText()
			if env.Message != "" {
				e.Message = scrub(env.Message, cred)
			}
			e.Details = scrubAll(env.Errors, cred)
		}
		if kind == upstream.KindRateLimited {
			e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), time.Now())
		}
		return e
	}
	bodyCode := 0
	if env != nil && env.Code.Valid {
		bodyCode = int(env.Code.Value)
	}

	if status == http.StatusTooManyRequests || bodyCode == http.StatusTooManyRequests {
		return nil, fail(upstream.KindRateLimited, "SERPI refused the call: too many requests or token in use", nil)
	}
	if status < 200 || status >= 300 {
		kind := upstream.KindForStatus(status)
		if status < 400 {
			kind = upstream.KindServer // redirects are refused; 1xx/3xx are unexpected
		}
		return nil, fail(kind, http.StatusText(status), nil)
	}

	// 2xx from here on.
	if env == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return nil, fail(upstream.KindInternal, "SERPI's answer is not JSON", perr)
		}
		switch {
		case method == http.MethodGet:
			return &envelope{Status: status}, nil // empty page
		case method == http.MethodPut && status == http.StatusNoContent:
			// SERPI answers "no record with that id" with code 204; sent
			// as the HTTP status, the body cannot travel.
			return nil, fail(upstream.KindNotFound, "No se encontraron registros", nil)
		default:
			return &envelope{Status: status, Success: true}, nil
		}
	}

	code := bodyCode
	if code == 0 {
		code = status
	}
	if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
		return nil, fail(upstream.KindForStatus(code), http.StatusText(code), nil)
	}
	success := env.Success
	if !env.HasSuccess {
		success = code < 400 && (len(env.Errors) == 0 || method != http.MethodGet && code < 300)
	}

	if method == http.MethodGet {
		if (code == 201 || code == 204) && resultEmpty(env.Result) {
			env.Result = nil // "No se encontraron registros": an empty page
			return env, nil
		}
		if success && code < 400 {
			return env, nil
		}
	} else {
		if code == 204 && (!success || method == http.MethodPut) {
			return nil, fail(upstream.KindNotFound, "No se encontraron registros", nil)
		}
		if success && code < 400 {
			return env, nil
		}
	}
	switch {
	case code == http.StatusNotFound:
		return nil, fail(upstream.KindNotFound, http.StatusText(code), nil)
	case code == http.StatusBadRequest || code == http.StatusUnprocessableEntity || len(env.Errors) > 0:
		return nil, fail(upstream.KindBadRequest, "SERPI refused the request", nil)
	default:
		return nil, fail(upstream.KindServer, "SERPI reported a failure", nil)
	}
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP
// date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// newError builds the *upstream.Error every failure must be, scrubbing
// the credential from every text that could reach a log or a client.
func newError(cred Credential, op string, kind upstream.Kind, status int, code, msg string, details []string, cause error) *upstream.Error {
	e := &upstream.Error{
		Upstream: upstream.Serpi,
		Op:       op,
		Kind:     kind,
		Status:   status,
		Code:     code,
		Message:  scrub(msg, cred),
		Details:  scrubAll(details, cred),
	}
	if cause != nil {
		e.Err = &redactedError{msg: scrub(cause.Error(), cred), err: cause}
	}
	return e
}

// redactedError keeps the cause for errors.Is/As while its text, computed
// once, has the credential removed (a transport error can quote a header).
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

// redactedMark replaces a credential in error texts.
const redactedMark = "[redacted]"

// scrub removes the secret key and token from s.
func scrub(s string, cred Credential) string {
	for _, secret := range []string{cred.SecretKey, cred.Token} {
		if secret != "" && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redactedMark)
		}
	}
	return s
}

// scrubAll scrubs every message; nil stays nil.
func scrubAll(msgs []string, cred Credential) []string {
	if msgs == nil {
		return nil
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = scrub(m, cred)
	}
	return out
}
