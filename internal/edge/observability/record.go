package observability

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/trace"
)

// record is what inner layers learn about a request for its access-log
// line. AccessLog puts one in the request's context before anything else
// runs; the layers that learn a fact (the client address once trusted
// proxies are resolved, the API key, the operation, the cache) set it
// through the Set functions, and AccessLog reads it when the request
// ends. A websocket's operations run on other goroutines, hence the lock.
type record struct {
	id         string // the request id, set before the record is shared
	mu         sync.Mutex
	operation  string
	clientAddr string
	keyName    string
	cache      string
	traceID    string
}

type recordKey struct{}

func recordFrom(ctx context.Context) *record {
	r, _ := ctx.Value(recordKey{}).(*record)
	return r
}

// set runs fn on the request's record under its lock; a context without
// one (a background job, a test) is ignored.
func set(ctx context.Context, fn func(*record)) {
	if r := recordFrom(ctx); r != nil {
		r.mu.Lock()
		fn(r)
		r.mu.Unlock()
	}
}

// maxOperationChars bounds the operation name a log line carries: the
// client chooses it.
const maxOperationChars = 128

// SetOperation records the GraphQL operation the request runs. Over a
// websocket, which runs many, the line shows the last one.
func SetOperation(ctx context.Context, name string) {
	if len(name) > maxOperationChars {
		name = name[:maxOperationChars]
	}
	set(ctx, func(r *record) { r.operation = name })
}

// Cache outcomes for SetCacheOutcome.
const (
	CacheHit = "hit"
	// CacheSharedHit: answered from the cache replicas share (Redis).
	CacheSharedHit = "hit_shared"
	CacheMiss      = "miss"
	CacheStale     = "stale"
	CacheBypass    = "bypass"
	// CacheNone is logged when no layer recorded an outcome.
	CacheNone = "none"
)

// SetCacheOutcome records how a response cache answered the request:
// CacheHit, CacheSharedHit, CacheMiss, CacheStale or CacheBypass.
func SetCacheOutcome(ctx context.Context, outcome string) {
	set(ctx, func(r *record) { r.cache = outcome })
}

// SetClientAddress records the client's address as the gateway resolved
// it (the connection's, or the one trusted proxies forwarded).
func SetClientAddress(ctx context.Context, addr string) {
	set(ctx, func(r *record) { r.clientAddr = addr })
}

// SetKeyName records the name of the API key that authenticated the
// request: its configured name, never the key.
func SetKeyName(ctx context.Context, name string) {
	set(ctx, func(r *record) { r.keyName = name })
}

// setTraceID records the trace the request belongs to: the server span's,
// or with tracing off the caller's (TraceHandler), so that the access
// line, written outside that layer, carries it as other lines do.
func setTraceID(ctx context.Context) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		set(ctx, func(r *record) { r.traceID = sc.TraceID().String() })
	}
}

// snapshot copies the record's fields into line under the record's lock.
func (r *record) snapshot(line *accessLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line.operation, line.clientAddr, line.keyName, line.traceID = r.operation, r.clientAddr, r.keyName, r.traceID
	line.cache = r.cache
	if line.cache == "" {
		line.cache = CacheNone
	}
}

// Operations is a gqlgen extension that records each operation's name
// for the access log (SetOperation).
type Operations struct{}

var (
	_ graphql.HandlerExtension     = Operations{}
	_ graphql.OperationInterceptor = Operations{}
)

// ExtensionName implements graphql.HandlerExtension.
func (Operations) ExtensionName() string { return "AccessLogOperations" }

// Validate implements graphql.HandlerExtension.
func (Operations) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (Operations) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if graphql.HasOperationContext(ctx) {
		rc := graphql.GetOperationContext(ctx)
		name := rc.OperationName
		if name == "" && rc.Operation != nil {
			name = rc.Operation.Name
		}
		SetOperation(ctx, name)
	}
	return next(ctx)
}
