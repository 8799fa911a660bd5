// Package deadline owns the request deadline's context: one that reports
// its deadline from the start but arms a timer only when something waits
// on it.
//
// Every request gets a deadline, but most never wait on one: an answer
// from the response cache is written without an upstream call, a channel
// or a child context. context.WithTimeout would still allocate a timer, a
// channel and a place among its parent's children, and take the parent's
// lock twice, for each of them: a tenth of such an answer's CPU. The
// context here costs two small allocations until its Done or Err is asked
// for, and from then on is an ordinary context.WithDeadline.
package deadline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// WithDeadline is context.WithDeadline(parent, d) whose timer is armed on
// first use: the first call to Done or Err, by the caller or by a context
// derived from it. Deadline reports d (or parent's deadline, when that is
// sooner) from the start; Value sees parent's values. Calling cancel
// releases the timer if it was armed, and cancels the context either way.
func WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	if cur, ok := parent.Deadline(); ok && cur.Before(d) {
		d = cur
	}
	c := &lazyContext{parent: parent, deadline: d}
	return c, c.cancel
}

type lazyContext struct {
	parent   context.Context
	deadline time.Time
	armed    atomic.Pointer[armedContext]
	mu       sync.Mutex // serializes arming and canceling
	canceled bool
}

type armedContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// arm returns the real deadline context, creating it on first use. Armed
// late, it ends with the error the context would have ended with first,
// as far as can be told without a timer: Canceled when cancel was called,
// DeadlineExceeded when the deadline has passed (even if the parent has
// since been canceled too), else the parent's state.
func (c *lazyContext) arm() *armedContext {
	if a := c.armed.Load(); a != nil {
		return a
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.armed.Load(); a != nil {
		return a
	}
	var ctx context.Context
	var cancel context.CancelFunc
	switch {
	case c.canceled:
		ctx, cancel = context.WithCancel(c.parent)
		cancel()
	case !time.Now().Before(c.deadline):
		// Already past: detached from the parent, so that a parent
		// canceled since does not make the timeout look like one.
		ctx, cancel = context.WithDeadline(context.WithoutCancel(c.parent), c.deadline)
	default:
		ctx, cancel = context.WithDeadline(c.parent, c.deadline)
	}
	a := &armedContext{ctx: ctx, cancel: cancel}
	c.armed.Store(a)
	return a
}

func (c *lazyContext) cancel() {
	c.mu.Lock()
	c.canceled = true
	a := c.armed.Load()
	c.mu.Unlock()
	if a != nil {
		a.cancel()
	}
}

// Deadline implements context.Context.
func (c *lazyContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context; it arms the timer.
func (c *lazyContext) Done() <-chan struct{} { return c.arm().ctx.Done() }

// Err implements context.Context; it arms the timer, which reports a
// deadline already past at once.
func (c *lazyContext) Err() error { return c.arm().ctx.Err() }

// Value implements context.Context. Once armed it asks the armed context,
// which answers for parent's values and also lets the context package
// recognize it as a cancelable parent: a context derived from this one
// is then canceled with it directly, not by a goroutine watching it.
func (c *lazyContext) Value(key any) any {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// String names the context in fmt output, as the context package's do.
func (c *lazyContext) String() string {
	return "deadline.WithDeadline(" + c.deadline.String() + ")"
}
