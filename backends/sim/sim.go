// Package sim runs the Brilla and SERPI simulators together behind one
// handler with shared counters and faults, as cmd/upstream-sim, the
// gateway's -demo mode and the tests use them.
package sim

import (
	"net/http"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/simkit"
)

// Config configures both simulators.
type Config struct {
	// Latency is added to every upstream call.
	Latency time.Duration
	Brilla  brilla.SimConfig
	Serpi   serpi.SimConfig
}

// Sim is both simulators and their control endpoints.
type Sim struct {
	Control *simkit.Control
	Brilla  *brilla.Simulator
	Serpi   *serpi.Simulator
	handler http.Handler
}

// New builds both simulators with shared counters.
func New(cfg Config) *Sim {
	ctl := simkit.NewControl(cfg.Latency)
	s := &Sim{
		Control: ctl,
		Brilla:  brilla.NewSimulator(cfg.Brilla, ctl),
		Serpi:   serpi.NewSimulator(cfg.Serpi, ctl),
	}
	mux := http.NewServeMux()
	s.Brilla.Register(mux)
	s.Serpi.Register(mux)
	mux.Handle("/_sim/", ctl.Handler())
	s.handler = mux
	return s
}

// Handler serves the Brilla paths (/api/brilla/v1/...), the SERPI paths
// (/api/v1/...) and /_sim/.
func (s *Sim) Handler() http.Handler { return s.handler }
