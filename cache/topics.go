package cache

import (
	"context"
	"strings"
	"sync"
)

// Topics shares one Bus between several subscribers of different kinds
// of notice: a RedisBus takes a single subscription (one pub/sub
// connection per replica), yet the catalog's invalidations and the live
// catalog's change events both travel on it.
//
// The default topic ("") carries keys exactly as published, so replicas
// that know nothing of topics (an older release during a rolling deploy)
// still exchange invalidations with this one. A named topic prefixes its
// messages with "\x00name\x00", which no cache key starts with; a replica
// without a subscriber for a topic ignores its messages (an older one takes
// them for a key it holds nothing under). The empty key
// (notices may have been lost) reaches every topic's subscribers.
//
// Each published message still goes through the underlying bus, so a
// RedisBus's Publish waits for every replica to have handled it,
// whatever its topic.
type Topics struct {
	bus Bus

	mu      sync.Mutex
	next    int
	subs    map[string]map[int]func(string)
	started bool
	// err is how subscribing the underlying bus went (nil: confirmed).
	err    error
	cancel context.CancelFunc
	closed bool
}

// NewTopics shares bus. Close closes it.
func NewTopics(bus Bus) *Topics {
	return &Topics{bus: bus, subs: map[string]map[int]func(string){}}
}

// topicMark starts and ends a named topic's prefix.
const topicMark = "\x00"

// Topic returns the Bus of one topic; "" is the default topic.
func (t *Topics) Topic(name string) Bus { return &topic{t: t, name: name} }

// Close ends every subscription and closes the underlying bus.
func (t *Topics) Close() error {
	t.mu.Lock()
	t.closed = true
	cancel := t.cancel
	clear(t.subs)
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return t.bus.Close()
}

// subscribe adds fn to topic name and subscribes the underlying bus the
// first time. Its error is the underlying subscription's (see Bus): the
// subscription keeps trying in the background where the bus does.
func (t *Topics) subscribe(ctx context.Context, name string, fn func(string)) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrBusClosed
	}
	id := t.next
	t.next++
	if t.subs[name] == nil {
		t.subs[name] = map[int]func(string){}
	}
	t.subs[name][id] = fn
	start := !t.started
	t.started = true
	var base context.Context
	if start {
		base, t.cancel = context.WithCancel(context.Background())
	}
	t.mu.Unlock()
	context.AfterFunc(ctx, func() {
		t.mu.Lock()
		delete(t.subs[name], id)
		t.mu.Unlock()
	})
	if !start {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.err
	}
	// The one underlying subscription outlives any single subscriber: it
	// ends with Close.
	err := t.bus.Subscribe(base, t.dispatch)
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
	return err
}

// dispatch hands one message of the underlying bus to its topic's
// handlers (every handler for the empty key), from the bus's goroutine.
func (t *Topics) dispatch(msg string) {
	name, payload := "", msg
	if rest, ok := strings.CutPrefix(msg, topicMark); ok {
		var found bool
		name, payload, found = strings.Cut(rest, topicMark)
		if !found || name == "" {
			return // not a message of ours
		}
	}
	t.mu.Lock()
	var fns []func(string)
	for topic, subs := range t.subs {
		if msg == "" || topic == name {
			for _, fn := range subs {
				fns = append(fns, fn)
			}
		}
	}
	t.mu.Unlock()
	// Handlers run without the lock, so one may publish or subscribe.
	for _, fn := range fns {
		fn(payload)
	}
}

// topic is one topic's view of Topics.
type topic struct {
	t    *Topics
	name string
}

var _ Bus = (*topic)(nil)

func (p *topic) Publish(ctx context.Context, key string) error {
	if p.name != "" {
		key = topicMark + p.name + topicMark + key
	}
	return p.t.bus.Publish(ctx, key)
}

func (p *topic) Subscribe(ctx context.Context, fn func(string)) error {
	return p.t.subscribe(ctx, p.name, fn)
}

// Close closes every topic: the underlying bus is shared.
func (p *topic) Close() error { return p.t.Close() }
