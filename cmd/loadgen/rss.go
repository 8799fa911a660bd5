package main

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rssEvery is how often an external gateway's /metrics is read.
const rssEvery = 250 * time.Millisecond

// sampleRSS reads process_resident_memory_bytes from metricsURL every
// rssEvery until the returned function is called, which returns the
// largest value seen (0 when none could be read).
func sampleRSS(client *http.Client, metricsURL string) func() int64 {
	var (
		peak int64
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(rssEvery)
		defer tick.Stop()
		for {
			if v, ok := readRSS(client, metricsURL); ok {
				peak = max(peak, v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func readRSS(client *http.Client, metricsURL string) (int64, bool) {
	v, ok := readMetric(client, metricsURL, "process_resident_memory_bytes")
	return int64(v), ok
}

// readGatewayCPU is the CPU time an external gateway has used, from its
// /metrics (process_cpu_seconds_total, 10 ms resolution).
func readGatewayCPU(client *http.Client, metricsURL string) (time.Duration, bool) {
	v, ok := readMetric(client, metricsURL, "process_cpu_seconds_total")
	return time.Duration(v * float64(time.Second)), ok
}

func readMetric(client *http.Client, metricsURL, name string) (float64, bool) {
	resp, err := client.Get(metricsURL)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseMetric(body.Bytes(), name)
}

// parseMetric finds an unlabelled sample of the Prometheus text format.
func parseMetric(metrics []byte, name string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// processCPU is the user plus system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
