// Command loadgen measures the gateway under load in one bounded run: it
// starts the simulators (or uses an external cmd/upstream-sim), one or more
// gateway replicas and a raw net/http "floor" server that answers the same
// response bytes, drives each with the same concurrent load on loopback,
// and prints latency percentiles, throughput, the gateway/floor ratios and
// what the gateway asked of the upstreams meanwhile.
//
//	go run ./cmd/loadgen -duration 10s -concurrency 64 -latency 15ms
//	go run ./cmd/loadgen -replicas 3 -redis-url redis://127.0.0.1:6379/14
//
// It stops by itself at -duration per phase or at -max-requests per phase,
// whichever comes first, and never listens beyond 127.0.0.1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/serfigas/brilla-gateway/internal/edge/server"
)

func main() {
	// The in-process gateway runs with the collector settings cmd/gateway
	// gives it (GOGC, GOMEMLIMIT), so do the load client and the floor.
	server.ApplyRuntimeDefaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, performs the whole measurement and writes the report to
// stdout. It returns the process exit status: 0 on a clean run, 1 when the
// run could not be completed or the gateway answered with errors, 2 on bad
// flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %s\n", err)
		return 2
	}
	rep, err := measure(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %s\n", err)
		return 1
	}
	if o.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: write report: %s\n", err)
		return 1
	}
	if rep.Gateway.Errors > 0 || rep.Floor.Errors > 0 {
		return 1
	}
	return 0
}
