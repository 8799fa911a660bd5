package streams

import (
	"net/http"
	"sync"
	"time"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// DefaultWebsocketsPerAddress is how many websockets one client address
// may hold open at once when AddressCap.Max is zero.
const DefaultWebsocketsPerAddress = 64

// addressRetry is the Retry-After of a refused upgrade: a slot frees
// only when one of the address's websockets ends, which the refused
// client cannot know, so it is told to wait a little and try again.
const addressRetry = 5 * time.Second

// AddressCap counts the open websockets of each client address and
// refuses an upgrade beyond Max: the upgrade rate limit alone lets one
// address pile up idle (pinged, hence never timed out) connections. Its
// zero value is not usable; build it with NewAddressCap.
type AddressCap struct {
	max  int
	addr func(*http.Request) string

	mu   sync.Mutex
	open map[string]int
}

// NewAddressCap caps each address at max open websockets
// (DefaultWebsocketsPerAddress when max <= 0); addr tells a request's
// client address (requests whose address is "" share one count).
func NewAddressCap(max int, addr func(*http.Request) string) *AddressCap {
	return &AddressCap{max: orDefault(max, DefaultWebsocketsPerAddress), addr: addr, open: map[string]int{}}
}

// acquire takes a slot for r's address; release (safe to call more than
// once) frees it. It reports false, taking nothing, when the address
// already holds max websockets.
func (a *AddressCap) acquire(r *http.Request) (release func(), ok bool) {
	key := a.addr(r)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open[key] >= a.max {
		return nil, false
	}
	a.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.open[key]--; a.open[key] <= 0 {
				delete(a.open, key)
			}
		})
	}, true
}

// Open reports how many websockets addr holds open.
func (a *AddressCap) Open(addr string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.open[addr]
}

// refuse answers an upgrade over the cap: 429 RATE_LIMITED with
// retryAfterSeconds, before any handshake.
func (a *AddressCap) refuse(w http.ResponseWriter) {
	apperr.WriteRefusal(w, "", http.StatusTooManyRequests, &apperr.Error{
		Code:       apperr.RateLimited,
		Message:    "this address already holds the most websockets allowed at once: close one, or try again later",
		RetryAfter: addressRetry,
	})
}
