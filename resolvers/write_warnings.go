package resolvers

import (
	"context"
	"encoding/json"
	"math"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/internal/catalog/catalogwrite"
)

// WarningStaleElsewhere is the code of the response warning a catalog
// write adds when other replicas could not be told of it.
const WarningStaleElsewhere = "STALE_ELSEWHERE"

// warningsExtension is the response extension holding warnings:
// {"extensions": {"warnings": [{"code", "message", ...}]}}.
const warningsExtension = "warnings"

// Warning is one entry of the response's extensions.warnings.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Path is the root field the warning is about.
	Path string `json:"path,omitempty"`
	// MaxStaleSeconds bounds how long other replicas may serve the old
	// value (STALE_ELSEWHERE).
	MaxStaleSeconds int `json:"maxStaleSeconds,omitempty"`
}

// warningList collects an operation's warnings; one operation can run
// several mutations, and gqlgen registers an extension key once.
type warningList struct {
	mu    sync.Mutex
	items []Warning
}

// MarshalJSON writes the warnings as a JSON array.
func (w *warningList) MarshalJSON() ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return json.Marshal(w.items)
}

// addWarning appends a warning to the response's extensions.warnings.
// Mutation fields run one after another, so reading then registering the
// extension does not race.
func addWarning(ctx context.Context, w Warning) {
	if !graphql.HasOperationContext(ctx) {
		return
	}
	list, ok := graphql.GetExtension(ctx, warningsExtension).(*warningList)
	if !ok {
		list = &warningList{}
		graphql.RegisterExtension(ctx, warningsExtension, list)
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		w.Path = fc.Path().String()
	}
	list.mu.Lock()
	list.items = append(list.items, w)
	list.mu.Unlock()
}

// reportWrite tells the caller what a successful write could not
// guarantee: that its record was told apart (an UPSTREAM_ERROR error next
// to the payload, whose record is null) and that other replicas were told
// of it (a STALE_ELSEWHERE warning with the bound).
func reportWrite(ctx context.Context, unresolved *catalogwrite.Unidentified, stale *catalogwrite.Staleness) {
	if unresolved != nil {
		// The write succeeded; only its record could not be identified.
		// (A code of its own, such as WRITE_RESULT_AMBIGUOUS, would let
		// clients tell this apart; apperr has none yet.)
		graphql.AddError(ctx, apperr.New(apperr.UpstreamError,
			"%s. Read the collection before changing any of these records.", unresolved.Message))
	}
	if stale != nil {
		secs := int(math.Ceil(stale.MaxStale.Seconds()))
		addWarning(ctx, Warning{
			Code: WarningStaleElsewhere,
			Message: "the write was applied, but the other gateway replicas could not be told of it (shared cache unreachable); " +
				"they may serve the old value for up to maxStaleSeconds",
			MaxStaleSeconds: secs,
		})
	}
}
