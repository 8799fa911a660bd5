package resolvers

import (
	"context"

	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/registration/regwatch"
)

// RegistrationWatcher follows registrations until Brilla decides them;
// *regwatch.Hub implements it.
type RegistrationWatcher interface {
	// Watch sends the current state, then each change, and closes the
	// channel after a final state or when ctx ends.
	Watch(ctx context.Context, trackingCode string) (<-chan *model.Registration, error)
	// Current returns the state, final states from the shared state,
	// others from Brilla.
	Current(ctx context.Context, trackingCode string) (*model.Registration, error)
}

var _ RegistrationWatcher = (*regwatch.Hub)(nil)

// RegistrationFetcher reads a registration's state from Brilla as a
// GraphQL model: the poll regwatch runs.
func RegistrationFetcher(b BrillaAPI) regwatch.Fetcher {
	return func(ctx context.Context, code string) (*model.Registration, error) {
		status, err := b.RegistrationStatus(ctx, code)
		if err != nil {
			return nil, err
		}
		return toRegistration(status, code), nil
	}
}
