// Package degrade is the one switch every Redis-backed component flips
// when Redis goes away: it says whether to try the primary (Redis) or go
// straight to the per-process fallback, lets one probe through per
// interval while degraded, and logs each transition once.
package degrade

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultProbeInterval is how often a degraded Gate lets a call probe the
// primary.
const DefaultProbeInterval = 2 * time.Second

// Gate tracks one component's view of its primary. The zero value is
// usable (healthy, silent, DefaultProbeInterval).
type Gate struct {
	// Name prefixes the log messages, e.g. "ratelimit".
	Name string
	// Logger receives the transitions; nil logs nothing.
	Logger *slog.Logger
	// ProbeInterval bounds probes while degraded.
	ProbeInterval time.Duration

	degraded  atomic.Bool
	nextProbe atomic.Int64 // unix nanos
}

// TryPrimary reports whether this call should use the primary: always
// while healthy, once per interval while degraded.
func (g *Gate) TryPrimary() bool {
	if !g.degraded.Load() {
		return true
	}
	next := g.nextProbe.Load()
	now := time.Now()
	if now.UnixNano() < next {
		return false
	}
	return g.nextProbe.CompareAndSwap(next, now.Add(g.interval()).UnixNano())
}

// Succeeded records that the primary worked.
func (g *Gate) Succeeded() {
	if g.degraded.CompareAndSwap(true, false) && g.Logger != nil {
		g.Logger.Info(g.Name + ": redis is back")
	}
}

// Failed records that the primary failed with err.
func (g *Gate) Failed(err error) {
	g.nextProbe.Store(time.Now().Add(g.interval()).UnixNano())
	if g.degraded.CompareAndSwap(false, true) && g.Logger != nil {
		g.Logger.Warn(g.Name+": redis unavailable; using the per-process fallback", "error", err.Error())
	}
}

// Degraded reports whether the primary is currently considered down.
func (g *Gate) Degraded() bool { return g.degraded.Load() }

func (g *Gate) interval() time.Duration {
	if g.ProbeInterval > 0 {
		return g.ProbeInterval
	}
	return DefaultProbeInterval
}
