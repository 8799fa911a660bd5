package observability

import (
	"io"
	"sync"
	"time"
)

// Defaults of NewLogBuffer.
const (
	DefaultLogBufferBytes = 64 << 10
	DefaultLogFlushEvery  = 200 * time.Millisecond
)

// LogBuffer batches log lines into few writes: an access-log line per
// request written straight to stderr costs a system call each, about a
// tenth of a cached answer's CPU. Lines are written whole, in order, when
// the buffer fills, every flush interval, and on Close, so a line reaches
// the output at most one interval late (zap's BufferedWriteSyncer makes
// the same trade). A write larger than the buffer goes through at once.
type LogBuffer struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	size int

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewLogBuffer buffers up to size bytes (DefaultLogBufferBytes when <= 0)
// for out, flushed every interval (DefaultLogFlushEvery when <= 0) until
// Close.
func NewLogBuffer(out io.Writer, size int, every time.Duration) *LogBuffer {
	if size <= 0 {
		size = DefaultLogBufferBytes
	}
	if every <= 0 {
		every = DefaultLogFlushEvery
	}
	b := &LogBuffer{out: out, buf: make([]byte, 0, size), size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushEvery(every)
	return b
}

// Write implements io.Writer. p is one log line: it is kept whole.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.size {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > b.size {
		return b.out.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered.
func (b *LogBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *LogBuffer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close stops the periodic flush and flushes what is left; writes after
// Close go straight through.
func (b *LogBuffer) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	b.size = 0 // every later write goes through at once
	return err
}

func (b *LogBuffer) flushEvery(every time.Duration) {
	defer close(b.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}
