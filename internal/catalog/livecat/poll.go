package livecat

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
)

// run is company co's loop in this process, while it has subscribers
// here: every Lease/3 it says which collections they want (for the
// poller, wherever it runs), renews or tries to take the company's poller
// lease and, holding it, polls when the period is due.
func (h *Hub) run(ctx context.Context, co *company) {
	defer h.wg.Done()
	owner := fmt.Sprintf("%s:%d", h.id, h.seq.Add(1))
	leased := false
	defer func() {
		if leased {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			h.note(h.st.release(rctx, co.id, owner))
			cancel()
		}
	}()
	tick := time.NewTicker(max(h.opts.Lease/3, time.Millisecond))
	defer tick.Stop()
	// due is when this replica, holding the lease, polls next; zero until
	// it has read when the last poll (anywhere) was.
	var due time.Time
	for ctx.Err() == nil {
		h.mu.Lock()
		local, cred := h.wantsLocked(co.id), co.cred
		h.mu.Unlock()
		h.note(h.st.want(ctx, co.id, slices.Collect(maps.Keys(local)), h.opts.Lease))

		solo := false
		if leased {
			ok, err := h.st.renew(ctx, co.id, owner, h.opts.Lease)
			h.note(err)
			leased = ok || err != nil // on a Redis error keep polling; the lease may lapse
		}
		if !leased {
			ok, err := h.st.acquire(ctx, co.id, owner, h.opts.Lease)
			h.note(err)
			leased, solo = ok, err != nil
		}
		var timer *time.Timer
		if leased || solo {
			if due.IsZero() {
				due = h.start(ctx, co.id, cred, local)
			} else {
				h.baselines(ctx, co.id, cred, local)
			}
			if !time.Now().Before(due) {
				h.poll(ctx, co, cred, owner, leased)
				due = time.Now().Add(h.opts.Period)
			}
			timer = time.NewTimer(time.Until(due))
		} else {
			due = time.Time{}                // another replica polls; read its time when taking over
			timer = time.NewTimer(time.Hour) // the tick comes first
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		case <-timer.C:
		case <-co.wake:
		}
		timer.Stop()
	}
}

// start prepares a poller that just took the lease: baselines for the
// collections wanted here, and when the next poll is due (a period after
// the last one, wherever it ran; a period from now when there was none,
// the baselines just read counting as one).
func (h *Hub) start(ctx context.Context, id string, cred serpi.Credential, local map[string]bool) time.Time {
	h.baselines(ctx, id, cred, local)
	last, ok, err := h.st.lastPoll(ctx, id)
	h.note(err)
	if !ok {
		last = time.Now()
		h.note(h.st.setLastPoll(ctx, id, last))
	}
	return last.Add(h.opts.Period)
}

// baselines makes sure each wanted collection has a baseline, taking the
// cached collection (a read as any other: it walks SERPI only when nothing
// is cached) where none is kept.
func (h *Hub) baselines(ctx context.Context, id string, cred serpi.Credential, wanted map[string]bool) {
	for _, collection := range slices.Sorted(maps.Keys(wanted)) {
		ok, err := h.st.hasBaseline(ctx, id, collection)
		h.note(err)
		if ok {
			continue
		}
		records, err := h.opts.Catalog.Snapshot(ctx, cred, collection)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("live catalog: could not read the collection to compare with", "collection", collection, "error", err)
			}
			continue
		}
		h.note(h.st.saveBaseline(ctx, id, collection, fingerprints(records)))
	}
}

// poll walks every collection wanted anywhere, compares each walk with its
// baseline and announces the difference. The lease is renewed while it
// runs: a walk of a large collection takes many turns of the token.
func (h *Hub) poll(ctx context.Context, co *company, cred serpi.Credential, owner string, leased bool) {
	if leased {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		h.wg.Add(1)
		go h.keepLease(pctx, co.id, owner)
	}
	wanted, err := h.st.wanted(ctx, co.id)
	h.note(err)
	h.mu.Lock()
	for c := range h.wantsLocked(co.id) {
		wanted[c] = true
	}
	h.mu.Unlock()
	// A collection wanted only on other replicas may have no baseline yet:
	// the cached copy is the one to compare with.
	h.baselines(ctx, co.id, cred, wanted)
	h.note(h.st.setLastPoll(ctx, co.id, time.Now()))
	for _, collection := range slices.Sorted(maps.Keys(wanted)) {
		fresh, err := h.opts.Catalog.Refresh(ctx, cred, collection)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("live catalog: poll failed; next try in one period", "collection", collection, "error", err)
			}
			continue
		}
		prints := fingerprints(fresh)
		// The baseline is read after the walk, so that a write announced
		// while the walk ran (it updated the baseline) is not announced
		// again.
		base, known, err := h.st.baseline(ctx, co.id, collection)
		h.note(err)
		h.note(h.st.saveBaseline(ctx, co.id, collection, prints))
		if !known {
			continue // nothing to compare with: from now on
		}
		if changes := diff(base, prints, fresh, collection, time.Now().UTC()); len(changes) > 0 {
			if err := h.publish(ctx, co.id, changes); err != nil {
				h.log.Warn("live catalog: changes not confirmed by every replica", "collection", collection, "changes", len(changes), "error", err)
			}
		}
	}
}

// keepLease renews the lease every Lease/3 until ctx ends.
func (h *Hub) keepLease(ctx context.Context, id, owner string) {
	defer h.wg.Done()
	t := time.NewTicker(max(h.opts.Lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := h.st.renew(ctx, id, owner, h.opts.Lease)
			h.note(err)
		}
	}
}

// note logs once when Redis starts failing and once when it is back (the
// callers carry on: without the lease, each replica polls for its own
// subscribers).
func (h *Hub) note(err error) {
	if err == nil {
		if h.redisDown.CompareAndSwap(true, false) {
			h.log.Info("live catalog: Redis is back; replicas share one poller per company again")
		}
		return
	}
	if h.ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	if h.redisDown.CompareAndSwap(false, true) {
		h.log.Warn("live catalog: Redis unavailable; this replica polls for its own subscribers until it is back", "error", err)
	}
}
