// Package respcache is the gateway's operation response cache: a repeated
// read is answered with the bytes of an earlier answer, without parsing,
// validating or executing it again.
//
// It owns what may be cached (the schema's @cacheControl hints, see
// PolicyFor), the key (the normalized document, the operation name, the
// canonical variables and the principal whose data it is), the two tiers
// (a bounded in-process LRU by bytes, and the shared store, Redis, so
// that replicas share answers), validation of an entry against what it
// was built from, and the HTTP caching headers of GET answers (ETag,
// Cache-Control, Age, 304 Not Modified).
//
// Exactness rests on dependencies rather than time: while an operation
// runs, the caches it reads record the version of each source in a
// cache.Reads (a catalog collection's version is the hash of its bytes),
// and an entry is served only while every version it recorded is still
// the current one on this replica (Versions). A catalog write drops every
// replica's index through the invalidation bus before the mutation
// answers, so the next read anywhere misses; answers built from customer
// data live no longer than the customer cache keeps that data fresh, nor
// than the token. The maxAge hints bound the rest.
//
// Identical requests that miss at the same time (an entry expiring under
// load) are coalesced: the first executes, the others wait for its answer,
// at most until their own deadline, and are served it; if it could not
// be stored, each runs on its own. The key includes the principal, so
// callers with different credentials never share a run.
//
// Never cached: mutations, subscriptions, operations touching a field
// without a hint, introspection, answers with any error (partial data
// included), answers whose reads went around the cache, and requests
// whose credentials did not verify. Authentication, rate limits and the
// request deadline run before the cache is consulted.
package respcache

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/cache/degrade"
	"github.com/serfigas/brilla-gateway/internal/auth"
)

// Versions tells whether a source an answer was built from is unchanged.
type Versions interface {
	// Current reports whether version is still the current version of
	// the source cached under key, as cache.RecordRead recorded it.
	Current(key, version string) bool
}

// Observer receives the cache's outcomes and size, for metrics.
type Observer interface {
	// Outcome counts one request: OutcomeHit, OutcomeSharedHit,
	// OutcomeMiss, OutcomeStale or OutcomeBypass.
	Outcome(outcome string)
	// Stored counts one answer stored (true) or executed but not storable
	// (false: errors, uncacheable reads, too large).
	Stored(ok bool)
	// Size reports the in-process tier's bytes and entries.
	Size(bytes int64, entries int)
}

// Outcomes of a request, as Observer and the access log see them.
const (
	// OutcomeHit: answered from this replica's memory.
	OutcomeHit = "hit"
	// OutcomeSharedHit: answered from the shared (Redis) tier.
	OutcomeSharedHit = "hit_shared"
	// OutcomeMiss: cacheable, nothing current stored; executed.
	OutcomeMiss = "miss"
	// OutcomeStale: an entry was found but what it was built from has
	// changed or it expired; executed.
	OutcomeStale = "stale"
	// OutcomeBypass: not cacheable (policy, credentials, request form);
	// executed.
	OutcomeBypass = "bypass"
)

// Config configures New.
type Config struct {
	// Schema is the executable schema whose @cacheControl hints apply.
	Schema *ast.Schema
	// MemoryBytes bounds the in-process tier (DefaultMemoryBytes when
	// zero); an answer larger than a sixteenth of it is not cached.
	MemoryBytes int64
	// Shared is the tier replicas share (a cache.Redis under its own
	// prefix); nil keeps answers in memory only.
	Shared cache.Store
	// Versions validates dependencies; nil accepts only answers without
	// any.
	Versions Versions
	// Keyer turns customer tokens into key parts.
	Keyer cache.Keyer
	// Observer receives outcomes; nil discards them.
	Observer Observer
	// Logger receives shared-tier trouble; discarded when nil.
	Logger *slog.Logger
	// MaxDocuments bounds the documents whose plan (normalized hash and
	// policies) is remembered (DefaultMaxDocuments when zero).
	MaxDocuments int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultMemoryBytes  = 32 << 20
	DefaultMaxDocuments = 2048
)

// sharedTimeout bounds one shared-tier read or write: a slow Redis costs
// a miss, never a slow answer.
const sharedTimeout = 100 * time.Millisecond

// sharedQueue bounds the answers waiting to be written to the shared
// tier; past it writes are dropped (the next replica to miss stores it).
const sharedQueue = 256

// Cache is the response cache. Build it with New; Close it.
type Cache struct {
	cfg       Config
	now       func() time.Time
	mem       *memTier
	plans     *planTable
	recalls   *lruTable[*recall]
	customers *lruTable[string]
	flights   flights
	// unstorable remembers when a key's run last ended without an entry
	// to share (errors, partial data, too large): such keys are not
	// coalesced for a while, or each waiter would run after the other.
	unstorable *lruTable[time.Time]
	gate       *degrade.Gate
	writes     chan sharedWrite
	stop       context.CancelFunc
	wg         sync.WaitGroup
	maxEntry   int64
}

type sharedWrite struct {
	key string
	e   *entry
}

// New returns a cache for cfg.
func New(cfg Config) *Cache {
	if cfg.MemoryBytes <= 0 {
		cfg.MemoryBytes = DefaultMemoryBytes
	}
	if cfg.MaxDocuments <= 0 {
		cfg.MaxDocuments = DefaultMaxDocuments
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = discard{}
	}
	c := &Cache{
		cfg:        cfg,
		now:        cfg.Now,
		mem:        newMemTier(cfg.MemoryBytes),
		plans:      newPlanTable(cfg.MaxDocuments),
		recalls:    newLRUTable[*recall](maxRecalls),
		customers:  newLRUTable[string](maxCustomerDigests),
		unstorable: newLRUTable[time.Time](maxUnstorableKeys),
		gate:       &degrade.Gate{Name: "response cache", Logger: cfg.Logger},
		maxEntry:   cfg.MemoryBytes / 16,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.Shared != nil {
		ctx, stop := context.WithCancel(context.Background())
		c.stop = stop
		c.writes = make(chan sharedWrite, sharedQueue)
		c.wg.Add(1)
		go c.writeShared(ctx)
	}
	return c
}

// Close stops the shared-tier writer; answers still queued are dropped.
func (c *Cache) Close() {
	if c.stop != nil {
		c.stop()
		c.wg.Wait()
	}
}

// Read is one request's dealing with the cache, from Begin to Hit or
// Finish.
type Read struct {
	c            *Cache
	docID        string
	opName       string
	vars         []byte
	principal    string
	credentialed bool
	key          string
	policy       Policy
	reads        *cache.Reads
	raw          string
	hit          *entry
	flight       *flight // set while rd executes for others waiting on key
	stored       bool    // Finish stored rd's answer
	// Outcome is what the cache did for this request (see the Outcome
	// constants); OutcomeMiss or OutcomeStale until Finish says otherwise.
	Outcome string
}

// principal names whose data a request reads: a hash of its API key (with
// scopes and SERPI credential) and an HMAC of its customer token, either
// possibly absent; ok is false when a credential was sent but did not
// verify.
func (c *Cache) principal(ctx context.Context) (principal string, withCredentials, ok bool) {
	pr := auth.FromContext(ctx)
	if !verified(pr) {
		return "", false, false
	}
	return c.principalOf(pr), credentialed(pr), true
}

// verified reports whether pr's credentials, if any, all verified.
func verified(pr auth.Principal) bool {
	// SECURITY: a request whose credentials did not verify is answered by
	// execution (with its UNAUTHENTICATED error), never from the cache.
	return !pr.BadKey && !pr.BadAuthorization
}

// credentialed reports whether pr sent a key or a token: its answers are
// private to it.
func credentialed(pr auth.Principal) bool { return pr.Key != nil || pr.CustomerToken != "" }

// principalOf is the principal part of a verified pr's keys.
func (c *Cache) principalOf(pr auth.Principal) string {
	var principal string
	if pr.Key != nil {
		principal = "k:" + pr.Key.CacheIdentity()
	}
	if pr.CustomerToken != "" {
		principal += c.customerDigest(pr.CustomerToken)
	}
	return principal
}

// Bounds of the table of customer tokens' digests: at most
// maxCustomerDigests tokens of at most maxDigestedToken bytes each (about
// 2.5 MiB); a longer token is digested on every request.
const (
	maxCustomerDigests = 4096
	maxDigestedToken   = 512
)

// customerDigest is the key part of a customer token: "|c:" and an HMAC
// of it, so that no key (in Redis either) holds a token. Computing it is
// a tenth of a hit's CPU, so the digests of recent tokens are remembered,
// keyed by the whole token: two tokens share a digest only when they are
// the same. The table keeps raw tokens of up to maxDigestedToken bytes in
// this process's memory (never in Redis or a log) until they are
// evicted, past the end of their requests; so do recalls (keyFor).
func (c *Cache) customerDigest(token string) string {
	if d, ok := c.customers.get(token); ok {
		return d
	}
	d := "|c:" + c.cfg.Keyer.Customer(token, "responses")
	if len(token) <= maxDigestedToken {
		c.customers.put(token, d)
	}
	return d
}

// Recall answers a request from its raw form alone when an identical
// request was cached before and its answer is still current, so that a
// hit is not even decoded. The raw form is prefix followed by payload,
// as the transport gives it to Begin (prefix and payload are apart so
// that a POST body need not be copied to be looked up). nil means:
// decode and Begin. A nil Cache recalls nothing.
func (c *Cache) Recall(ctx context.Context, prefix string, payload []byte) *Answer {
	return recallRaw(ctx, c, prefix, payload)
}

// RecallString is Recall for a payload held as a string (a GET query
// string).
func (c *Cache) RecallString(ctx context.Context, prefix, payload string) *Answer {
	return recallRaw(ctx, c, prefix, payload)
}

func recallRaw[P string | []byte](ctx context.Context, c *Cache, prefix string, payload P) *Answer {
	if c == nil || len(prefix)+len(payload) > maxRecallBytes {
		return nil // never remembered
	}
	var buf [maxRecallBytes]byte
	r, ok := c.recalls.getBytes(append(append(buf[:0], prefix...), payload...))
	if !ok {
		return nil
	}
	pr := auth.FromContext(ctx)
	if !verified(pr) {
		return nil
	}
	plan, policy, known := c.plans.lookup(r.docID, r.opName)
	if !known || !policy.Cacheable() {
		return nil
	}
	e, outcome := c.lookup(ctx, r.keyFor(c, plan.norm, pr))
	if e == nil {
		return nil // Begin looks again and counts the outcome
	}
	c.cfg.Observer.Outcome(outcome)
	return c.answer(e, credentialed(pr), outcome, r.opName)
}

// Begin looks the request up; raw is the request as sent (see Recall),
// "" when it has no raw form. The returned context is the one to execute
// the request with on a miss: it records what the operation reads. Begin
// never fails: anything it cannot key is a bypass.
func (c *Cache) Begin(ctx context.Context, p *graphql.RawParams, raw string) (context.Context, *Read) {
	rd := &Read{c: c, opName: p.OperationName, Outcome: OutcomeBypass}
	var ok bool
	if rd.principal, rd.credentialed, ok = c.principal(ctx); !ok {
		return ctx, c.bypass(rd)
	}
	rd.docID = documentID(p)
	if rd.docID == "" {
		return ctx, c.bypass(rd)
	}
	if len(p.Variables) > 0 {
		b, err := json.Marshal(p.Variables) // encoding/json sorts object keys
		if err != nil {
			return ctx, c.bypass(rd)
		}
		rd.vars = b
	}
	if len(raw) <= maxRecallBytes {
		rd.raw = raw
	}
	plan, policy, known := c.plans.lookup(rd.docID, rd.opName)
	if known && !policy.Cacheable() {
		return ctx, c.bypass(rd)
	}
	rd.Outcome = OutcomeMiss
	if known {
		rd.policy = policy
		rd.key = responseKey(plan.norm, rd.opName, rd.vars, rd.principal)
		e, outcome := c.lookup(ctx, rd.key)
		if e == nil {
			// Identical requests missing at once (an entry expiring under
			// load) run once: the first executes, the others wait for its
			// answer instead of each executing and calling upstream.
			e, outcome = c.coalesce(ctx, rd, outcome)
		}
		if e != nil {
			rd.hit, rd.Outcome = e, outcome
			c.cfg.Observer.Outcome(outcome)
			rd.remember()
			return ctx, rd
		} else if outcome != "" {
			rd.Outcome = outcome
		}
	}
	ctx, rd.reads = cache.WithReads(ctx)
	return ctx, rd
}

// coalesce makes rd the one execution of its key, or, when another
// request is already executing it, waits for that one (at most until
// ctx ends) and returns the entry it stored. A nil entry means: execute
// (outcome is lookup's); rd then leads when no one else was.
func (c *Cache) coalesce(ctx context.Context, rd *Read, outcome string) (*entry, string) {
	if at, ok := c.unstorable.get(rd.key); ok && c.now().Sub(at) < unstorableFor {
		return nil, outcome
	}
	f, leader := c.flights.join(rd.key)
	if leader {
		// A run may have stored the answer and ended between rd's lookup
		// and its join: look once more (memory only) before running again.
		if e := c.mem.get(rd.key); e != nil && c.current(e, c.now()) {
			c.flights.leave(rd.key, f)
			return e, OutcomeHit
		}
		rd.flight = f
		return nil, outcome
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, outcome // its execution ends at once with ctx's error
	}
	if e, again := c.lookup(ctx, rd.key); e != nil {
		return e, again
	}
	// The leader's answer was not stored (errors, not cacheable): each
	// waiting request runs on its own, as it would have without it.
	return nil, outcome
}

// Release ends rd's lead of its key's execution, if it had it: requests
// waiting for it look in the cache again. The transport calls it as soon
// as the answer is stored or known not to be, before writing it (a slow
// reader must not hold the others), and defers it for the other paths.
// Idempotent; nil-safe.
func (rd *Read) Release() {
	if rd == nil || rd.flight == nil {
		return
	}
	if !rd.stored {
		rd.c.unstorable.put(rd.key, rd.c.now())
	}
	rd.c.flights.leave(rd.key, rd.flight)
	rd.flight = nil
}

// A key whose run ended without an entry is not coalesced for
// unstorableFor; at most maxUnstorableKeys such keys are remembered.
const (
	unstorableFor     = 10 * time.Second
	maxUnstorableKeys = 1024
)

// flights are the keys being executed now, each by one request.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one execution others wait for: done closes when it ends.
type flight struct{ done chan struct{} }

// join returns key's flight, and whether the caller leads it (it did not
// exist).
func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

func (fs *flights) leave(key string, f *flight) {
	fs.mu.Lock()
	if fs.m[key] == f {
		delete(fs.m, key)
	}
	fs.mu.Unlock()
	close(f.done)
}

// remember lets Recall recognize rd's raw request from now on.
func (rd *Read) remember() {
	if rd.raw != "" {
		rd.c.recalls.put(rd.raw, &recall{docID: rd.docID, opName: rd.opName, vars: rd.vars})
	}
}

// bypass counts rd as not cacheable and returns it.
func (c *Cache) bypass(rd *Read) *Read {
	rd.Outcome = OutcomeBypass
	c.cfg.Observer.Outcome(OutcomeBypass)
	return rd
}

// Answer is what to send: the body and, for GET, the HTTP caching
// headers.
type Answer struct {
	Body []byte
	// ETag is the strong entity tag of Body (quoted).
	ETag string
	// CacheControl is "private, max-age=N" for data behind a key or
	// token or under a PRIVATE hint, "public, max-age=N" otherwise.
	CacheControl string
	// Age is how long ago the answer was produced, in seconds.
	Age int
	// Outcome is OutcomeHit or OutcomeSharedHit for a cached answer,
	// OutcomeMiss or OutcomeStale for one just executed and stored.
	Outcome string
	// Operation is the operation name the request sent.
	Operation string
}

// Hit returns the cached answer, or nil on a miss.
func (rd *Read) Hit() *Answer {
	if rd.hit == nil {
		return nil
	}
	return rd.answer(rd.hit)
}

func (rd *Read) answer(e *entry) *Answer {
	return rd.c.answer(e, rd.credentialed, rd.Outcome, rd.opName)
}

// answer is what to send for e to a request with (credentialed) or
// without credentials.
func (c *Cache) answer(e *entry, credentialed bool, outcome, opName string) *Answer {
	cacheControl := e.publicCacheControl
	if e.private || credentialed {
		cacheControl = e.privateCacheControl
	}
	return &Answer{
		Body:         e.body,
		ETag:         e.etag,
		CacheControl: cacheControl,
		Age:          max(0, int(c.now().Sub(e.stored)/time.Second)),
		Outcome:      outcome,
		Operation:    opName,
	}
}

// Finish takes an executed operation's answer: it stores it when the
// operation is cacheable and the answer complete, and returns the Answer
// to send with caching headers, or nil when the answer is not cacheable
// (send body as it is). The cache keeps body: the caller must not modify
// it afterwards.
func (rd *Read) Finish(opCtx *graphql.OperationContext, resp *graphql.Response, body []byte) *Answer {
	c := rd.c
	if rd.reads == nil || opCtx == nil || opCtx.Operation == nil {
		return nil
	}
	plan, policy, known := c.plans.lookup(rd.docID, rd.opName)
	if !known {
		plan = c.plans.learn(rd.docID, rd.opName, opCtx.Doc, PolicyFor(c.cfg.Schema, opCtx.Doc, opCtx.Operation))
		policy = plan.ops[rd.opName]
	}
	if !policy.Cacheable() {
		if rd.Outcome == OutcomeMiss {
			rd.Outcome = OutcomeBypass
		}
		c.cfg.Observer.Outcome(rd.Outcome)
		return nil
	}
	c.cfg.Observer.Outcome(rd.Outcome)
	if len(resp.Errors) > 0 || len(resp.Data) == 0 || bytes.Equal(resp.Data, []byte("null")) {
		c.cfg.Observer.Stored(false)
		return nil
	}
	deps, until, uncacheable := rd.reads.Snapshot()
	now := c.now()
	expires := now.Add(policy.MaxAge)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	if uncacheable || int64(len(body)) > c.maxEntry || !expires.After(now.Add(time.Second)) || !c.depsCurrent(deps) {
		c.cfg.Observer.Stored(false)
		return nil
	}
	if rd.key == "" {
		rd.key = responseKey(plan.norm, rd.opName, rd.vars, rd.principal)
	}
	e := newEntry(&entry{
		key:     rd.key,
		body:    body, // the caller's own encoding, never written to again
		etag:    etagOf(body),
		stored:  now,
		expires: expires,
		private: policy.Private,
		deps:    deps,
	})
	c.mem.put(e)
	c.reportSize()
	if c.writes != nil {
		select {
		case c.writes <- sharedWrite{key: rd.key, e: e}:
		default: // the shared tier is behind; another replica will store it
		}
	}
	c.cfg.Observer.Stored(true)
	rd.stored = true
	rd.remember()
	return rd.answer(e)
}

// lookup returns a current entry under key and its outcome; a nil entry
// with OutcomeStale when one was found but is no longer current, or "".
func (c *Cache) lookup(ctx context.Context, key string) (*entry, string) {
	now := c.now()
	stale := false
	if e := c.mem.get(key); e != nil {
		if c.current(e, now) {
			return e, OutcomeHit
		}
		c.mem.remove(key)
		c.reportSize()
		stale = true
	}
	if c.cfg.Shared != nil && c.gate.TryPrimary() {
		sctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		got, ok, err := c.cfg.Shared.Get(sctx, key)
		cancel()
		switch {
		case err != nil && !errors.Is(err, cache.ErrCorruptEntry):
			if ctx.Err() == nil {
				c.gate.Failed(err)
			}
		case ok:
			c.gate.Succeeded()
			if e, err := decodeEntry(key, got.Value); err == nil {
				if c.current(e, now) {
					c.mem.put(e)
					c.reportSize()
					return e, OutcomeSharedHit
				}
				stale = true
			}
		default:
			c.gate.Succeeded()
		}
	}
	if stale {
		return nil, OutcomeStale
	}
	return nil, ""
}

// current reports whether e may still be served at now.
func (c *Cache) current(e *entry, now time.Time) bool {
	return now.Before(e.expires) && c.depsCurrent(e.deps)
}

func (c *Cache) depsCurrent(deps []cache.Dependency) bool {
	for _, d := range deps {
		if c.cfg.Versions == nil || !c.cfg.Versions.Current(d.Key, d.Version) {
			return false
		}
	}
	return true
}

func (c *Cache) reportSize() {
	b, n := c.mem.size()
	c.cfg.Observer.Size(b, n)
}

// writeShared stores queued answers in the shared tier, one at a time,
// until ctx ends.
func (c *Cache) writeShared(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-c.writes:
			ttl := w.e.expires.Sub(c.now())
			if ttl < time.Second || !c.gate.TryPrimary() {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, sharedTimeout)
			err := c.cfg.Shared.Set(wctx, w.key, cache.Entry{Value: encodeEntry(w.e), StoredAt: w.e.stored}, ttl)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					c.gate.Failed(err)
				}
				continue
			}
			c.gate.Succeeded()
		}
	}
}

// documentID names the document a request sent, before parsing it: the
// hash of its text, or the persisted-query hash it was sent by (APQ: the
// SHA-256 of the text, so both forms of one document agree only after
// each has run once). "" (not cacheable) when neither applies, when the
// request carries an extension the cache does not know (it might change
// how the request runs), or when a text comes with a persisted-query hash
// that is not its own: execution refuses that request, so the cache must
// not answer it.
func documentID(p *graphql.RawParams) string {
	var apqHash string
	for name, v := range p.Extensions {
		if name != "persistedQuery" {
			return ""
		}
		pq, _ := v.(map[string]any)
		h, ok := pq["sha256Hash"].(string)
		if !ok || len(h) != 64 {
			return ""
		}
		apqHash = strings.ToLower(h)
	}
	if p.Query != "" {
		sum := sha256.Sum256([]byte(p.Query))
		id := hex.EncodeToString(sum[:])
		if apqHash != "" && apqHash != id {
			return ""
		}
		return "q:" + id
	}
	if apqHash != "" {
		return "apq:" + apqHash
	}
	return ""
}

// responseKey is the key of an answer: the normalized document, the
// operation name, the canonical variables and the principal, each
// length-prefixed so that no two combinations collide.
func responseKey(norm [sha256.Size]byte, opName string, vars []byte, principal string) string {
	h := sha256.New()
	h.Write(norm[:])
	for _, part := range [][]byte{[]byte(opName), vars, []byte(principal)} {
		var n [8]byte
		copy(n[:], strconv.AppendInt(nil, int64(len(part)), 16))
		h.Write(n[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// normalize hashes doc printed in a canonical form (no comments, no
// insignificant whitespace), so clients formatting one document
// differently share answers across replicas.
func normalize(doc *ast.QueryDocument) [sha256.Size]byte {
	var buf bytes.Buffer
	formatter.NewFormatter(&buf, formatter.WithCompacted()).FormatQueryDocument(doc)
	return sha256.Sum256(buf.Bytes())
}

func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// ETagMatches reports whether an If-None-Match header value matches etag
// (RFC 9110: a list of entity tags or "*", weak comparison).
func ETagMatches(ifNoneMatch, etag string) bool {
	for _, candidate := range strings.Split(ifNoneMatch, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == etag {
			return true
		}
	}
	return false
}

// entry is a stored answer.
type entry struct {
	key     string
	body    []byte
	etag    string
	stored  time.Time
	expires time.Time
	private bool
	deps    []cache.Dependency
	// The Cache-Control values of its answers, made once (newEntry)
	// rather than for every answer.
	publicCacheControl, privateCacheControl string
}

// newEntry completes e with what is derived from its fields.
func newEntry(e *entry) *entry {
	maxAge := ", max-age=" + strconv.Itoa(int(e.expires.Sub(e.stored)/time.Second))
	e.publicCacheControl = "public" + maxAge
	e.privateCacheControl = "private" + maxAge
	return e
}

func (e *entry) size() int64 {
	n := int64(len(e.body) + len(e.key) + len(e.etag) + 160)
	for _, d := range e.deps {
		n += int64(len(d.Key) + len(d.Version) + 32)
	}
	return n
}

// entryHeader is the shared tier's encoding of an entry's metadata, on
// the first line before the body.
type entryHeader struct {
	Stored  int64              `json:"s"`
	Expires int64              `json:"e"`
	Private bool               `json:"p,omitempty"`
	ETag    string             `json:"t"`
	Deps    []cache.Dependency `json:"d,omitempty"`
}

func encodeEntry(e *entry) []byte {
	h, _ := json.Marshal(entryHeader{Stored: e.stored.UnixMilli(), Expires: e.expires.UnixMilli(), Private: e.private, ETag: e.etag, Deps: e.deps})
	out := make([]byte, 0, len(h)+1+len(e.body))
	out = append(append(append(out, h...), '\n'), e.body...)
	return out
}

// decodeEntry reads an entry written by encodeEntry; the body must match
// its ETag, so a damaged or foreign value is never served.
func decodeEntry(key string, raw []byte) (*entry, error) {
	head, body, ok := bytes.Cut(raw, []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("response cache entry %s: no header", key)
	}
	var h entryHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("response cache entry %s: %w", key, err)
	}
	if etagOf(body) != h.ETag {
		return nil, fmt.Errorf("response cache entry %s: body does not match its tag", key)
	}
	return newEntry(&entry{
		key:     key,
		body:    body,
		etag:    h.ETag,
		stored:  time.UnixMilli(h.Stored),
		expires: time.UnixMilli(h.Expires),
		private: h.Private,
		deps:    h.Deps,
	}), nil
}

// memTier is the in-process tier: an LRU bounded by bytes.
type memTier struct {
	mu    sync.Mutex
	max   int64
	used  int64
	items map[string]*list.Element
	order list.List // front: most recently used
}

func newMemTier(maxBytes int64) *memTier {
	return &memTier{max: maxBytes, items: map[string]*list.Element{}}
}

func (m *memTier) get(key string) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil
	}
	m.order.MoveToFront(el)
	return el.Value.(*entry)
}

func (m *memTier) put(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[e.key]; ok {
		m.used -= el.Value.(*entry).size()
		m.order.Remove(el)
	}
	m.items[e.key] = m.order.PushFront(e)
	m.used += e.size()
	for m.used > m.max {
		oldest := m.order.Back()
		if oldest == nil {
			break
		}
		m.drop(oldest)
	}
}

func (m *memTier) remove(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.drop(el)
	}
}

func (m *memTier) drop(el *list.Element) {
	e := el.Value.(*entry)
	m.order.Remove(el)
	delete(m.items, e.key)
	m.used -= e.size()
}

func (m *memTier) size() (int64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used, len(m.items)
}

// plan is what the cache knows of a document: its normalized hash and
// the policy of each operation name it was asked for.
type plan struct {
	norm [sha256.Size]byte
	ops  map[string]Policy
}

// planTable remembers plans for the most recently used documents.
type planTable struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	order list.List
}

type planItem struct {
	id   string
	plan *plan
}

// maxOpsPerDocument bounds the operation names remembered per document;
// a document has one entry per operation it defines, and names the
// document does not define never execute.
const maxOpsPerDocument = 32

func newPlanTable(maxDocs int) *planTable {
	return &planTable{max: maxDocs, items: map[string]*list.Element{}}
}

func (t *planTable) lookup(id, opName string) (*plan, Policy, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.items[id]
	if !ok {
		return nil, Policy{}, false
	}
	t.order.MoveToFront(el)
	p := el.Value.(*planItem).plan
	policy, ok := p.ops[opName]
	return p, policy, ok
}

// learn records the policy of opName in document id and returns its plan.
func (t *planTable) learn(id, opName string, doc *ast.QueryDocument, policy Policy) *plan {
	t.mu.Lock()
	_, known := t.items[id]
	t.mu.Unlock()
	var norm [sha256.Size]byte
	if !known {
		norm = normalize(doc) // outside the lock: it prints the document
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.items[id]
	if ok {
		t.order.MoveToFront(el)
	} else {
		if known {
			// Evicted since the first look: never create a plan without
			// its document's hash, or two documents would share keys.
			norm = normalize(doc)
		}
		el = t.order.PushFront(&planItem{id: id, plan: &plan{norm: norm, ops: map[string]Policy{}}})
		t.items[id] = el
		for len(t.items) > t.max {
			oldest := t.order.Back()
			t.order.Remove(oldest)
			delete(t.items, oldest.Value.(*planItem).id)
		}
	}
	p := el.Value.(*planItem).plan
	if _, seen := p.ops[opName]; !seen && len(p.ops) < maxOpsPerDocument {
		// Plans are shared by readers; a new map keeps them consistent.
		ops := make(map[string]Policy, len(p.ops)+1)
		for k, v := range p.ops {
			ops[k] = v
		}
		ops[opName] = policy
		el.Value.(*planItem).plan = &plan{norm: p.norm, ops: ops}
		p = el.Value.(*planItem).plan
	}
	return p
}

// Bounds of the table by which Recall recognizes raw requests: it keeps
// what Begin decoded from a raw request (never a decision: the plan and
// the entry are looked up again, and the response key is reused only for
// the very credentials it was made for), for requests up to
// maxRecallBytes long, at most maxRecalls of them (at most 8 MiB, and
// 2 MiB of the last customer token each recall was asked with).
const (
	maxRecallBytes = 2 << 10
	maxRecalls     = 4096
)

// recall is what Begin decoded from a raw request, and the response key
// it last had.
type recall struct {
	docID  string
	opName string
	vars   []byte
	last   atomic.Pointer[recallKey]
}

// recallKey is a recall's response key for a document hash and the
// credentials of the request it was made for.
type recallKey struct {
	norm  [sha256.Size]byte
	key   *auth.APIKey
	token string
	// response is the response key.
	response string
}

// keyFor returns r's response key for a verified pr. Successive requests
// usually come with the credentials of the one before (a client polling
// its view), so the last key is kept and reused while the credentials
// are the same: the same API key (the same configured key, by identity)
// and the same customer token, byte for byte. That saves hashing the
// key, digesting the token and building the principal on every hit.
// A token longer than maxDigestedToken is never kept: the client sets
// its length, up to the HTTP server's header limit.
func (r *recall) keyFor(c *Cache, norm [sha256.Size]byte, pr auth.Principal) string {
	// SECURITY: reused only for exactly the credentials it was made for.
	if last := r.last.Load(); last != nil && last.norm == norm && last.key == pr.Key && last.token == pr.CustomerToken {
		return last.response
	}
	response := responseKey(norm, r.opName, r.vars, c.principalOf(pr))
	if len(pr.CustomerToken) <= maxDigestedToken {
		r.last.Store(&recallKey{norm: norm, key: pr.Key, token: pr.CustomerToken, response: response})
	}
	return response
}

// lruTable maps strings to values, evicting the least recently used past
// max; it keys by the whole string, so two lookups share a row only when
// their keys are byte for byte the same.
type lruTable[V any] struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	order list.List
}

type lruItem[V any] struct {
	key   string
	value V
}

func newLRUTable[V any](maxItems int) *lruTable[V] {
	return &lruTable[V]{max: maxItems, items: map[string]*list.Element{}}
}

func (t *lruTable[V]) get(key string) (V, bool) { return lruGet(t, key) }

// getBytes is get(string(key)) without copying key.
func (t *lruTable[V]) getBytes(key []byte) (V, bool) { return lruGet(t, key) }

// lruGet is get for either form of key: a map index by string(key) does
// not copy a []byte key.
func lruGet[V any, K string | []byte](t *lruTable[V], key K) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.items[string(key)]
	if !ok {
		var zero V
		return zero, false
	}
	t.order.MoveToFront(el)
	return el.Value.(*lruItem[V]).value, true
}

func (t *lruTable[V]) put(key string, v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.items[key]; ok {
		el.Value.(*lruItem[V]).value = v
		t.order.MoveToFront(el)
		return
	}
	t.items[key] = t.order.PushFront(&lruItem[V]{key: key, value: v})
	for len(t.items) > t.max {
		oldest := t.order.Back()
		t.order.Remove(oldest)
		delete(t.items, oldest.Value.(*lruItem[V]).key)
	}
}

type discard struct{}

func (discard) Outcome(string)  {}
func (discard) Stored(bool)     {}
func (discard) Size(int64, int) {}
