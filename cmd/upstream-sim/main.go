// Command upstream-sim serves the Brilla and SERPI simulators as their own
// HTTP server, for multi-replica runs, load tests and frontend development:
//
//	go run ./cmd/upstream-sim -latency 15ms
//
// Brilla answers under /api/brilla/v1/..., SERPI under /api/v1/..., and the
// control endpoints under /_sim/ (stats, reset, faults).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, addr, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "upstream-sim: %s\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "upstream-sim: listen on %s: %s\n", addr, err)
		return 1
	}
	s := sim.New(cfg)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "upstream-sim listening on %s\n", base)
	fmt.Fprintf(stdout, "  Brilla:  %s/api/brilla/v1/...   (demo customer vat %s, contract %s, question 1, answer %q)\n",
		base, brilla.DemoCustomers[0].Vat, brilla.DemoCustomers[0].ContractNumber, brilla.DemoCustomers[0].Answer)
	fmt.Fprintf(stdout, "  SERPI:   %s/api/v1/{Sucursales,Impuesto,Articulo}   (secretkey demo-secret, Bearer demo-token)\n", base)
	fmt.Fprintf(stdout, "  Control: GET %s/_sim/stats, POST /_sim/reset, POST|DELETE /_sim/faults\n", base)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "upstream-sim: %s\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "upstream-sim: shutdown: %s\n", err)
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer) (sim.Config, string, error) {
	fs := flag.NewFlagSet("upstream-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	latency := fs.Duration("latency", 0, "latency added to every call, e.g. 15ms")
	regDelay := fs.Duration("registration-delay", 30*time.Second, "delay before a registration reaches its final state")
	branches := fs.Int("branches", 300, "number of simulated SERPI branches")
	taxes := fs.Int("taxes", 120, "number of simulated SERPI taxes")
	articles := fs.Int("articles", 500, "number of simulated SERPI articles")
	tokens := fs.String("serpi-tokens", "", "comma-separated extra SERPI tokens accepted with secret key demo-secret")
	seed := fs.Uint64("seed", 1, "seed of the generated data")
	if err := fs.Parse(args); err != nil {
		return sim.Config{}, "", err
	}
	if fs.NArg() > 0 {
		return sim.Config{}, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var problems []string
	if *latency < 0 || *regDelay < 0 {
		problems = append(problems, "-latency and -registration-delay must not be negative")
	}
	if *branches < 1 || *taxes < 1 || *articles < 1 {
		problems = append(problems, "-branches, -taxes and -articles must be at least 1")
	}
	if len(problems) > 0 {
		return sim.Config{}, "", errors.New(strings.Join(problems, "; "))
	}
	accepted := []string{"demo-token"}
	for _, t := range strings.Split(*tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			accepted = append(accepted, t)
		}
	}
	return sim.Config{
		Latency: *latency,
		Brilla:  brilla.SimConfig{RegistrationDelay: *regDelay, Seed: *seed},
		Serpi: serpi.SimConfig{
			Branches:    *branches,
			Taxes:       *taxes,
			Articles:    *articles,
			Seed:        *seed,
			Credentials: map[string][]string{"demo-secret": accepted},
		},
	}, *addr, nil
}
