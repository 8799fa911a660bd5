package observability

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serfigas/brilla-gateway/internal/testutil"
)

// lockedBuilder counts the writes that reach the output.
type lockedBuilder struct {
	mu     sync.Mutex
	b      strings.Builder
	writes int
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuilder) state() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLogBufferKeepsLinesWholeInOrderAndFlushes(t *testing.T) {
	out := &lockedBuilder{}
	b := NewLogBuffer(out, 64, time.Hour) // no periodic flush in this test
	var want strings.Builder
	for i := range 20 {
		line := strings.Repeat(string(rune('a'+i)), 10) + "\n"
		want.WriteString(line)
		if _, err := b.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	got, writes := out.state()
	if writes == 0 || writes >= 20 {
		t.Fatalf("%d writes reached the output for 20 lines in a 64-byte buffer", writes)
	}
	if !strings.HasPrefix(want.String(), got) || len(got)%11 != 0 {
		t.Fatalf("output is not whole lines in order: %q", got)
	}
	long := strings.Repeat("z", 100) + "\n"
	_, _ = b.Write([]byte(long))
	want.WriteString(long)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.state(); got != want.String() {
		t.Fatalf("after Close the output is %q, want %q", got, want.String())
	}
	// After Close every write goes straight through.
	_, _ = b.Write([]byte("late\n"))
	if got, _ := out.state(); !strings.HasSuffix(got, "late\n") {
		t.Fatal("a write after Close was held back")
	}
}

func TestLogBufferFlushesPeriodicallyAndLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	out := &lockedBuilder{}
	b := NewLogBuffer(out, 1<<10, 10*time.Millisecond)
	_, _ = b.Write([]byte("one line\n"))
	testutil.WaitUntil(t, "the periodic flush", func() bool {
		got, _ := out.state()
		return got == "one line\n"
	})
	_ = b.Close()
	testutil.WaitUntil(t, "the flusher to end", func() bool { return runtime.NumGoroutine() <= before })
}
