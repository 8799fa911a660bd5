package brilla

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

// DefaultTimeout is the per-call deadline applied when WithTimeout is not
// given. Brilla answers in well under a second; ten seconds bounds a hung
// connection without cutting off a slow but healthy call.
const DefaultTimeout = 10 * time.Second

// MaxResponseBytes caps how much of a response body the client reads. The
// largest legitimate answer (a 360-row amortization schedule) is a few tens
// of kilobytes; the cap protects the gateway from a misbehaving proxy.
const MaxResponseBytes = 8 << 20

// apiPrefix is the common prefix of every Brilla path; a base URL that
// already ends with it is accepted and trimmed.
const apiPrefix = "/api/brilla/v1"

// Reader is the per-customer read half of the Brilla API: what a
// customer's token lets the gateway read. *Client implements it, and so do
// wrappers that cache or serialize it.
type Reader interface {
	CreditsSummary(ctx context.Context, token string) (*Summary, error)
	Credits(ctx context.Context, token string) (*CreditList, error)
	Credit(ctx context.Context, token string, loanID int64) (*CreditDetail, error)
	CreditPayments(ctx context.Context, token string, loanID int64) (*PaymentList, error)
}

var _ Reader = (*Client)(nil)

// Client calls the Brilla API. It is safe for concurrent use. Every failure
// it returns is an *upstream.Error with Upstream set to upstream.Brilla.
type Client struct {
	baseURL string
	http    *http.Client
	timeout time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client use hc (for its transport, proxies and
// connection pool). A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithTimeout sets the deadline of each call. It applies even when the
// caller's context has no deadline; a shorter caller deadline still wins.
// Non-positive values keep DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// NewClient returns a client for the Brilla API at baseURL, e.g.
// "https://api.serfigas.com". A base URL that already includes
// "/api/brilla/v1" is accepted too.
func NewClient(baseURL string, opts ...Option) *Client {
	base := strings.TrimRight(strings.TrimSpace(baseURL), "/")
	base = strings.TrimSuffix(base, apiPrefix)
	c := &Client{
		baseURL: base,
		// A dedicated client rather than http.DefaultClient so that nobody
		// else's changes to the default affect us; deadlines come from the
		// per-call context.
		http:    &http.Client{},
		timeout: DefaultTimeout,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// GenerateToken exchanges a customer's vat, contract and security answer
// for a bearer token (POST token/generate).
func (c *Client) GenerateToken(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	var out TokenResponse
	if err := c.do(ctx, http.MethodPost, PathTokenGenerate, PathTokenGenerate, "", req, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// Register submits a credit registration (POST register). The answer is
// pending; follow it with RegistrationStatus.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	var out RegisterResponse
	if err := c.do(ctx, http.MethodPost, PathRegister, PathRegister, "", req, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// RegistrationStatus reads the state of a registration (GET
// register/status/{tracking_code}).
func (c *Client) RegistrationStatus(ctx context.Context, trackingCode string) (*RegistrationStatus, error) {
	// PathEscape so that a code typed by a user ("../credits", "a b")
	// can never address another endpoint.
	path := strings.Replace(PathRegisterStatus, "{tracking_code}", url.PathEscape(trackingCode), 1)
	var out RegistrationStatus
	if err := c.do(ctx, http.MethodGet, PathRegisterStatus, path, "", nil, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// ValidateContract checks whether a vat and contract number belong
// together and whether the contract is active (POST validate/contract).
func (c *Client) ValidateContract(ctx context.Context, req ValidateContractRequest) (*ValidateContractResponse, error) {
	var out ValidateContractResponse
	if err := c.do(ctx, http.MethodPost, PathValidateContract, PathValidateContract, "", req, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreditsSummary reads the quota of the token's customer (GET
// credits/summary).
func (c *Client) CreditsSummary(ctx context.Context, token string) (*Summary, error) {
	var out Summary
	if err := c.do(ctx, http.MethodGet, PathCreditsSummary, PathCreditsSummary, token, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Credits lists the credits of the token's customer (GET credits).
func (c *Client) Credits(ctx context.Context, token string) (*CreditList, error) {
	var out CreditList
	if err := c.do(ctx, http.MethodGet, PathCredits, PathCredits, token, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Credit reads one credit with its amortization schedule (GET
// credits/{loan_id}). A loan of another customer is reported as not found.
func (c *Client) Credit(ctx context.Context, token string, loanID int64) (*CreditDetail, error) {
	path := strings.Replace(PathCreditDetail, "{loan_id}", strconv.FormatInt(loanID, 10), 1)
	var out CreditDetail
	if err := c.do(ctx, http.MethodGet, PathCreditDetail, path, token, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreditPayments lists the payments received on a credit (GET
// credits/{loan_id}/payments).
func (c *Client) CreditPayments(ctx context.Context, token string, loanID int64) (*PaymentList, error) {
	path := strings.Replace(PathCreditPayments, "{loan_id}", strconv.FormatInt(loanID, 10), 1)
	var out PaymentList
	if err := c.do(ctx, http.MethodGet, PathCreditPayments, path, token, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// do performs one call. template is the seed's path template (used in Op so
// that errors and metrics group by endpoint, not by loan id); path is the
// concrete path. When inData is set the payload is read from the
// envelope's "data" member, otherwise from the top level.
func (c *Client) do(ctx context.Context, method, template, path, token string, body, out any, inData bool) error {
	op := method + " " + template
	fail := func(kind upstream.Kind, status int, err error) error {
		return &upstream.Error{Upstream: upstream.Brilla, Op: op, Kind: kind, Status: status, Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var reqBody io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fail(upstream.KindInternal, 0, fmt.Errorf("encode request: %w", err))
		}
		reqBody = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, reqBody)
	if err != nil {
		return fail(upstream.KindInternal, 0, fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	write := isWrite(method)
	var sent *sentTracker
	if write {
		req, sent = traceSent(req)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		// Network errors, refused connections and deadlines all mean the
		// upstream could not be reached; the cause stays in the chain so
		// errors.Is(err, context.DeadlineExceeded) still works. A write
		// whose request was fully sent may have been applied all the same.
		if write && sent.wasSent() {
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		return fail(upstream.KindUnavailable, 0, fmt.Errorf("send request: %w", err))
	}
	defer resp.Body.Close()

	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if write {
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		return fail(upstream.KindUnavailable, resp.StatusCode, fmt.Errorf("read response: %w", err))
	}
	if len(raw) > MaxResponseBytes {
		return fail(upstream.KindInternal, resp.StatusCode, fmt.Errorf("response body exceeds %d bytes", MaxResponseBytes))
	}

	var env envelope
	decodeErr := json.Unmarshal(raw, &env)
	failed := resp.StatusCode >= 400 ||
		(decodeErr == nil && env.Success != nil && !bool(*env.Success)) ||
		(decodeErr == nil && errorCode(env.Error) != "")
	if failed {
		e := c.apiError(op, token, resp, &env, decodeErr)
		if write && gatewayMayHaveForwarded(resp.StatusCode) {
			e.Err = maybeApplied(fmt.Errorf("answered %d by a gateway in front of Brilla", resp.StatusCode), e.Err)
		}
		return e
	}
	if decodeErr != nil {
		err := fmt.Errorf("decode response (%s): %w", contentType(resp), decodeErr)
		if write {
			// A 2xx to a write is Brilla accepting it: applied, but we cannot read what it said.
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		return fail(upstream.KindInternal, resp.StatusCode, err)
	}

	payload := json.RawMessage(raw)
	if inData {
		if len(env.Data) == 0 || string(env.Data) == "null" {
			return fail(upstream.KindInternal, resp.StatusCode, errors.New(`response has no "data"`))
		}
		payload = env.Data
	}
	if err := json.Unmarshal(payload, out); err != nil {
		err = fmt.Errorf("decode response: %w", err)
		if write {
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		return fail(upstream.KindInternal, resp.StatusCode, err)
	}
	return nil
}

// apiError builds the error for an answer that is an error: an HTTP error
// status, success:false, or an "error" code in the body.
func (c *Client) apiError(op, token string, resp *http.Response, env *envelope, decodeErr error) *upstream.Error {
	e := &upstream.Error{Upstream: upstream.Brilla, Op: op, Status: resp.StatusCode}
	if decodeErr == nil {
		e.Code = errorCode(env.Error)
		e.Message = redact(string(env.Message), token)
		for _, d := range env.Errors {
			e.Details = append(e.Details, redact(d, token))
		}
	} else {
		// An HTML page from a proxy or load balancer: keep a note of what
		// arrived, never the body itself (it may echo request headers).
		e.Err = fmt.Errorf("non-JSON error body (%s): %w", contentType(resp), decodeErr)
	}
	e.Kind = kindFor(resp.StatusCode, e.Code)
	if e.Kind == upstream.KindInternal && e.Code == "" && resp.StatusCode < 400 {
		// success:false with a 2xx status and no code: the upstream says
		// it failed without saying why.
		e.Kind = upstream.KindServer
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	return e
}

// kindFor maps Brilla's error code and the HTTP status to a Kind. The code
// wins when the two disagree, because Brilla's documented contract is the
// code; the one exception is server_error on 502/503/504: Brilla has no
// "unavailable" code, so server_error is the generic 5xx code and the
// gateway status carries the more useful signal (retry later).
func kindFor(status int, code string) upstream.Kind {
	byStatus := upstream.KindForStatus(status)
	switch code {
	case CodeBadRequest:
		return upstream.KindBadRequest
	case CodeUnauthorized:
		return upstream.KindUnauthorized
	case CodeNotFound:
		return upstream.KindNotFound
	case CodeRateLimit:
		return upstream.KindRateLimited
	case CodeServerError:
		if byStatus == upstream.KindUnavailable {
			return byStatus
		}
		return upstream.KindServer
	}
	return byStatus
}

// errorCode reads the "error" member, which Brilla sends as a code string
// but which a proxy may send as an object ({"code": ...}) or a boolean.
func errorCode(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj struct {
		Code wire.Text `json:"code"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return strings.TrimSpace(string(obj.Code))
	}
	return ""
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > math.MaxInt64/int64(time.Second) {
			secs = math.MaxInt64 / int64(time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// redact removes the bearer token from text the upstream wrote, in case it
// echoes the request back: error messages end up in logs and in GraphQL
// responses.
func redact(s, token string) string {
	if token == "" || s == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[REDACTED]")
}

// contentType returns the media type of resp for error notes.
func contentType(resp *http.Response) string {
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	if ct == "" {
		return "no content type"
	}
	return "invalid content type"
}

// Claims are the claims of a Brilla token that the gateway uses.
type Claims struct {
	Vat            string
	ContractNumber string
	ExpiresAt      time.Time // zero when the token has no "exp"
}

// ParseClaims decodes the payload of a Brilla JWT without verifying its
// signature (the gateway does not hold Brilla's key).
//
// SECURITY: the result is attacker-controlled until Brilla has accepted the
// token. Callers may use it to route or to key caches only after a call
// with this token succeeded upstream; never to authorize on its own.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		// The token itself is never part of the message.
		return Claims{}, fmt.Errorf("brilla token: want 3 dot-separated parts, got %d", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("brilla token: payload is not base64url: %w", err)
	}
	var raw struct {
		Vat            wire.Text    `json:"vat"`
		ContractNumber wire.Text    `json:"contract_number"`
		Exp            wire.Decimal `json:"exp"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, fmt.Errorf("brilla token: payload is not a JSON object: %w", err)
	}
	cl := Claims{Vat: string(raw.Vat), ContractNumber: string(raw.ContractNumber)}
	if raw.Exp != "" {
		// exp is NumericDate, which RFC 7519 allows to carry a fraction.
		whole, _, _ := strings.Cut(string(raw.Exp), ".")
		secs, err := strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return Claims{}, fmt.Errorf("brilla token: exp: %w", err)
		}
		cl.ExpiresAt = time.Unix(secs, 0)
	}
	return cl, nil
}
