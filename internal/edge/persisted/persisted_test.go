package persisted

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/cache"
)

func TestStoreSharesHashesAcrossReplicasOfOneStore(t *testing.T) {
	shared := cache.NewMemory(10)
	a, b := NewStore(shared, "apq:", 0, nil), NewStore(shared, "apq:", 0, nil)
	q := "{ taxes { totalCount } }"
	a.Add(context.Background(), Hash(q), q)
	if got, ok := b.Get(context.Background(), Hash(q)); !ok || got != q {
		t.Fatalf("replica B got %q, %v", got, ok)
	}
	if _, ok := b.Get(context.Background(), Hash("other")); ok {
		t.Fatal("unknown hash found")
	}
}

func TestManifest(t *testing.T) {
	q := "query Me { viewer { vat } }"
	apollo := fmt.Sprintf(`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":%q,"name":"Me","type":"query","body":%q}]}`, Hash(q), q)
	plain := fmt.Sprintf(`{%q: %q}`, Hash(q), q)
	for _, data := range []string{apollo, plain} {
		m, err := ParseManifest([]byte(data))
		if err != nil || m.Len() != 1 {
			t.Fatalf("ParseManifest(%s) = %v, %v", data, m, err)
		}
	}
	for _, bad := range []string{`{}`, `[1]`, fmt.Sprintf(`{%q: "{ other }"}`, Hash(q)), `not json`} {
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("ParseManifest(%s) accepted", bad)
		}
	}
}

func TestTrustedLetsOnlyManifestOperationsRun(t *testing.T) {
	q := "query Me { viewer { vat } }"
	m, _ := ParseManifest([]byte(fmt.Sprintf(`{%q: %q}`, Hash(q), q)))
	tr := Trusted{Manifest: m}
	tests := []struct {
		name    string
		raw     graphql.RawParams
		allowed bool
	}{
		{"full trusted text", graphql.RawParams{Query: q}, true},
		{"hash only", graphql.RawParams{Extensions: map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": Hash(q)}}}, true},
		{"other text", graphql.RawParams{Query: "{ branches { totalCount } }"}, false},
		{"trusted text with a space more", graphql.RawParams{Query: q + " "}, false},
		{"unknown hash", graphql.RawParams{Extensions: map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": Hash("x")}}}, false},
		{"nothing", graphql.RawParams{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			err := tr.MutateOperationParameters(context.Background(), &raw)
			if (err == nil) != tc.allowed {
				t.Fatalf("err = %v, allowed want %v", err, tc.allowed)
			}
			if err == nil && raw.Query != q {
				t.Fatalf("query = %q", raw.Query)
			}
			if err != nil && err.Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("code %v", err.Extensions["code"])
			}
		})
	}
}

func TestStoreOnlyKeepsAcceptedQueries(t *testing.T) {
	s := NewStore(cache.NewMemory(10), "apq:", 0, func(q string) bool { return q == "good" })
	s.Add(context.Background(), Hash("good"), "good")
	s.Add(context.Background(), Hash("bad"), "bad")
	if _, ok := s.Get(context.Background(), Hash("good")); !ok {
		t.Fatal("accepted query not stored")
	}
	if _, ok := s.Get(context.Background(), Hash("bad")); ok {
		t.Fatal("refused query stored")
	}
}

func TestManifestOperationNames(t *testing.T) {
	ops := []string{`query PortalQuote { __typename }`, `{ __typename }`, `mutation SignIn { __typename } query Also { __typename }`}
	byHash := map[string]string{}
	for _, q := range ops {
		byHash[Hash(q)] = q
	}
	data, _ := json.Marshal(byHash)
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	got := m.OperationNames()
	slices.Sort(got)
	if want := []string{"Also", "PortalQuote", "SignIn"}; !slices.Equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
}
