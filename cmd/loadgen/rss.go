package main

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	resp, err := client.Get(metricsURL)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return parseRSS(body.Bytes())
}

// parseRSS finds the Prometheus process collector's resident memory.
func parseRSS(metrics []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(metrics))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		value, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}
