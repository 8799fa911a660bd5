package transport

import "sync"

// UploadBudget bounds the bytes of multipart requests the process holds at
// once. A multipart request reserves its Content-Length (or the whole
// upload limit when it has none) before a byte is read, reads at most
// that, and gives it back only after its answer is written, so the
// resolvers' own copies of the files (register checks each document and
// sends it to Brilla as base64 in JSON) are covered too.
//
// Why a budget for in-memory buffers rather than temporary files: register
// needs every document in memory anyway (it sniffs, hashes and base64-
// encodes each one for Brilla's JSON API), so spooling to disk would only
// add a copy and a writable directory without lowering the peak; what
// bounds the peak is how many uploads run at once. A request that does not
// fit is refused at once (503 RATE_LIMITED with Retry-After) instead of
// queueing: a queue would hold the client's connection and bytes in the
// kernel without bound.
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
