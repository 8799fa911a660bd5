package model

import "time"

// CatalogChange is one record created or updated in the live catalog
// (Subscription.catalogChanges). It is written by hand, not generated, so
// that the last event of a subscription the gateway ends can carry the
// reason: record resolves to Failure, which the response reports with its
// code (and the stream then completes).
type CatalogChange struct {
	Collection CatalogCollection   `json:"collection"`
	Kind       CatalogChangeKind   `json:"kind"`
	Source     CatalogChangeSource `json:"source"`
	SerpiID    int                 `json:"serpiId"`
	// Payload is the changed record; nil when Failure is set.
	Payload CatalogRecord `json:"-"`
	At      time.Time     `json:"at"`
	// Failure ends the subscription: why it was ended.
	Failure error `json:"-"`
}
