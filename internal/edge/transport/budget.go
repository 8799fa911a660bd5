package transport

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// UploadBudget bounds the bytes of multipart requests the process holds at
// once. A multipart request reserves budget as its bytes arrive, one
// 64 KiB block ahead of what it has read (see budgetedBody), never more
// than its own maximum (its Content-Length, or the upload limit when it
// has none), and gives all of it back only after its answer is written, so
// the resolvers' own copies of the files (register checks each document
// and sends it to Brilla as base64 in JSON) are covered too. A client that
// sends a few bytes and stalls therefore holds one block, not the length
// it announced: stalled requests cannot starve real uploads. A request
// that announces its Content-Length reserves it whole before reading
// (reserveAll), so that the uploads admitted under contention complete;
// it is refused at once when it does not fit, and cut when it stalls for
// UploadIdleTimeout.
//
// Why a budget for in-memory buffers rather than temporary files: register
// needs every document in memory anyway (it sniffs, hashes and base64-
// encodes each one for Brilla's JSON API), so spooling to disk would only
// add a copy and a writable directory without lowering the peak; what
// bounds the peak is how many uploads run at once. A request that does not
// fit is refused at once (503 RATE_LIMITED with Retry-After) instead of
// queueing: a queue would hold the client's connection and bytes in the
// kernel without bound. A request whose next block does not fit is
// refused the same way, part-way through, and gives back what it held.
type UploadBudget struct {
	mu   sync.Mutex
	max  int64
	used int64
}

// NewUploadBudget returns a budget of max bytes.
func NewUploadBudget(max int64) *UploadBudget { return &UploadBudget{max: max} }

// TryAcquire reserves n bytes if they fit, without waiting.
func (b *UploadBudget) TryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 || b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// Release gives back n bytes reserved by TryAcquire.
func (b *UploadBudget) Release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// InUse is the number of bytes reserved now.
func (b *UploadBudget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Max is the budget's size.
func (b *UploadBudget) Max() int64 { return b.max }

// budgetBlockBytes is how far ahead of the bytes read a request reserves:
// one file chunk, the most a read can need before its bytes are counted.
const budgetBlockBytes = fileChunkBytes

// errUploadBudgetFull is returned by budgetedBody.Read when the budget
// cannot cover the request's next block.
var errUploadBudgetFull = errors.New("transport: the upload budget is full")

// budgetedBody reads a request body within an UploadBudget: before a read
// goes past what is reserved it reserves the next block (at most max bytes
// in all, the request's own maximum), and refuses with errUploadBudgetFull
// when the block does not fit. Every read is cut to what is reserved, so the request never holds
// a byte the budget does not cover. Not safe for concurrent use (one
// request's handler reads it); release gives everything back.
type budgetedBody struct {
	r        io.Reader
	budget   *UploadBudget
	max      int64 // the most this request may reserve
	reserved int64
	read     int64
}

// newBudgetedBody reads r within budget, reserving at most max bytes.
func newBudgetedBody(r io.Reader, budget *UploadBudget, max int64) *budgetedBody {
	return &budgetedBody{r: r, budget: budget, max: max}
}

// Read implements io.Reader.
func (b *budgetedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	room := b.reserved - b.read
	switch {
	case room > 0:
	case b.reserved >= b.max:
		// The request has read its maximum: one byte more can only be
		// the end of the body or the byte that makes it too long (the
		// caller's http.MaxBytesReader refuses it), so it goes through
		// unreserved, and a request of exactly max bytes needs no more
		// than max.
		room = 1
	default:
		block := min(budgetBlockBytes, b.max-b.reserved)
		if !b.budget.TryAcquire(block) {
			return 0, errUploadBudgetFull
		}
		b.reserved += block
		room = block
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// reserveAll reserves the request's whole maximum at once, if it fits: a
// request that announced its length then never fails part-way for want of
// budget, so under contention the admitted uploads finish rather than all
// of them starting and none completing. A stalled one is cut by the idle
// timeout (idleReads) and gives its reservation back.
func (b *budgetedBody) reserveAll() bool {
	rest := b.max - b.reserved
	if rest <= 0 {
		return true
	}
	if !b.budget.TryAcquire(rest) {
		return false
	}
	b.reserved += rest
	return true
}

// release gives back everything the body reserved.
func (b *budgetedBody) release() {
	b.budget.Release(b.reserved)
	b.reserved, b.read = 0, 0
}

// UploadIdleTimeout cuts a multipart request whose body stops arriving:
// no byte for this long ends it (408) and gives its budget back, so a
// client that announces a large upload and stalls holds the budget for
// seconds, not for the whole request deadline. Slow mobile links still
// send something every few seconds.
const UploadIdleTimeout = 10 * time.Second

// idleReads extends the connection's read deadline before every read to
// UploadIdleTimeout from now, never past the request's own deadline.
type idleReads struct {
	r        io.Reader
	rc       *http.ResponseController
	deadline time.Time // the request's; zero: none
	idle     time.Duration
}

// Read implements io.Reader.
func (i *idleReads) Read(p []byte) (int, error) {
	next := time.Now().Add(i.idle)
	if !i.deadline.IsZero() && i.deadline.Before(next) {
		next = i.deadline
	}
	_ = i.rc.SetReadDeadline(next)
	return i.r.Read(p)
}
