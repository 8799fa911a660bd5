package limits

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Defaults of the admission limits that only the text of a document
// decides.
const (
	// DefaultMaxTokens bounds parsing. GraphiQL's full introspection query
	// is about 300 tokens and the largest operations the gateway's clients
	// send are a few hundred: 10,000 leaves room for generated clients'
	// fragments while refusing a 1 MiB wall of fields at the parser.
	DefaultMaxTokens = 10_000
	// DefaultMaxFields bounds the field selections of an operation once
	// its fragments are expanded. GraphiQL's introspection query expands
	// to about 180; the complexity limit refuses most operations far
	// below this anyway, once validation has run.
	DefaultMaxFields = 2_000
	// DefaultMaxFieldRepeats bounds how often one place of the response
	// is selected (Cost.FieldRepeats): validation compares those
	// selections pairwise, so a document within both limits costs it at
	// most about 2,000 x 100 comparisons. Real documents repeat a field a
	// few times (the same id from several fragments).
	DefaultMaxFieldRepeats = 100
	// FieldPairsPerRepeat derives the bound on Cost.FieldPairs from
	// MaxFieldRepeats: validation reports one error per conflicting pair,
	// so 100 places selected 100 times each with different arguments
	// would build 44,550 errors (a 10 MB answer) from a 26 KB document.
	// Real documents have a few dozen pairs (an id selected by several
	// fragments); 50 x 100 = 5,000 pairs is a bounded answer.
	FieldPairsPerRepeat = 50
	// DefaultVerdictCacheEntries is how many admitted documents are
	// remembered, by SHA-256 of their text.
	DefaultVerdictCacheEntries = 10_000
)

// Limits is what an admitted document must respect. Zero or negative
// turns a limit off.
type Limits struct {
	MaxTokens       int
	MaxDepth        int
	MaxAliases      int
	MaxFields       int
	MaxFieldRepeats int
	NoIntrospection bool
}

// check returns the first limit cost exceeds, as a refusal naming the
// limit and the measured value (never the document's content).
func (l Limits) check(c Cost) *gqlerror.Error {
	switch {
	case l.MaxDepth > 0 && c.Depth > l.MaxDepth:
		return refuse("operation is %d levels deep; the depth limit is %d", c.Depth, l.MaxDepth)
	case l.MaxAliases > 0 && c.Aliases > l.MaxAliases:
		return refuse("operation uses %s aliases; the limit is %d", formatCount(c.Aliases), l.MaxAliases)
	case l.MaxFields > 0 && c.Fields > l.MaxFields:
		return refuse("operation selects %s fields once its fragments are expanded; the limit is %d", formatCount(c.Fields), l.MaxFields)
	case l.MaxFieldRepeats > 0 && c.FieldRepeats > l.MaxFieldRepeats:
		return refuse("operation selects one field %s times in the same place; the limit is %d", formatCount(c.FieldRepeats), l.MaxFieldRepeats)
	case l.MaxFieldRepeats > 0 && c.FieldPairs > l.MaxFieldRepeats*FieldPairsPerRepeat:
		return refuse("operation has %s pairs of selections of the same response places; the limit is %d", formatCount(c.FieldPairs), l.MaxFieldRepeats*FieldPairsPerRepeat)
	case l.NoIntrospection && c.Introspection:
		return refuse("introspection is disabled on this endpoint")
	case c.FragmentCycle:
		err := gqlerror.Errorf("fragments spread each other in a cycle")
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	return nil
}

// admit measures doc and checks it against l. Repeated fields are counted
// last, and only in a document within the other limits, which bound that
// count's work.
func (l Limits) admit(doc *ast.QueryDocument) *gqlerror.Error {
	c, m := measure(doc)
	if err := l.check(c); err != nil {
		return err
	}
	if err := singleRootSubscriptions(doc); err != nil {
		return err
	}
	if l.MaxFieldRepeats > 0 {
		c.FieldRepeats, c.FieldPairs = m.fieldRepeats(doc)
		return l.check(c)
	}
	return nil
}

// Admission refuses an abusive document before gqlgen parses and
// validates it (validation is where a fragment fan-out or a wall of
// repeated fields costs seconds). Install it with handler.Server.Use
// after the persisted-query extensions, so it sees the text a hash
// resolves to; every transport goes through it. Admitted texts are
// remembered by hash, so the usual path is one lookup.
type Admission struct {
	limits   Limits
	verdicts *lru.LRU[struct{}]
	// measured counts documents parsed and measured (verdict cache misses).
	measured atomic.Int64
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*Admission)(nil)

// NewAdmission returns an admission step for limits that remembers up to
// cacheEntries admitted documents (DefaultVerdictCacheEntries when <= 0).
// The verdict is a function of the text and the limits alone, so it never
// goes stale and needs no coordination with gqlgen's query cache: a
// document gqlgen has cached was admitted first, and one whose verdict
// was evicted is measured again.
func NewAdmission(limits Limits, cacheEntries int) *Admission {
	if cacheEntries <= 0 {
		cacheEntries = DefaultVerdictCacheEntries
	}
	return &Admission{limits: limits, verdicts: lru.New[struct{}](cacheEntries)}
}

// ExtensionName implements graphql.HandlerExtension.
func (*Admission) ExtensionName() string { return "Admission" }

// Validate implements graphql.HandlerExtension.
func (*Admission) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters implements graphql.OperationParameterMutator:
// it runs before gqlgen parses the query.
func (a *Admission) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	return a.Admit(ctx, raw.Query)
}

// Admit parses query with the token limit and measures it; it returns a
// refusal (GRAPHQL_PARSE_FAILED for a document that does not parse,
// BAD_USER_INPUT for one over a limit) or nil.
func (a *Admission) Admit(ctx context.Context, query string) *gqlerror.Error {
	if query == "" {
		return nil // gqlgen answers "no operation provided"
	}
	sum := sha256.Sum256([]byte(query))
	key := string(sum[:])
	if _, ok := a.verdicts.Get(ctx, key); ok {
		return nil
	}
	a.measured.Add(1)
	doc, err := a.parse(query)
	if err != nil {
		return err
	}
	if err := a.limits.admit(doc); err != nil {
		return err
	}
	a.verdicts.Add(ctx, key, struct{}{})
	return nil
}

// Accepts reports whether Admit admits query (for stores that must only
// keep admissible documents).
func (a *Admission) Accepts(query string) bool {
	return a.Admit(context.Background(), query) == nil
}

func (a *Admission) parse(query string) (*ast.QueryDocument, *gqlerror.Error) {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, max(a.limits.MaxTokens, 0))
	if err == nil {
		return doc, nil
	}
	var gqlErr *gqlerror.Error
	if !errors.As(err, &gqlErr) {
		gqlErr = gqlerror.Errorf("the document does not parse")
	}
	if a.limits.MaxTokens > 0 && gqlErr.Message == fmt.Sprintf("exceeded token limit of %d", a.limits.MaxTokens) {
		// gqlparser's own message for it; the parser stops at the limit,
		// so the real count is unknown.
		return nil, refuse("document has more than %d tokens; the limit is %d", a.limits.MaxTokens, a.limits.MaxTokens)
	}
	errcode.Set(gqlErr, errcode.ParseFailed)
	return nil, gqlErr
}

// singleRootSubscriptions refuses a subscription that selects more than
// one root field. The spec's rule counts response keys, and gqlparser's
// misses two aliases of one field, which then fail inside gqlgen as an
// internal error rather than as the caller's document.
func singleRootSubscriptions(doc *ast.QueryDocument) *gqlerror.Error {
	for _, op := range doc.Operations {
		if op.Operation != ast.Subscription {
			continue
		}
		if n := rootFields(doc, op.SelectionSet, map[string]bool{}); n > 1 {
			err := gqlerror.Errorf("a subscription selects exactly one root field; this one selects %d", n)
			errcode.Set(err, errcode.ValidationFailed)
			return err
		}
	}
	return nil
}

// rootFields counts the fields of set, through its fragments (each named
// fragment once: a cycle is validation's to refuse).
func rootFields(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) int {
	n := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			n++
		case *ast.InlineFragment:
			n += rootFields(doc, sel.SelectionSet, seen)
		case *ast.FragmentSpread:
			if f := doc.Fragments.ForName(sel.Name); f != nil && !seen[sel.Name] {
				seen[sel.Name] = true
				n += rootFields(doc, f.SelectionSet, seen)
			}
		}
	}
	return n
}
