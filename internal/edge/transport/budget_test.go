package transport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// budgetedBody reserves as bytes arrive, one block ahead at most, never
// past the request's own maximum, and gives everything back on release.
func TestBudgetedBody(t *testing.T) {
	tests := []struct {
		name        string
		bodyBytes   int
		budget, max int64
		wantErr     error
		wantRead    int
	}{
		{name: "small body reserves one block", bodyBytes: 10, budget: 1 << 20, max: 1 << 20, wantRead: 10},
		{name: "several blocks", bodyBytes: 200 << 10, budget: 1 << 20, max: 1 << 20, wantRead: 200 << 10},
		{name: "exactly its maximum in a budget of exactly that", bodyBytes: 100 << 10, budget: 100 << 10, max: 100 << 10, wantRead: 100 << 10},
		{name: "budget runs out part-way", bodyBytes: 300 << 10, budget: 128 << 10, max: 1 << 20, wantErr: errUploadBudgetFull, wantRead: 128 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			budget := NewUploadBudget(tc.budget)
			b := newBudgetedBody(bytes.NewReader(make([]byte, tc.bodyBytes)), budget, tc.max)
			read := 0
			buf := make([]byte, 48<<10)
			var err error
			for {
				var n int
				n, err = b.Read(buf)
				read += n
				if held := budget.InUse(); held > int64(read)+budgetBlockBytes || held > tc.max || held < int64(read) {
					t.Fatalf("after %d bytes read the request holds %d of the budget", read, held)
				}
				if err != nil {
					break
				}
			}
			if tc.wantErr == nil && !errors.Is(err, io.EOF) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if read != tc.wantRead {
				t.Fatalf("read %d bytes, want %d", read, tc.wantRead)
			}
			b.release()
			if n := budget.InUse(); n != 0 {
				t.Fatalf("%d bytes of budget held after release", n)
			}
		})
	}
}

// Chunked multipart requests that send a few bytes and stall hold one
// block each, not the maximum length: a real upload is still read while
// they wait. One that announces a length the budget cannot hold is refused
// at once with 503 RATE_LIMITED and Retry-After. (A stalled request that
// announced its length holds it until UploadIdleTimeout: see
// TestStalledAnnouncedUploadIsCutWhenIdle.)
func TestServeMultipart_StalledUploadsHoldWhatTheySent(t *testing.T) {
	const limit = 1 << 20
	budget := NewUploadBudget(2 * limit)
	h := New(Config{MaxBodyBytes: limit, MaxUploadBytes: limit, Uploads: budget})
	const boundary = "X"
	post := func(body io.Reader, contentLength int64) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/graphql", body)
		req.ContentLength = contentLength
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		rec := httptest.NewRecorder()
		h.Do(rec, req, nil)
		return rec
	}
	code := func(rec *httptest.ResponseRecorder) string {
		var res struct {
			Errors []struct {
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Errors) == 0 {
			t.Fatalf("not a coded refusal: %d %s", rec.Code, rec.Body)
		}
		c, _ := res.Errors[0].Extensions["code"].(string)
		return c
	}

	// Two stalled chunked requests (no length).
	var wg sync.WaitGroup
	var writers []*io.PipeWriter
	for _, length := range []int64{-1, -1} {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			post(pr, length)
		}()
		go func() { _, _ = pw.Write([]byte("--" + boundary)) }()
	}
	defer func() {
		for _, pw := range writers {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		wg.Wait()
		if n := budget.InUse(); n != 0 {
			t.Errorf("%d bytes of budget held after every request was answered", n)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for budget.InUse() < 2*budgetBlockBytes && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := budget.InUse(); n != 2*budgetBlockBytes {
		t.Fatalf("two stalled requests hold %d bytes of budget, want one block each (%d)", n, 2*budgetBlockBytes)
	}

	// A request of almost the maximum is read whole meanwhile: its
	// operations are not JSON, so the refusal is 400, not 503.
	junk := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n" +
		strings.Repeat("x", limit-1024) + "\r\n--" + boundary + "--\r\n"
	if rec := post(strings.NewReader(junk), -1); rec.Code != http.StatusBadRequest || code(rec) != "BAD_REQUEST" {
		t.Fatalf("a request within the budget beside stalled ones: %d %s", rec.Code, rec.Body)
	}

	// With most of the budget taken, a request announcing more than is
	// left is refused before a byte is read.
	if !budget.TryAcquire(budget.Max() - 2*budgetBlockBytes - 3*budgetBlockBytes) {
		t.Fatal("could not take the rest of the budget")
	}
	rec := post(strings.NewReader(junk), int64(len(junk)))
	if rec.Code != http.StatusServiceUnavailable || code(rec) != "RATE_LIMITED" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a request the budget cannot hold: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	budget.Release(budget.Max() - 2*budgetBlockBytes - 3*budgetBlockBytes)
	if n := budget.InUse(); n != 2*budgetBlockBytes {
		t.Fatalf("after the refusal the budget holds %d bytes, want the stalled requests' %d", n, 2*budgetBlockBytes)
	}
}

// A request that announced its length reserves it whole, so it cannot
// fail part-way; if it then stalls, the idle timeout cuts it (408) and the
// budget is whole again long before the request deadline.
func TestStalledAnnouncedUploadIsCutWhenIdle(t *testing.T) {
	const limit = 1 << 20
	budget := NewUploadBudget(2 * limit)
	h := New(Config{MaxBodyBytes: limit, MaxUploadBytes: limit, Uploads: budget, UploadIdleTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Do(w, r, nil) }))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=X\r\nContent-Length: %d\r\n\r\n--X", limit)
	deadline := time.Now().Add(5 * time.Second)
	for budget.InUse() != limit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := budget.InUse(); n != limit {
		t.Fatalf("an announced upload holds %d bytes, want its whole length %d", n, limit)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("a stalled upload answered %d, want 408", resp.StatusCode)
	}
	for budget.InUse() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := budget.InUse(); n != 0 {
		t.Fatalf("%d bytes still held after the stalled upload was cut", n)
	}
}
