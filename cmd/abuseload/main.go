// Command abuseload measures whether abuse from anonymous clients hurts a
// well-behaved one. Against a running gateway on loopback (for instance
// `go run ./cmd/gateway -demo -addr 127.0.0.1:8080`), it runs a paced
// "victim" catalog query with an API key, first alone and then while
// anonymous clients send the abuse of issue 9 (fragment fan-out, repeated
// fields, websocket inits that are not objects, maximum-size uploads), and
// prints the victim's p50/p99 latency in both phases, how the gateway
// answered each kind of abuse, and the gateway's highest resident memory
// (process_resident_memory_bytes from its /metrics) in each phase.
//
//	go run ./cmd/abuseload -url http://127.0.0.1:8080 -duration 30s
//
// Every run is bounded: at most -duration per phase (10 minutes at most),
// loopback targets only, a fixed number of abusive workers.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

const victimQuery = `{ taxes(first: 50) { totalCount edges { node { id description rate } } } }`

type options struct {
	role       string // "both" (victim here, abuse in a child process) or "abuse"
	url        string
	apiKey     string
	duration   time.Duration
	victimRate int
	uploaders  int
	wsWorkers  int
	docWorkers int
	fileBytes  int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "abuseload: %v\n", err)
		return 2
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	if o.role == "abuse" {
		counts := runAbuse(ctx, client, o)
		for k, v := range counts {
			fmt.Fprintf(stdout, "%d\t%s\n", v, k)
		}
		return 0
	}
	if err := victimOnce(ctx, client, o); err != nil {
		fmt.Fprintf(stderr, "abuseload: the victim query does not work against %s: %v\n", o.url, err)
		return 1
	}
	calm := phase(ctx, client, o, false)
	abused := phase(ctx, client, o, true)
	if abused.childErr != nil {
		fmt.Fprintf(stderr, "abuseload: the abuse process: %v\n", abused.childErr)
		return 1
	}
	fmt.Fprintf(stdout, "victim: %s, %d req/s, API key; %s per phase\n\n", "taxes(first: 50)", o.victimRate, o.duration)
	fmt.Fprintf(stdout, "| phase | victim requests | victim errors | p50 | p99 | max | gateway max RSS |\n|---|---|---|---|---|---|---|\n")
	for _, r := range []phaseResult{calm, abused} {
		fmt.Fprintf(stdout, "| %s | %d | %d | %s | %s | %s | %s |\n", r.name, len(r.latencies), r.errors,
			ms(pct(r.latencies, 0.50)), ms(pct(r.latencies, 0.99)), ms(pct(r.latencies, 1)), mib(r.maxRSS))
	}
	fmt.Fprintf(stdout, "\nabuse answered (kind: outcome count):\n")
	kinds := make([]string, 0, len(abused.abuse))
	for k := range abused.abuse {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(stdout, "  %s\n", k+": "+strconv.FormatInt(abused.abuse[k], 10))
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("abuseload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the gateway's base URL (loopback only)")
	fs.StringVar(&o.role, "role", "both", "both: measure the victim here and run the abuse in a child process; abuse: only the abuse (what the child runs), printing its outcome counts")
	fs.StringVar(&o.apiKey, "api-key", "demo-key", "the victim's API key (catalog:read)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of each phase (calm, then abused)")
	fs.IntVar(&o.victimRate, "victim-rate", 20, "victim requests per second (paced, so its own rate limit never trips)")
	fs.IntVar(&o.uploaders, "uploaders", 20, "anonymous workers sending maximum-size multipart registrations")
	fs.IntVar(&o.wsWorkers, "ws", 8, "anonymous workers opening websockets with a non-object connection_init payload and dropping them")
	fs.IntVar(&o.docWorkers, "docs", 4, "anonymous workers sending fragment fan-out and repeated-field documents")
	fs.IntVar(&o.fileBytes, "file-bytes", 14_700_000/3, "size of each of the three files of one upload")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "http" {
		return o, fmt.Errorf("-url: want http://127.0.0.1:PORT, got %q", o.url)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return o, fmt.Errorf("-url: abuse only ever targets loopback, got %q", u.Hostname())
	}
	o.url = strings.TrimRight(o.url, "/")
	if o.role != "both" && o.role != "abuse" {
		return o, errors.New("-role must be both or abuse")
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return o, errors.New("-duration must be within (0, 10m]")
	}
	if o.victimRate < 1 || o.victimRate > 1000 || o.uploaders < 0 || o.uploaders > 64 || o.wsWorkers < 0 || o.wsWorkers > 64 ||
		o.docWorkers < 0 || o.docWorkers > 64 || o.fileBytes < 16 || o.fileBytes > 64<<20 {
		return o, errors.New("-victim-rate 1..1000; -uploaders, -ws and -docs 0..64; -file-bytes 16..64 MiB")
	}
	return o, nil
}

type phaseResult struct {
	name      string
	latencies []time.Duration
	errors    int
	maxRSS    int64
	abuse     map[string]int64
	childErr  error
}

func phase(ctx context.Context, client *http.Client, o options, abuse bool) phaseResult {
	name := "calm"
	if abuse {
		name = "under abuse"
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	res := phaseResult{name: name, abuse: map[string]int64{}}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	wg.Go(func() { res.maxRSS = watchRSS(ctx, client, o.url) })
	if abuse {
		// The abuse runs in a process of its own: in this one its busy
		// goroutines would delay the victim's own client and measure the
		// load generator rather than the gateway.
		wg.Go(func() {
			counts, err := abuseChild(ctx, o)
			mu.Lock()
			defer mu.Unlock()
			res.abuse, res.childErr = counts, err
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(o.victimRate))
	defer tick.Stop()
	var inflight sync.WaitGroup
victim:
	for {
		select {
		case <-ctx.Done():
			break victim
		case <-tick.C:
			inflight.Go(func() {
				start := time.Now()
				outcome := post(context.Background(), client, o.url+"/graphql", victimQuery, o.apiKey)
				d := time.Since(start)
				mu.Lock()
				defer mu.Unlock()
				if outcome != "200 ok" {
					res.errors++
					return
				}
				res.latencies = append(res.latencies, d)
			})
		}
	}
	inflight.Wait()
	wg.Wait()
	slices.Sort(res.latencies)
	return res
}

// abuseChild runs this command with -role abuse for the phase and returns
// the outcome counts it prints.
func abuseChild(ctx context.Context, o options) (map[string]int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	deadline, _ := ctx.Deadline()
	cmd := exec.Command(self, "-role", "abuse", "-url", o.url, "-duration", time.Until(deadline).Round(time.Millisecond).String(),
		"-uploaders", strconv.Itoa(o.uploaders), "-ws", strconv.Itoa(o.wsWorkers), "-docs", strconv.Itoa(o.docWorkers),
		"-file-bytes", strconv.Itoa(o.fileBytes))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	counts := map[string]int64{}
	for line := range strings.Lines(string(out)) {
		n, kind, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if v, err := strconv.ParseInt(n, 10, 64); ok && err == nil {
			counts[kind] += v
		}
	}
	return counts, nil
}

// runAbuse sends the abuse for o.duration and counts the outcomes.
func runAbuse(ctx context.Context, client *http.Client, o options) map[string]int64 {
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		counts = map[string]int64{}
	)
	count := func(kind, outcome string) {
		mu.Lock()
		counts[kind+" → "+outcome]++
		mu.Unlock()
	}
	// Bodies are built once: the abuse should cost the gateway, not this
	// process.
	uploadBody, uploadType := uploadRequest(o)
	for range o.uploaders {
		wg.Go(func() { loop(ctx, func() { count("upload", upload(ctx, client, o.url, uploadBody, uploadType)) }) })
	}
	for range o.wsWorkers {
		wg.Go(func() { loop(ctx, func() { count("websocket init [1]", badWebsocket(ctx, o)) }) })
	}
	for i := range o.docWorkers {
		doc, kind := fanOut(28), "fragment fan-out"
		if i%2 == 1 {
			doc, kind = repeated(16_000), "16,000 __typename"
		}
		wg.Go(func() { loop(ctx, func() { count(kind, post(ctx, client, o.url+"/graphql", doc, "")) }) })
	}
	wg.Wait()
	return counts
}

func loop(ctx context.Context, f func()) {
	for ctx.Err() == nil {
		f()
	}
}

func victimOnce(ctx context.Context, client *http.Client, o options) error {
	if out := post(ctx, client, o.url+"/graphql", victimQuery, o.apiKey); out != "200 ok" {
		return errors.New(out)
	}
	return nil
}

// post sends a GraphQL query and sums the answer up as "status code".
func post(ctx context.Context, client *http.Client, endpoint, query, apiKey string) string {
	body := fmt.Appendf(nil, `{"query":%s}`, strconv.Quote(query))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "request error"
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("X-Api-Key", apiKey)
	}
	return outcome(client.Do(req))
}

func outcome(resp *http.Response, err error) string {
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return "cut by the phase's end"
		}
		return "transport error"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	code := "ok"
	if i := bytes.Index(b, []byte(`"code":"`)); i >= 0 {
		rest := b[i+len(`"code":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			code = string(rest[:j])
		}
	} else if !bytes.Contains(b, []byte(`"data":{`)) {
		code = "no data, no code"
	}
	return strconv.Itoa(resp.StatusCode) + " " + code
}

// fanOut is a document whose fragment i spreads fragment i+1 twice:
// 2^levels fields once expanded, from a body of a kilobyte or two.
func fanOut(levels int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { __typename }\n", levels)
	return b.String()
}

func repeated(n int) string {
	return "{ " + strings.Repeat("__typename ", n) + "}"
}

var registerMutation = `mutation($in: RegisterInput!) { register(input: $in) { trackingCode } }`

// uploadRequest builds a registration with three maximum-size documents.
func uploadRequest(o options) ([]byte, string) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	ops := `{"query":` + strconv.Quote(registerMutation) + `,"variables":{"in":{"vat":"1012345678","vatType":"CEDULA","name":"Ana Pérez","email":"ana@example.com","phone":"3001234567","contractNumber":"12345678","birthDate":"1990-05-20","birthCity":"Barranquilla","idExpeditionDate":"2008-06-01","idExpeditionCity":"Barranquilla","address":"Calle 72","city":"Barranquilla","attachments":[{"name":"a.pdf","file":null},{"name":"b.pdf","file":null},{"name":"c.pdf","file":null}]}}}`
	_ = w.WriteField("operations", ops)
	_ = w.WriteField("map", `{"0":["variables.in.attachments.0.file"],"1":["variables.in.attachments.1.file"],"2":["variables.in.attachments.2.file"]}`)
	file := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{'a'}, o.fileBytes-9)...)
	for i := range 3 {
		part, _ := w.CreateFormFile(strconv.Itoa(i), strconv.Itoa(i)+".pdf")
		_, _ = part.Write(file)
	}
	_ = w.Close()
	return body.Bytes(), w.FormDataContentType()
}

// upload sends the registration body.
func upload(ctx context.Context, client *http.Client, base string, body []byte, contentType string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return "request error"
	}
	req.Header.Set("Content-Type", contentType)
	return outcome(client.Do(req))
}

// badWebsocket opens a graphql-transport-ws connection, sends a
// connection_init whose payload is not an object and drops the connection
// after a moment without closing it properly.
func badWebsocket(ctx context.Context, o options) string {
	wsURL := "ws" + strings.TrimPrefix(o.url, "http") + "/graphql"
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		if resp != nil {
			return "refused " + strconv.Itoa(resp.StatusCode)
		}
		if ctx.Err() != nil {
			return "cut by the phase's end"
		}
		return "dial error"
	}
	defer c.CloseNow()
	if err := c.Write(dctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":[1]}`)); err != nil {
		return "write error"
	}
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	defer rcancel()
	_, _, err = c.Read(rctx)
	switch status := websocket.CloseStatus(err); {
	case status != -1:
		return "closed by the gateway " + strconv.Itoa(int(status))
	case err == nil:
		return "answered"
	case rctx.Err() != nil && ctx.Err() == nil:
		return "left open by the gateway (dropped by the client)"
	default:
		return "connection ended"
	}
}

// watchRSS samples the gateway's resident memory from its /metrics until
// ctx ends, and returns the highest value seen (0 when /metrics has none).
func watchRSS(ctx context.Context, client *http.Client, base string) int64 {
	var highest int64
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if v := readRSS(client, base); v > highest {
			highest = v
		}
		select {
		case <-ctx.Done():
			return highest
		case <-t.C:
		}
	}
}

func readRSS(client *http.Client, base string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms" }

func mib(b int64) string {
	if b == 0 {
		return "n/a"
	}
	return strconv.FormatInt(b>>20, 10) + " MiB"
}
