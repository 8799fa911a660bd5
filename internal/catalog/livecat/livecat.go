// Package livecat pushes catalog changes to subscribers: records created
// or updated in a SERPI company's branches, taxes and articles.
//
// Changes reach it two ways. The gateway's own writes are announced by the
// write itself (Announce) the moment SERPI has accepted them and they have
// been read back. Changes made by other systems are found by polling: for
// each SERPI company (secret key) with a subscriber anywhere, exactly one
// replica (the holder of the company's poller lease in Redis, renewed
// while it polls) walks each subscribed collection once per Period,
// compares the walk with the baseline (a fingerprint of every record as
// last announced), and announces the difference. The walk replaces the
// cached collection (catalog.Cached.Refresh), so it is also the cache's
// periodic refresh: polling adds no SERPI reads to what the cache alone
// makes, and the time of the last poll is shared, so a lease changing
// hands does not poll early.
//
// Every announcement travels on the invalidation bus (a topic of its own,
// cache.Topics), which with Redis reaches every replica before Publish
// returns; each replica hands it to its own subscribers of that company
// and collection. A write updates the baseline too, so the next poll does
// not announce it again.
//
// Each subscriber has a bounded buffer: one that falls Buffer changes
// behind is ended with ErrTooSlow rather than slowing anyone else. Without
// Redis the same runs in one process: its loop is the company's only
// poller.
package livecat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/catalog"
)

// Defaults of Options.
const (
	// DefaultPeriod is SERPI's pace: "query every 5 minutes".
	DefaultPeriod = 5 * time.Minute
	DefaultLease  = 30 * time.Second
	DefaultBuffer = 64
	DefaultPrefix = "gw:live:"
	// BusTopic is the invalidation bus topic changes travel on.
	BusTopic = "catalog-changes"
	// maxPerEvent bounds the changes of one bus message (a bulk write of
	// articles, a poll after a big import).
	maxPerEvent = 50
	// releaseTimeout bounds giving a lease up on the way out.
	releaseTimeout = time.Second
)

// Kind says what happened to a record.
type Kind string

// Kinds of change.
const (
	Created Kind = "CREATED"
	Updated Kind = "UPDATED"
)

// Source says how a change was seen.
type Source string

// Sources of a change.
const (
	// FromGateway is a write made through the gateway, announced at once.
	FromGateway Source = "GATEWAY"
	// FromPoll is a change found by comparing a walk of SERPI with the
	// baseline.
	FromPoll Source = "POLL"
)

// Change is one created or updated record.
type Change struct {
	Collection string          `json:"collection"`
	Kind       Kind            `json:"kind"`
	ID         int64           `json:"id"`
	Record     json.RawMessage `json:"record"`
	At         time.Time       `json:"at"`
	Source     Source          `json:"source"`
}

// ErrTooSlow ends a subscription whose reader fell a whole buffer behind.
var ErrTooSlow = apperr.New(apperr.RateLimited, "this subscription fell too far behind the catalog's changes and was ended; subscribe again and read the catalog for what changed meanwhile")

// ErrClosed ends subscriptions when the gateway shuts down.
var ErrClosed = apperr.New(apperr.Unavailable, "the gateway is shutting down; subscribe again")

// Catalog is the cached catalog (catalog.Cached).
type Catalog interface {
	// Check reads collection as a read would, verifying cred.
	Check(ctx context.Context, cred serpi.Credential, collection string) error
	// Snapshot returns collection as cached.
	Snapshot(ctx context.Context, cred serpi.Credential, collection string) (catalog.Records, error)
	// Refresh walks collection from SERPI and replaces the cached copy.
	Refresh(ctx context.Context, cred serpi.Credential, collection string) (catalog.Records, error)
}

var _ Catalog = (*catalog.Cached)(nil)

// Options configures a Hub.
type Options struct {
	// Catalog is read and refreshed by the poller. Required.
	Catalog Catalog
	// Bus carries changes to every replica (a topic of the invalidation
	// bus). Required.
	Bus cache.Bus
	// Redis holds the poller leases, the baselines, the last poll times
	// and which collections are wanted; nil keeps them in the process.
	Redis redis.UniversalClient
	// Prefix starts every Redis key; DefaultPrefix when empty.
	Prefix string
	// Period is how often a company's collections are walked.
	// DefaultPeriod when zero.
	Period time.Duration
	// Lease is how long a poller lease outlives a replica that stopped
	// renewing it (renewed every Lease/3, when replicas without it also
	// try to take it). DefaultLease when zero.
	Lease time.Duration
	// Buffer is how many changes a subscriber may fall behind before it
	// is ended with ErrTooSlow. DefaultBuffer when zero.
	Buffer int
	// Logger receives warnings; discarded when nil.
	Logger *slog.Logger
}

// Hub serves live catalog subscriptions. Safe for concurrent use.
type Hub struct {
	opts Options
	st   backend
	log  *slog.Logger
	id   string
	seq  atomic.Uint64
	// redisDown is set while Redis fails (logged once per outage).
	redisDown atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	companies map[string]*company
	closed    bool
}

// company is one SERPI company with subscribers in this process.
type company struct {
	id string
	// cred is a subscriber's credential: the poller reads with it (any
	// token of the secret key reads the same catalog).
	cred serpi.Credential
	subs map[*Subscription]struct{}
	// stop ends the company's loop; wake interrupts its wait (a
	// collection became wanted).
	stop context.CancelFunc
	wake chan struct{}
}

// Subscription is one subscriber. Read C until Done closes, then Err says
// why it ended.
type Subscription struct {
	// C receives the changes, in the order announced.
	C <-chan Change
	// Done closes when the hub ends the subscription.
	Done <-chan struct{}

	c           chan Change
	done        chan struct{}
	collections map[string]bool
	err         error // guarded by Hub.mu; set before done closes
}

// Err is why the hub ended the subscription (ErrTooSlow, ErrClosed); nil
// while it runs.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// New returns a hub subscribed to its bus; Close releases it.
func New(opts Options) *Hub {
	if opts.Catalog == nil || opts.Bus == nil {
		panic("livecat: Options.Catalog and Options.Bus are required")
	}
	if opts.Period <= 0 {
		opts.Period = DefaultPeriod
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{opts: opts, log: logger, id: hex.EncodeToString(id), ctx: ctx, cancel: cancel, companies: map[string]*company{}}
	// Baselines, leases and last poll times outlive a poller by a period:
	// a replica taking over compares with what was last announced.
	keep := 2*opts.Period + opts.Lease
	if opts.Redis != nil {
		h.st = &redisBackend{rdb: opts.Redis, prefix: opts.Prefix, keep: keep}
	} else {
		h.st = newMemoryBackend(keep)
	}
	if err := opts.Bus.Subscribe(ctx, h.received); err != nil {
		logger.Warn("live catalog: bus subscription not confirmed yet; other replicas' changes arrive once it is", "error", err)
	}
	return h
}

// Close ends every subscription (with ErrClosed) and every poller
// (releasing its lease), and waits for them.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, co := range h.companies {
		for s := range co.subs {
			h.end(s, ErrClosed)
		}
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// validCollection reports whether name is a collection.
func validCollection(name string) bool { return slices.Contains(catalog.Collections, name) }

// Subscribe starts a subscription to the changes of the collections
// (every collection when none is named) of cred's SERPI company. It first
// reads each collection as a catalog read would, so a credential SERPI
// refuses fails here. The subscription ends when ctx does.
func (h *Hub) Subscribe(ctx context.Context, cred serpi.Credential, collections []string) (*Subscription, error) {
	if len(collections) == 0 {
		collections = catalog.Collections
	}
	wanted := map[string]bool{}
	for _, c := range collections {
		if !validCollection(c) {
			return nil, apperr.BadInput("collections", "unknown collection %q", c)
		}
		wanted[c] = true
	}
	for c := range wanted {
		if err := h.opts.Catalog.Check(ctx, cred, c); err != nil {
			return nil, err
		}
	}
	c := make(chan Change, h.opts.Buffer)
	done := make(chan struct{})
	s := &Subscription{C: c, Done: done, c: c, done: done, collections: wanted}
	// SECURITY: a subscriber joins the company of its own credential's
	// secret key, and only that company's changes are ever handed to it
	// (received matches the company of each change).
	id := catalog.Company(cred)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	co := h.companies[id]
	if co == nil {
		co = &company{id: id, cred: cred, subs: map[*Subscription]struct{}{}, wake: make(chan struct{}, 1)}
		h.companies[id] = co
	}
	co.subs[s] = struct{}{}
	if co.stop == nil {
		lctx, stop := context.WithCancel(h.ctx)
		co.stop = stop
		h.wg.Add(1)
		go h.run(lctx, co)
	} else {
		poke(co.wake)
	}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() { h.leave(co, s) })
	return s, nil
}

// leave removes s; the last subscriber out stops the company's loop.
func (h *Hub) leave(co *company, s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(co, s)
}

// removeLocked removes s from co; h.mu is held.
func (h *Hub) removeLocked(co *company, s *Subscription) {
	delete(co.subs, s)
	if len(co.subs) == 0 && co.stop != nil {
		co.stop()
		co.stop = nil
		if h.companies[co.id] == co {
			delete(h.companies, co.id)
		}
	}
}

// end closes s with err; h.mu is held.
func (h *Hub) end(s *Subscription, err error) {
	select {
	case <-s.done:
	default:
		s.err = err
		close(s.done)
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// event is what travels on the bus: changes of one company.
type event struct {
	Company string   `json:"company"`
	Changes []Change `json:"changes"`
}

// received hands a bus message to this process's subscribers. It runs on
// the bus's goroutine and never blocks: a subscriber whose buffer is full
// is ended.
func (h *Hub) received(payload string) {
	if payload == "" {
		// The bus was interrupted: changes announced meanwhile were lost
		// for this replica's subscribers (pub/sub is at-most-once).
		h.log.Warn("live catalog: changes may have been missed while the bus was interrupted")
		return
	}
	var ev event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil || ev.Company == "" {
		h.log.Warn("live catalog: unreadable event ignored")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	co := h.companies[ev.Company]
	if co == nil {
		return
	}
	for s := range co.subs {
		for _, ch := range ev.Changes {
			if !s.collections[ch.Collection] {
				continue
			}
			select {
			case <-s.done:
			case s.c <- ch:
			default:
				// SECURITY (memory): a reader that does not keep up is
				// ended, not waited for, nor buffered without bound.
				h.end(s, ErrTooSlow)
				h.removeLocked(co, s)
			}
		}
	}
}

// Announce publishes changes the gateway itself made to collection of
// cred's company (records read back after a write), to every replica's
// subscribers, and records them in the baseline so that no poll announces
// them again.
func (h *Hub) Announce(ctx context.Context, cred serpi.Credential, collection string, kind Kind, records catalog.Records) error {
	if len(records) == 0 {
		return nil
	}
	id := catalog.Company(cred)
	wanted, err := h.st.wanted(ctx, id)
	if err != nil {
		h.log.WarnContext(ctx, "live catalog: could not tell whether anyone subscribes; announcing", "error", err)
		wanted = map[string]bool{collection: true}
	}
	if !wanted[collection] && !h.localWants(id, collection) {
		return nil // nobody subscribes to it anywhere
	}
	if err := h.st.noteWritten(ctx, id, collection, fingerprints(records)); err != nil {
		h.log.WarnContext(ctx, "live catalog: baseline not updated; the next poll announces this write again", "error", err)
	}
	now := time.Now().UTC()
	changes := make([]Change, 0, len(records))
	for _, rid := range sortedIDs(records) {
		changes = append(changes, Change{Collection: collection, Kind: kind, ID: rid, Record: records[rid], At: now, Source: FromGateway})
	}
	return h.publish(ctx, id, changes)
}

// localWants reports whether a subscriber here wants collection of
// company id.
func (h *Hub) localWants(id, collection string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wantsLocked(id)[collection]
}

// wantsLocked is the union of the collections wanted by company id's
// subscribers here; h.mu is held.
func (h *Hub) wantsLocked(id string) map[string]bool {
	out := map[string]bool{}
	if co := h.companies[id]; co != nil {
		for s := range co.subs {
			for c := range s.collections {
				out[c] = true
			}
		}
	}
	return out
}

// publish sends changes on the bus in messages of at most maxPerEvent.
func (h *Hub) publish(ctx context.Context, company string, changes []Change) error {
	var errs []error
	for chunk := range slices.Chunk(changes, maxPerEvent) {
		raw, err := json.Marshal(event{Company: company, Changes: chunk})
		if err != nil {
			return fmt.Errorf("livecat: encode event: %w", err)
		}
		if err := h.opts.Bus.Publish(ctx, string(raw)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("livecat: publish changes: %w", err)
	}
	return nil
}

// fingerprints hashes each record: two versions of a record differ in some
// field exactly when their fingerprints differ.
func fingerprints(records catalog.Records) map[int64]string {
	out := make(map[int64]string, len(records))
	for id, raw := range records {
		sum := sha256.Sum256(raw)
		out[id] = hex.EncodeToString(sum[:16])
	}
	return out
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// diff lists the records of fresh that base does not have (created) or
// holds with another fingerprint (updated), by id.
func diff(base, fresh map[int64]string, records catalog.Records, collection string, at time.Time) []Change {
	var out []Change
	for _, id := range sortedIDs(fresh) {
		old, known := base[id]
		switch {
		case !known:
			out = append(out, Change{Collection: collection, Kind: Created, ID: id, Record: records[id], At: at, Source: FromPoll})
		case old != fresh[id]:
			out = append(out, Change{Collection: collection, Kind: Updated, ID: id, Record: records[id], At: at, Source: FromPoll})
		}
	}
	return out
}
