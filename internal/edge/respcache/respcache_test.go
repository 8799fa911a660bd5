package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/serfigas/brilla-gateway/cache"
	"github.com/serfigas/brilla-gateway/internal/auth"
)

const testSchema = `
directive @cacheControl(maxAge: Int, scope: CacheControlScope) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
enum CacheControlScope { PUBLIC PRIVATE }
interface Node { id: ID! }
type Query {
  items: [Item!]!
  me: Me
  node(id: ID!): Node
  quick: Item @cacheControl(maxAge: 5)
  secret: Item @cacheControl(maxAge: 100, scope: PRIVATE)
  count: Int
}
type Mutation { touch: Int }
type Item implements Node @cacheControl(maxAge: 60) { id: ID! name: String owner: Owner detail: Detail }
type Owner @cacheControl(maxAge: 30, scope: PRIVATE) { name: String }
type Detail { text: String }
type Me @cacheControl(maxAge: 20, scope: PRIVATE) { name: String }
`

func TestPolicyFollowsTheHints(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Name: "s.graphql", Input: testSchema})
	for _, tc := range []struct {
		name, query string
		want        Policy
	}{
		{"object type hint", `{ items { id name } }`, Policy{MaxAge: 60 * time.Second}},
		{"smallest maxAge, private wins", `{ items { owner { name } } }`, Policy{MaxAge: 30 * time.Second, Private: true}},
		{"field hint over type hint", `{ quick { name } }`, Policy{MaxAge: 5 * time.Second}},
		{"field hint and scope over the type's", `{ secret { id } }`, Policy{MaxAge: 100 * time.Second, Private: true}},
		{"typename inherits", `{ items { __typename id } }`, Policy{MaxAge: 60 * time.Second}},
		{"fragments count once each", `{ items { ...F ...F } quick { ...F } } fragment F on Item { owner { name } }`, Policy{MaxAge: 5 * time.Second, Private: true}},
		{"inline fragment", `{ items { ... on Item { owner { name } } } }`, Policy{MaxAge: 30 * time.Second, Private: true}},
		{"unhinted composite field", `{ items { detail { text } } }`, Policy{}},
		{"unhinted interface", `{ node(id: "1") { id } }`, Policy{}},
		{"unhinted root leaf inherits nothing", `{ count }`, Policy{}},
		{"introspection", `{ items { id } __schema { queryType { name } } }`, Policy{}},
		{"mutation", `mutation { touch }`, Policy{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := gqlparser.LoadQueryWithRules(schema, tc.query, nil)
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			if got := PolicyFor(schema, doc, doc.Operations[0]); got != tc.want {
				t.Fatalf("PolicyFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMemoryTierIsBoundedByBytes(t *testing.T) {
	m := newMemTier(4096)
	body := bytes.Repeat([]byte("x"), 1000)
	for i := range 10 {
		m.put(&entry{key: string(rune('a' + i)), body: body})
	}
	used, n := m.size()
	if used > 4096 || n == 0 || n >= 10 {
		t.Fatalf("memory tier holds %d bytes in %d entries, bound 4096", used, n)
	}
	if m.get("j") == nil || m.get("a") != nil {
		t.Fatal("the most recent entry was evicted, or the oldest kept")
	}
	m.remove("j")
	if m.get("j") != nil {
		t.Fatal("removed entry still served")
	}
}

func TestSharedEntriesRoundTripAndRefuseDamage(t *testing.T) {
	now := time.UnixMilli(time.Now().UnixMilli())
	e := &entry{key: "k", body: []byte(`{"data":{"a":1}}`), stored: now, expires: now.Add(time.Minute),
		private: true, deps: []cache.Dependency{{Key: "serpi:x:taxes", Version: "v1"}}}
	e.etag = etagOf(e.body)
	raw := encodeEntry(e)
	got, err := decodeEntry("k", raw)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.body) != string(e.body) || got.etag != e.etag || !got.expires.Equal(e.expires) || !got.private || len(got.deps) != 1 || got.deps[0] != e.deps[0] {
		t.Fatalf("round trip: %+v, want %+v", got, e)
	}
	damaged := bytes.Clone(raw)
	damaged[len(damaged)-2] = 'X'
	for name, b := range map[string][]byte{"damaged body": damaged, "no header": []byte(`{"data":{}}`), "empty": nil} {
		if _, err := decodeEntry("k", b); err == nil {
			t.Fatalf("%s: decoded", name)
		}
	}
}

func TestDocumentIDRefusesWhatExecutionWouldRefuse(t *testing.T) {
	const q = `{ items { id } }`
	id := documentID(rawParams{Query: q}.params())
	for _, tc := range []struct {
		name string
		p    rawParams
		want string
	}{
		{"text", rawParams{Query: q}, id},
		{"text with its own hash", rawParams{Query: q, Hash: id[2:]}, id},
		{"text with another hash", rawParams{Query: q, Hash: "0000000000000000000000000000000000000000000000000000000000000000"}, ""},
		{"hash alone", rawParams{Hash: id[2:]}, "apq:" + id[2:]},
		{"unknown extension", rawParams{Query: q, Other: true}, ""},
		{"nothing", rawParams{}, ""},
	} {
		if got := documentID(tc.p.params()); got != tc.want {
			t.Errorf("%s: documentID = %q, want %q", tc.name, got, tc.want)
		}
	}
}

type rawParams struct {
	Query, Hash string
	Other       bool
}

func (r rawParams) params() *graphql.RawParams {
	p := &graphql.RawParams{Query: r.Query}
	if r.Hash != "" || r.Other {
		p.Extensions = map[string]any{}
	}
	if r.Hash != "" {
		p.Extensions["persistedQuery"] = map[string]any{"version": 1, "sha256Hash": r.Hash}
	}
	if r.Other {
		p.Extensions["tracing"] = true
	}
	return p
}

func FuzzETagMatches(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc"`, `*`, `"a", "b"`, ``, `,,,`, `W/`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tag := etagOf([]byte(header))
		if !ETagMatches(header+", "+tag, tag) {
			t.Fatal("a list ending with the tag does not match it")
		}
		_ = ETagMatches(header, tag)
	})
}

func FuzzDecodeEntry(f *testing.F) {
	e := &entry{body: []byte(`{"data":{}}`), stored: time.UnixMilli(1), expires: time.UnixMilli(2)}
	e.etag = etagOf(e.body)
	f.Add(encodeEntry(e))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeEntry("k", raw)
		if err == nil && etagOf(got.body) != got.etag {
			t.Fatal("decoded an entry whose body does not match its tag")
		}
	})
}

func TestCustomerDigestsAreRememberedPerWholeToken(t *testing.T) {
	keyer := cache.NewKeyer(bytes.Repeat([]byte("k"), 32))
	c := New(Config{Keyer: keyer})
	defer c.Close()
	long := string(bytes.Repeat([]byte("t"), maxDigestedToken+1))
	tokens := []string{"token-a", "token-b", "token-a2", long, long[:maxDigestedToken]}
	seen := map[string]string{}
	for round := 0; round < 2; round++ {
		for _, tok := range tokens {
			got := c.customerDigest(tok)
			if want := "|c:" + keyer.Customer(tok, "responses"); got != want {
				t.Fatalf("round %d: digest of %.10q… = %q, want the keyer's %q", round, tok, got, want)
			}
			if prev, ok := seen[got]; ok && prev != tok {
				t.Fatalf("tokens %.10q… and %.10q… share a digest", prev, tok)
			}
			seen[got] = tok
		}
	}
	if _, ok := c.customers.get(long); ok {
		t.Fatalf("a token longer than %d bytes was remembered", maxDigestedToken)
	}
	for i := range maxCustomerDigests + 10 {
		c.customerDigest("tok-" + strconv.Itoa(i))
	}
	if n := len(c.customers.items); n != maxCustomerDigests {
		t.Fatalf("table holds %d digests, want the bound %d", n, maxCustomerDigests)
	}
}

func TestCoalescedRequestsWaitForTheLeaderOrTheirDeadline(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	leader := &Read{c: c, key: "k"}
	if e, _ := c.coalesce(context.Background(), leader, OutcomeMiss); e != nil || leader.flight == nil {
		t.Fatal("the first request of a key must lead its execution")
	}

	// A request whose deadline passes while it waits runs on its own.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	late := &Read{c: c, key: "k"}
	if e, outcome := c.coalesce(ctx, late, OutcomeMiss); e != nil || late.flight != nil || outcome != OutcomeMiss {
		t.Fatalf("a waiting request past its deadline got an entry or the lead (outcome %q)", outcome)
	}

	// The leader's answer was not stored: the waiting request executes.
	got := make(chan *entry, 1)
	go func() {
		// It may also come after the leader left, and lead; the transport
		// releases every Read.
		rd := &Read{c: c, key: "k"}
		e, _ := c.coalesce(context.Background(), rd, OutcomeMiss)
		rd.Release()
		got <- e
	}()
	leader.Release()
	leader.Release() // idempotent
	if e := <-got; e != nil {
		t.Fatal("a waiting request was served an entry nobody stored")
	}
	// And for a while that key is not coalesced: waiting for runs whose
	// answers cannot be shared would only queue its requests.
	next := &Read{c: c, key: "k"}
	if e, _ := c.coalesce(context.Background(), next, OutcomeMiss); e != nil || next.flight != nil {
		t.Fatal("a key whose last run stored nothing was coalesced again at once")
	}

	// The leader stored its answer: the ones waiting are served it.
	leader = &Read{c: c, key: "k2"}
	c.coalesce(context.Background(), leader, OutcomeMiss)
	waiters := make(chan *entry, 3)
	for range 3 {
		go func() {
			rd := &Read{c: c, key: "k2"}
			e, _ := c.coalesce(context.Background(), rd, OutcomeMiss)
			rd.Release()
			waiters <- e
		}()
	}
	now := time.Now()
	c.mem.put(&entry{key: "k2", body: []byte(`{"data":{}}`), stored: now, expires: now.Add(time.Minute)})
	leader.stored = true // as Finish does
	leader.Release()
	for range 3 {
		if e := <-waiters; e == nil || string(e.body) != `{"data":{}}` {
			t.Fatalf("a request waiting for the stored answer got %v", e)
		}
	}
	if n := len(c.flights.m); n != 0 {
		t.Fatalf("%d flights left after every request ended", n)
	}
}

// A recall reuses its last response key only for exactly the credentials
// it was made for: whatever order requests come in, each gets the key
// computed afresh for its own principal. Successive requests share the
// document and differ in one credential at a time, where a reuse that
// ignored the key or the token would show.
func TestRecallKeyIsReusedOnlyForTheSameCredentials(t *testing.T) {
	c := New(Config{Keyer: cache.NewKeyer(bytes.Repeat([]byte("k"), 32))})
	defer c.Close()
	keys, err := auth.NewKeyStore([]auth.KeyConfig{
		{Name: "a", SHA256: auth.HashKey("key-a"), Scopes: []string{"catalog:read"}},
		{Name: "b", SHA256: auth.HashKey("key-b"), Scopes: []string{"catalog:read"}},
	}, "secret", "token")
	if err != nil {
		t.Fatal(err)
	}
	keyA, _ := keys.Lookup("key-a")
	keyB, _ := keys.Lookup("key-b")
	long := string(bytes.Repeat([]byte("t"), maxDigestedToken+1))
	principals := []struct {
		name string
		pr   auth.Principal
	}{
		{"anonymous", auth.Principal{}},
		{"key a", auth.Principal{Key: keyA}},
		{"key b", auth.Principal{Key: keyB}},
		{"key b, token 1", auth.Principal{Key: keyB, CustomerToken: "token-1"}},
		{"token 1", auth.Principal{CustomerToken: "token-1"}},
		{"token 2", auth.Principal{CustomerToken: "token-2"}},
		{"key a, token 2", auth.Principal{Key: keyA, CustomerToken: "token-2"}},
		{"long token", auth.Principal{CustomerToken: long}},
		{"long token, key a", auth.Principal{Key: keyA, CustomerToken: long}},
		{"anonymous again", auth.Principal{}},
	}
	norms := [][sha256.Size]byte{sha256.Sum256([]byte("doc 1")), sha256.Sum256([]byte("doc 2"))}
	r := &recall{docID: "d", opName: "Op", vars: []byte(`{"x":1}`)}
	seen := map[string]string{}
	for round := range 2 {
		for i, norm := range norms {
			for _, p := range principals {
				got := r.keyFor(c, norm, p.pr)
				if want := responseKey(norm, r.opName, r.vars, c.principalOf(p.pr)); got != want {
					t.Fatalf("round %d, document %d, %s: key %s, want %s", round, i, p.name, got, want)
				}
				if again := r.keyFor(c, norm, p.pr); again != got {
					t.Fatalf("round %d, document %d, %s: second key %s, want %s", round, i, p.name, again, got)
				}
				id := strings.TrimSuffix(p.name, " again") + "/" + strconv.Itoa(i)
				if prev, ok := seen[got]; ok && prev != id {
					t.Fatalf("%s and %s share a response key", prev, id)
				}
				seen[got] = id
			}
		}
	}
	// A long token is never kept.
	r.keyFor(c, norms[0], auth.Principal{CustomerToken: long})
	if last := r.last.Load(); last != nil && len(last.token) > maxDigestedToken {
		t.Fatalf("a %d-byte token was kept", len(last.token))
	}
}
