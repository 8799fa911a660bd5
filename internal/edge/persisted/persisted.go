// Package persisted stores Automatic Persisted Queries in the shared cache
// (so a hash registered on one replica works on every other) and
// implements trusted documents: a mode where only operations from a
// configured manifest may run, as production frontends deploy them.
package persisted

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// DefaultTTL keeps a registered APQ hash for a week after its last use.
const DefaultTTL = 7 * 24 * time.Hour

// MaxQueryBytes bounds what one APQ entry may hold.
const MaxQueryBytes = 64 << 10

// Store is the APQ cache (graphql.Cache[string]) over a cache.Store.
type Store struct {
	store  cache.Store
	prefix string
	ttl    time.Duration
	accept func(query string) bool
}

// NewStore keeps APQ entries in store under prefix for ttl (DefaultTTL
// when <= 0). gqlgen registers a hash before it validates the query, so
// accept (when not nil) decides what may be stored: a valid document
// within the gateway's limits, not whatever an anonymous caller sends.
func NewStore(store cache.Store, prefix string, ttl time.Duration, accept func(query string) bool) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Store{store: store, prefix: prefix, ttl: ttl, accept: accept}
}

var _ graphql.Cache[string] = (*Store)(nil)

// Get implements graphql.Cache. A failing store reads as a miss: the
// client then sends the full query, which still works.
func (s *Store) Get(ctx context.Context, hash string) (string, bool) {
	e, ok, err := s.store.Get(ctx, s.prefix+hash)
	if err != nil || !ok {
		return "", false
	}
	return string(e.Value), true
}

// Add implements graphql.Cache.
func (s *Store) Add(ctx context.Context, hash, query string) {
	if len(query) > MaxQueryBytes || (s.accept != nil && !s.accept(query)) {
		return
	}
	_ = s.store.Set(ctx, s.prefix+hash, cache.Entry{Value: []byte(query), StoredAt: time.Now()}, s.ttl)
}

// Manifest is the set of trusted operations, by SHA-256 of their text.
type Manifest struct {
	byHash map[string]string
}

// LoadManifest reads a trusted-documents manifest: either Apollo's
// persisted query manifest
// ({"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id","name","type","body"}]})
// or a plain JSON object mapping SHA-256 hex to operation text. Every id
// must be the SHA-256 of its body.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted documents: %w", err)
	}
	return ParseManifest(data)
}

// ParseManifest parses manifest bytes (see LoadManifest).
func ParseManifest(data []byte) (*Manifest, error) {
	var apollo struct {
		Format     string `json:"format"`
		Operations []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	byHash := map[string]string{}
	if err := json.Unmarshal(data, &apollo); err == nil && apollo.Format != "" {
		for _, op := range apollo.Operations {
			byHash[op.ID] = op.Body
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&byHash); err != nil {
			return nil, fmt.Errorf("trusted documents: want an Apollo persisted query manifest or a {sha256: query} object: %w", err)
		}
	}
	if len(byHash) == 0 {
		return nil, errors.New("trusted documents: the manifest has no operations")
	}
	for id, body := range byHash {
		if Hash(body) != id {
			return nil, fmt.Errorf("trusted documents: id %.16s… is not the SHA-256 of its operation", id)
		}
	}
	return &Manifest{byHash: byHash}, nil
}

// Len is the number of trusted operations.
func (m *Manifest) Len() int { return len(m.byHash) }

// OperationNames lists the names of the manifest's operations (for the
// metrics' operation label); unnamed and unparsable ones are skipped.
func (m *Manifest) OperationNames() []string {
	var names []string
	for _, body := range m.byHash {
		doc, err := parser.ParseQuery(&ast.Source{Input: body})
		if err != nil {
			continue
		}
		for _, op := range doc.Operations {
			if op.Name != "" {
				names = append(names, op.Name)
			}
		}
	}
	return names
}

// Hash is the SHA-256 hex of an operation's text, as APQ computes it.
func Hash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// Trusted is a gqlgen extension that lets only the manifest's operations
// run. A client may send the full text (it must match an entry byte for
// byte) or only its hash in extensions.persistedQuery.sha256Hash (the
// transport maps a GraphQL-over-HTTP documentId, "sha256:<hex>", onto it).
type Trusted struct {
	Manifest *Manifest
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = Trusted{}

// ExtensionName implements graphql.HandlerExtension.
func (Trusted) ExtensionName() string { return "TrustedDocuments" }

// Validate implements graphql.HandlerExtension.
func (t Trusted) Validate(graphql.ExecutableSchema) error {
	if t.Manifest == nil {
		return errors.New("trusted documents: no manifest")
	}
	return nil
}

// MutateOperationParameters implements graphql.OperationParameterMutator.
func (t Trusted) MutateOperationParameters(_ context.Context, raw *graphql.RawParams) *gqlerror.Error {
	hash := ""
	if pq, ok := raw.Extensions["persistedQuery"].(map[string]any); ok {
		hash, _ = pq["sha256Hash"].(string)
	}
	if raw.Query == "" {
		query, ok := t.Manifest.byHash[hash]
		if !ok {
			return forbidden("unknown persisted operation; this endpoint runs trusted documents only")
		}
		raw.Query = query
		return nil
	}
	if _, ok := t.Manifest.byHash[Hash(raw.Query)]; !ok {
		// SECURITY: arbitrary operations are refused in trusted mode.
		return forbidden("this operation is not a trusted document; this endpoint runs trusted documents only")
	}
	return nil
}

func forbidden(msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	err.Extensions = map[string]any{"code": string(apperr.Forbidden)}
	return err
}
