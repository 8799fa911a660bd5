package serializer

import "context"

// Several calls in one turn.
//
// Every Serializer here is reentrant through the context: fn receives a
// context that records the turn it holds (which serializer, which key),
// and a Do with that context (or one derived from it) for the same key
// on the same serializer runs its fn at once, inside the turn already
// held, instead of queueing behind itself. A caller that must read,
// write and read again with nothing of another caller in between (a
// SERPI update that merges into the current record, a create whose
// read-back must not see a concurrent create) wraps the three calls in
// one Do and makes them with the context Do gave it.
//
// A context that does not come from fn (context.Background(), a request
// context) holds no turn, so unrelated callers still take turns.

// heldTurn identifies one turn: the serializer holding it and the key.
type heldTurn struct {
	owner any
	key   string
}

// turnsKey is the context key of the set of turns a context holds.
type turnsKey struct{}

// withTurn returns ctx recording that it holds owner's turn on key.
func withTurn(ctx context.Context, owner any, key string) context.Context {
	prev, _ := ctx.Value(turnsKey{}).([]heldTurn)
	held := make([]heldTurn, len(prev), len(prev)+1)
	copy(held, prev)
	return context.WithValue(ctx, turnsKey{}, append(held, heldTurn{owner: owner, key: key}))
}

// holdsTurn reports whether ctx holds owner's turn on key.
func holdsTurn(ctx context.Context, owner any, key string) bool {
	held, _ := ctx.Value(turnsKey{}).([]heldTurn)
	for _, h := range held {
		if h.owner == owner && h.key == key {
			return true
		}
	}
	return false
}
