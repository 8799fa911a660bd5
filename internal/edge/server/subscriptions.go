package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/auth"
	"github.com/serfigas/brilla-gateway/internal/edge/observability"
	"github.com/serfigas/brilla-gateway/internal/edge/ratelimit"
	"github.com/serfigas/brilla-gateway/internal/edge/streams"
)

// Defaults of the subscription settings in Config.
const (
	DefaultSubscriptionsPerConnection = 10
	DefaultWebsocketPing              = 25 * time.Second
	DefaultWebsocketInitTimeout       = 10 * time.Second
	DefaultWebsocketsPerAddress       = streams.DefaultWebsocketsPerAddress
)

// validateStreaming reports the problems of the subscription settings.
func (c *Config) validateStreaming() []error {
	var errs []error
	if c.SubscriptionsPerConnection < 0 {
		errs = append(errs, errors.New("MAX_SUBSCRIPTIONS_PER_CONNECTION must not be negative"))
	}
	if c.WebsocketsPerAddress < 0 {
		errs = append(errs, errors.New("MAX_WEBSOCKETS_PER_ADDRESS must not be negative"))
	}
	if c.WebsocketPing < 0 || c.RegistrationPollMin < 0 || c.RegistrationPollMax < 0 || c.RegistrationLease < 0 {
		errs = append(errs, errors.New("WEBSOCKET_PING, REGISTRATION_POLL_MIN, REGISTRATION_POLL_MAX and the registration lease must not be negative"))
	}
	if c.RegistrationPollMin > 0 && c.RegistrationPollMax > 0 && c.RegistrationPollMax < c.RegistrationPollMin {
		errs = append(errs, fmt.Errorf("REGISTRATION_POLL_MAX (%s) must not be below REGISTRATION_POLL_MIN (%s)", c.RegistrationPollMax, c.RegistrationPollMin))
	}
	for _, o := range c.WebsocketOrigins {
		// coder/websocket matches these with path.Match against the
		// Origin's host (or scheme://host when the pattern has a scheme).
		_, err := path.Match(strings.ToLower(o), "")
		if err != nil || o == "" || strings.ContainsAny(o, " \t,") || strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://"), "/") == "" {
			errs = append(errs, fmt.Errorf("WEBSOCKET_ORIGINS: %q is not an origin pattern such as app.example.com, *.example.com or https://app.example.com", o))
		}
	}
	return errs
}

// addStreamingTransports adds graphql-transport-ws and SSE to gql, with
// the interceptors they need. Call it before adding POST: a transport list
// is tried in order, and POST would take SSE requests.
func addStreamingTransports(gql *handler.Server, cfg *Config, keys *auth.KeyStore) {
	if cfg.SubscriptionsPerConnection == 0 {
		cfg.SubscriptionsPerConnection = DefaultSubscriptionsPerConnection
	}
	if cfg.WebsocketPing == 0 {
		cfg.WebsocketPing = DefaultWebsocketPing
	}
	// Our own fronts (internal/edge/streams): gqlgen's websocket leaves a
	// connection with a bad connection_init open, and its SSE transport
	// reads the body without a deadline and logs it when malformed.
	gql.AddTransport(streams.Websocket{
		Transport: transport.Websocket{
			InitFunc: websocketInit(keys, cfg.SubscriptionsPerConnection),
			// graphql-transport-ws keepalive (KeepAlivePingInterval is only
			// for the legacy graphql-ws protocol): the server pings, a client
			// that stops answering is dropped after two intervals.
			PingPongInterval: cfg.WebsocketPing,
			// The same keepalive for clients of the legacy protocol.
			KeepAlivePingInterval: cfg.WebsocketPing,
		},
		// Same-origin pages always; other origins only when listed.
		Accept:       websocket.AcceptOptions{OriginPatterns: cfg.WebsocketOrigins},
		InitTimeout:  DefaultWebsocketInitTimeout,
		MessageBytes: cfg.MaxBodyBytes,
		// Pings keep an idle websocket open for good; the upgrade rate
		// limit alone would let one address pile them up.
		PerAddress: streams.NewAddressCap(cfg.WebsocketsPerAddress, func(r *http.Request) string {
			return auth.ClientAddr(r.Context())
		}),
	})
	gql.AddTransport(streams.SSE{
		Transport:    transport.SSE{KeepAlivePingInterval: cfg.WebsocketPing},
		MaxBodyBytes: cfg.MaxBodyBytes,
		BodyTimeout:  cfg.RequestTimeout,
	})
	gql.Use(subscriptionCap{present: apperr.Presenter(cfg.Logger)})
	gql.Use(streamDeadline{d: cfg.RequestTimeout})
}

// websocketInit authenticates a websocket from its connection_init
// payload and gives the connection its subscription slots.
func websocketInit(keys *auth.KeyStore, perConnection int) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		// SECURITY: browsers cannot set headers on a websocket, so the
		// connection_init payload carries them (GraphiQL sends its headers
		// editor there): "Authorization" and "X-Api-Key", any case. They
		// identify the caller for every operation of the connection exactly
		// as the HTTP headers do (keys.Identify: hashed API keys, customer
		// tokens verified by Brilla on use), and the per-field checks
		// (auth.RequireScope / RequireCustomer) run on each operation. A
		// payload without credentials keeps what the upgrade request's own
		// headers said.
		authorization, apiKey := payloadValue(p, "Authorization"), payloadValue(p, "X-Api-Key")
		if authorization != "" || apiKey != "" {
			principal := keys.Identify(authorization, apiKey)
			if principal.Key != nil {
				observability.SetKeyName(ctx, principal.Key.Name)
			}
			ctx = auth.WithPrincipal(ctx, principal)
		}
		// Its operations are rate limited one by one (ratelimit.Operations).
		ctx = ratelimit.MarkStream(ctx)
		return context.WithValue(ctx, slotsKey{}, &slots{max: int64(perConnection)}), nil, nil
	}
}

// payloadValue is the string under name, matched case-insensitively.
func payloadValue(p transport.InitPayload, name string) string {
	if v := p.GetString(name); v != "" {
		return v
	}
	for k, v := range p {
		if s, ok := v.(string); ok && strings.EqualFold(k, name) {
			return s
		}
	}
	return ""
}

// slots counts one websocket connection's running subscriptions.
type slots struct {
	max int64
	n   atomic.Int64
}

type slotsKey struct{}

// subscriptionCap refuses a connection's subscription beyond its slots
// with a clear RATE_LIMITED error; the others keep running.
type subscriptionCap struct {
	present graphql.ErrorPresenterFunc
}

var (
	_ graphql.HandlerExtension     = subscriptionCap{}
	_ graphql.OperationInterceptor = subscriptionCap{}
)

// ExtensionName implements graphql.HandlerExtension.
func (subscriptionCap) ExtensionName() string { return "SubscriptionCap" }

// Validate implements graphql.HandlerExtension.
func (subscriptionCap) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (c subscriptionCap) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	s, ok := ctx.Value(slotsKey{}).(*slots)
	op := graphql.GetOperationContext(ctx)
	if !ok || op.Operation == nil || op.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	if s.n.Add(1) > s.max {
		s.n.Add(-1)
		err := apperr.New(apperr.RateLimited, "this connection already runs %d subscriptions, the most allowed: complete one, or open another connection", s.max)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{c.present(ctx, err)}})
	}
	// The slot frees when the subscription ends, whichever way: the
	// stream ran out, or the client or the server stopped it (the
	// transport cancels the operation's context).
	var once sync.Once
	free := func() { once.Do(func() { s.n.Add(-1) }) }
	stop := context.AfterFunc(ctx, free)
	responses := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if resp == nil {
			stop()
			free()
		}
		return resp
	}
}

// streamDeadline gives queries and mutations that arrive over a stream (a
// websocket, SSE) the request deadline that withDeadline gives plain HTTP
// requests; subscriptions live as long as their stream.
type streamDeadline struct {
	d time.Duration
}

var (
	_ graphql.HandlerExtension     = streamDeadline{}
	_ graphql.OperationInterceptor = streamDeadline{}
)

// ExtensionName implements graphql.HandlerExtension.
func (streamDeadline) ExtensionName() string { return "StreamDeadline" }

// Validate implements graphql.HandlerExtension.
func (streamDeadline) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (s streamDeadline) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx)
	if _, has := ctx.Deadline(); has || s.d <= 0 || op.Operation == nil || op.Operation.Operation == ast.Subscription {
		return next(ctx)
	}
	deadline := time.Now().Add(s.d)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	responses := next(ctx)
	// gqlgen resolves with the context each response call gets, so the
	// deadline goes on those too; everything is released when the last
	// response has been produced (or, at the latest, with the stream).
	cancels := []context.CancelFunc{cancel}
	return func(ctx context.Context) *graphql.Response {
		ctx, cancel := context.WithDeadline(ctx, deadline)
		cancels = append(cancels, cancel)
		resp := responses(ctx)
		if resp == nil {
			for _, c := range cancels {
				c()
			}
		}
		return resp
	}
}

// isStream reports whether r opens a long-lived stream: a websocket
// upgrade (a GET asking for websocket) or an SSE request (as gqlgen's
// transport tells them apart). Anything else, a POST with an Upgrade
// header included, is a plain request of the edge transport.
func isStream(r *http.Request) bool {
	return (r.Method == http.MethodGet && strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "websocket")) || transport.SSE{}.Supports(r)
}

// serveStream serves a stream whose context ends when the gateway ends
// its streams (Close, EndSubscriptions), whatever the client does:
// http.Server.Shutdown neither waits for nor closes hijacked websockets
// (gqlgen #2610), and would wait out its grace period for SSE streams.
// Once streams has ended, new ones are refused with 503.
func serveStream(streams *streamSet, next http.Handler, w http.ResponseWriter, r *http.Request) {
	ctx, done, ok := streams.start(r.Context())
	if !ok {
		apperr.WriteRefusal(w, "", http.StatusServiceUnavailable,
			&apperr.Error{Code: apperr.Unavailable, Message: "the gateway is shutting down; reconnect", RetryAfter: time.Second})
		return
	}
	defer done()
	next.ServeHTTP(w, r.WithContext(ctx))
}

// streamSet holds the cancel functions of the open streams. end cancels
// them all before it returns, so that every stream's context is done
// before anything else shutdown does (closing the registration watchers)
// can end a subscription: the transports then cut the stream (websocket
// 1001, SSE without "event: complete") instead of completing it. A
// context.AfterFunc per stream would cancel them asynchronously.
type streamSet struct {
	mu      sync.Mutex
	ended   bool
	next    uint64
	cancels map[uint64]context.CancelFunc
}

// start derives a stream's context from parent; ok is false once end ran.
func (s *streamSet) start(parent context.Context) (ctx context.Context, done func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(parent)
	if s.cancels == nil {
		s.cancels = map[uint64]context.CancelFunc{}
	}
	id := s.next
	s.next++
	s.cancels[id] = cancel
	return ctx, func() {
		s.mu.Lock()
		delete(s.cancels, id)
		s.mu.Unlock()
		cancel()
	}, true
}

// end cancels every open stream and refuses new ones.
func (s *streamSet) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	for id, cancel := range s.cancels {
		cancel()
		delete(s.cancels, id)
	}
}
