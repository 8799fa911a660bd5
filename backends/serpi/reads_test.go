package serpi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

func TestArticleByCodeReadsOneArticleWithoutWalking(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{})
	ctx := context.Background()

	a, found, err := c.ArticleByCode(ctx, demo, " 12345 ")
	if err != nil || !found || a.ID.Value != 2 || a.Codigo != "12345" {
		t.Fatalf("12345: %+v found=%v err %v", a, found, err)
	}
	if _, found, err := c.ArticleByCode(ctx, demo, "NO-EXISTE"); err != nil || found {
		t.Fatalf("unknown code: found=%v err %v; want not found, no error", found, err)
	}
	if n := sim.Control().Stats.Snapshot().Calls["GET "+PathArticulo]; n != 2 {
		t.Fatalf("%d GETs for two lookups, want 2", n)
	}
	_, _, err = c.ArticleByCode(ctx, demo, "  ")
	wantKind(t, err, upstream.KindBadRequest)
}

func TestArticleByCodeRefusesAnswersThatAreNotThatArticle(t *testing.T) {
	for name, body := range map[string]string{
		"two articles":   `{"success":true,"code":200,"message":"2 registro(s) encontrados","result":[{"id":1,"codigo":"A"},{"id":2,"codigo":"A"}]}`,
		"another code":   `{"success":true,"code":200,"message":"1 registro(s) encontrados","result":[{"id":1,"codigo":"B"}]}`,
		"filter ignored": `{"success":true,"code":200,"message":"2 registro(s) encontrados","result":[{"id":1,"codigo":"Z"},{"id":2,"codigo":"A"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			c := NewClient(srv.URL, WithSerializer(serializer.NewLocal()))
			_, found, err := c.ArticleByCode(context.Background(), demo, "A")
			wantKind(t, err, upstream.KindServer)
			if found {
				t.Fatal("found is true on an error")
			}
		})
	}
}

func TestCheckCredential(t *testing.T) {
	sim, _, c := startSim(t, SimConfig{Credentials: map[string][]string{"demo-secret": {"demo-token"}}})
	if err := c.CheckCredential(context.Background(), demo); err != nil {
		t.Fatalf("accepted credential: %v", err)
	}
	err := c.CheckCredential(context.Background(), Credential{SecretKey: demo.SecretKey, Token: "revoked"})
	wantKind(t, err, upstream.KindUnauthorized)
	if n := sim.Control().Stats.Snapshot().Calls["GET "+PathImpuesto]; n != 2 {
		t.Fatalf("%d tax GETs for two checks, want 2", n)
	}
}
