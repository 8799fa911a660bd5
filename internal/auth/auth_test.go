package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

var (
	readHash  = HashKey("read-key")
	writeHash = HashKey("write-key")
)

func TestHashKey(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2 test vector).
	if got := HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashKey(abc) = %s", got)
	}
	if len(HashKey("")) != 64 {
		t.Errorf("HashKey length")
	}
}

func TestNewKeyStore(t *testing.T) {
	tests := []struct {
		name      string
		cfgs      []KeyConfig
		secret    string
		token     string
		wantErr   string // substring; "" = success
		wantCreds map[string]serpi.Credential
	}{
		{name: "none", cfgs: nil, secret: "", token: ""},
		{
			name:   "valid with default and own tokens",
			cfgs:   []KeyConfig{{Name: "reader", SHA256: readHash, Scopes: []string{"catalog:read"}}, {Name: "writer", SHA256: strings.ToUpper(writeHash), Scopes: []string{"catalog:read", "catalog:write"}, SerpiToken: "own"}},
			secret: "sk", token: "default",
			wantCreds: map[string]serpi.Credential{
				"read-key":  {SecretKey: "sk", Token: "default"},
				"write-key": {SecretKey: "sk", Token: "own"},
			},
		},
		{name: "no name", cfgs: []KeyConfig{{SHA256: readHash, Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "API key #1: name is required"},
		{name: "no name second", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}}, {SHA256: writeHash, Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "API key #2: name is required"},
		{name: "bad hex", cfgs: []KeyConfig{{Name: "a", SHA256: strings.Repeat("zz", 32), Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "sha256 must be 64 hex characters"},
		{name: "short hex", cfgs: []KeyConfig{{Name: "a", SHA256: readHash[:62], Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "sha256 must be 64 hex characters"},
		{name: "long hex", cfgs: []KeyConfig{{Name: "a", SHA256: readHash + "00", Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "sha256 must be 64 hex characters"},
		{name: "plaintext instead of hash", cfgs: []KeyConfig{{Name: "a", SHA256: "read-key", Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "sha256 must be 64 hex characters"},
		{name: "empty hash", cfgs: []KeyConfig{{Name: "a", Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "sha256 must be 64 hex characters"},
		{name: "duplicate", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}}, {Name: "b", SHA256: readHash, Scopes: []string{"catalog:write"}}}, secret: "sk", token: "t", wantErr: `API key "b": the same key is configured twice`},
		{name: "duplicate differing in case", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}}, {Name: "b", SHA256: strings.ToUpper(readHash), Scopes: []string{"catalog:read"}}}, secret: "sk", token: "t", wantErr: "configured twice"},
		{name: "no scopes", cfgs: []KeyConfig{{Name: "a", SHA256: readHash}}, secret: "sk", token: "t", wantErr: "at least one scope is required"},
		{name: "empty scopes", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{}}}, secret: "sk", token: "t", wantErr: "at least one scope is required"},
		{name: "unknown scope", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read", "admin"}}}, secret: "sk", token: "t", wantErr: `unknown scope "admin"`},
		{name: "scope wrong case", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"Catalog:Read"}}}, secret: "sk", token: "t", wantErr: "unknown scope"},
		{name: "no secret key", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}, SerpiToken: "own"}}, secret: "", token: "t", wantErr: "no SERPI credential"},
		{name: "no token at all", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}}}, secret: "sk", token: "", wantErr: "no SERPI credential"},
		{
			name: "own token without default", cfgs: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}, SerpiToken: "own"}}, secret: "sk", token: "",
			wantCreds: map[string]serpi.Credential{"read-key": {SecretKey: "sk", Token: "own"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := NewKeyStore(tt.cfgs, tt.secret, tt.token)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("NewKeyStore succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if store != nil {
					t.Errorf("store returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewKeyStore: %v", err)
			}
			for plain, cred := range tt.wantCreds {
				key, ok := store.Lookup(plain)
				if !ok {
					t.Fatalf("Lookup(%q) found nothing", plain)
				}
				if key.Serpi != cred {
					t.Errorf("Lookup(%q).Serpi = %+v, want %+v", plain, key.Serpi, cred)
				}
			}
		})
	}
}

func TestNewKeyStoreDoesNotLeakSecrets(t *testing.T) {
	_, err := NewKeyStore([]KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"bogus"}, SerpiToken: "serpi-secret-token"}}, "serpi-secret-key", "default-token")
	if err == nil {
		t.Fatal("want error")
	}
	for _, s := range []string{"serpi-secret-token", "serpi-secret-key", "default-token"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func newStore(t *testing.T) *KeyStore {
	t.Helper()
	store, err := NewKeyStore([]KeyConfig{
		{Name: "reader", SHA256: readHash, Scopes: []string{"catalog:read"}},
		{Name: "writer", SHA256: writeHash, Scopes: []string{"catalog:read", "catalog:write"}, SerpiToken: "writer-token"},
	}, "sk", "default")
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestLookup(t *testing.T) {
	store := newStore(t)
	tests := []struct {
		plain      string
		wantName   string
		wantScopes []Scope
	}{
		{"read-key", "reader", []Scope{ScopeCatalogRead}},
		{"write-key", "writer", []Scope{ScopeCatalogRead, ScopeCatalogWrite}},
		{"", "", nil},
		{"READ-KEY", "", nil},
		{"read-key ", "", nil},
		{readHash, "", nil}, // the hash itself is not a key
		{"unknown", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.plain, func(t *testing.T) {
			key, ok := store.Lookup(tt.plain)
			if ok != (tt.wantName != "") {
				t.Fatalf("Lookup(%q) ok = %v", tt.plain, ok)
			}
			if !ok {
				if key != nil {
					t.Errorf("key %v with ok=false", key)
				}
				return
			}
			if key.Name != tt.wantName || !slices.Equal(key.Scopes, tt.wantScopes) {
				t.Errorf("Lookup(%q) = %s %v, want %s %v", tt.plain, key.Name, key.Scopes, tt.wantName, tt.wantScopes)
			}
		})
	}
	empty, err := NewKeyStore(nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Lookup("read-key"); ok {
		t.Error("empty store found a key")
	}
}

func TestAPIKeyHas(t *testing.T) {
	k := &APIKey{Scopes: []Scope{ScopeCatalogRead}}
	if !k.Has(ScopeCatalogRead) || k.Has(ScopeCatalogWrite) || k.Has("") {
		t.Errorf("Has wrong for %v", k.Scopes)
	}
}

func TestIdentify(t *testing.T) {
	store := newStore(t)
	tests := []struct {
		name, authorization, apiKey string
		wantToken                   string
		wantKey                     string
		wantBadAuth, wantBadKey     bool
	}{
		{name: "anonymous"},
		{name: "bearer", authorization: "Bearer abc.def", wantToken: "abc.def"},
		{name: "lowercase bearer", authorization: "bearer x", wantToken: "x"},
		{name: "uppercase bearer", authorization: "BEARER x", wantToken: "x"},
		{name: "extra spaces", authorization: "  Bearer   tok  ", wantToken: "tok"},
		{name: "basic", authorization: "Basic x", wantBadAuth: true},
		{name: "bearer without token", authorization: "Bearer ", wantBadAuth: true},
		{name: "bearer word only", authorization: "Bearer", wantBadAuth: true},
		{name: "token without scheme", authorization: "abc", wantBadAuth: true},
		{name: "blank authorization is absent", authorization: "   "},
		{name: "api key", apiKey: "read-key", wantKey: "reader"},
		{name: "api key with spaces", apiKey: " write-key ", wantKey: "writer"},
		{name: "unknown api key", apiKey: "nope", wantBadKey: true},
		{name: "blank api key is absent", apiKey: "  "},
		{name: "both", authorization: "Bearer t", apiKey: "write-key", wantToken: "t", wantKey: "writer"},
		{name: "bad both", authorization: "Token t", apiKey: "nope", wantBadAuth: true, wantBadKey: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := store.Identify(tt.authorization, tt.apiKey)
			if p.CustomerToken != tt.wantToken {
				t.Errorf("CustomerToken %q, want %q", p.CustomerToken, tt.wantToken)
			}
			gotKey := ""
			if p.Key != nil {
				gotKey = p.Key.Name
			}
			if gotKey != tt.wantKey {
				t.Errorf("Key %q, want %q", gotKey, tt.wantKey)
			}
			if p.BadAuthorization != tt.wantBadAuth || p.BadKey != tt.wantBadKey {
				t.Errorf("BadAuthorization %v BadKey %v, want %v %v", p.BadAuthorization, p.BadKey, tt.wantBadAuth, tt.wantBadKey)
			}
		})
	}
}

func TestRequireCustomer(t *testing.T) {
	tests := []struct {
		name      string
		ctx       context.Context
		wantToken string
		wantCode  apperr.Code
	}{
		{"no principal", context.Background(), "", apperr.Unauthenticated},
		{"anonymous", WithPrincipal(context.Background(), Principal{}), "", apperr.Unauthenticated},
		{"bad authorization", WithPrincipal(context.Background(), Principal{BadAuthorization: true}), "", apperr.Unauthenticated},
		{"api key only", WithPrincipal(context.Background(), Principal{Key: &APIKey{Name: "k", Scopes: []Scope{ScopeCatalogRead}}}), "", apperr.Unauthenticated},
		{"customer", WithPrincipal(context.Background(), Principal{CustomerToken: "tok"}), "tok", ""},
		{"customer with bad key", WithPrincipal(context.Background(), Principal{CustomerToken: "tok", BadKey: true}), "tok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := RequireCustomer(tt.ctx)
			if tt.wantCode == "" {
				if err != nil || tok != tt.wantToken {
					t.Errorf("RequireCustomer = %q, %v; want %q", tok, err, tt.wantToken)
				}
				return
			}
			if err == nil {
				t.Fatalf("RequireCustomer = %q, want error", tok)
			}
			if tok != "" {
				t.Errorf("token %q with error", tok)
			}
			if c := apperr.CodeOf(err); c != tt.wantCode {
				t.Errorf("code %s, want %s", c, tt.wantCode)
			}
		})
	}
}

func TestRequireScope(t *testing.T) {
	store := newStore(t)
	reader, _ := store.Lookup("read-key")
	writer, _ := store.Lookup("write-key")
	tests := []struct {
		name     string
		p        Principal
		scope    Scope
		wantKey  *APIKey
		wantCode apperr.Code
		wantMsg  string
	}{
		{name: "anonymous", scope: ScopeCatalogRead, wantCode: apperr.Unauthenticated, wantMsg: "X-Api-Key"},
		{name: "customer only", p: Principal{CustomerToken: "t"}, scope: ScopeCatalogRead, wantCode: apperr.Unauthenticated},
		{name: "unknown key", p: Principal{BadKey: true}, scope: ScopeCatalogRead, wantCode: apperr.Unauthenticated, wantMsg: "does not match"},
		{name: "reader reads", p: Principal{Key: reader}, scope: ScopeCatalogRead, wantKey: reader},
		{name: "reader writes", p: Principal{Key: reader}, scope: ScopeCatalogWrite, wantCode: apperr.Forbidden, wantMsg: `"reader" lacks scope catalog:write`},
		{name: "writer writes", p: Principal{Key: writer}, scope: ScopeCatalogWrite, wantKey: writer},
		{name: "writer reads", p: Principal{Key: writer}, scope: ScopeCatalogRead, wantKey: writer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := RequireScope(WithPrincipal(context.Background(), tt.p), tt.scope)
			if tt.wantCode == "" {
				if err != nil || key != tt.wantKey {
					t.Errorf("RequireScope = %v, %v; want %v", key, err, tt.wantKey)
				}
				return
			}
			if err == nil || key != nil {
				t.Fatalf("RequireScope = %v, %v; want error", key, err)
			}
			if c := apperr.CodeOf(err); c != tt.wantCode {
				t.Errorf("code %s, want %s", c, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message %q lacks %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := RequireScope(context.Background(), ScopeCatalogRead); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Errorf("no principal: %v", err)
	}
}

func TestParseKeyConfigs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []KeyConfig
		wantErr bool
	}{
		{name: "empty array", in: `[]`, want: []KeyConfig{}},
		{
			name: "full", in: `[{"name":"a","sha256":"` + readHash + `","scopes":["catalog:read"],"serpiToken":"t"}]`,
			want: []KeyConfig{{Name: "a", SHA256: readHash, Scopes: []string{"catalog:read"}, SerpiToken: "t"}},
		},
		{
			name: "two, optional token", in: ` [ {"name":"a","sha256":"x","scopes":[]}, {"name":"b"} ] `,
			want: []KeyConfig{{Name: "a", SHA256: "x", Scopes: []string{}}, {Name: "b"}},
		},
		{name: "unknown field", in: `[{"name":"a","sha256":"x","scopes":["catalog:read"],"key":"plaintext"}]`, wantErr: true},
		{name: "misspelled field", in: `[{"name":"a","sha":"x"}]`, wantErr: true},
		{name: "object", in: `{"name":"a"}`, wantErr: true},
		{name: "string", in: `"a"`, wantErr: true},
		{name: "number", in: `1`, wantErr: true},
		{name: "array of strings", in: `["a"]`, wantErr: true},
		{name: "scopes not a list", in: `[{"name":"a","scopes":"catalog:read"}]`, wantErr: true},
		{name: "empty input", in: ``, wantErr: true},
		{name: "truncated", in: `[{"name":"a"`, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "a second array after the first", in: `[] [{"name":"x","sha256":"zz","scopes":["admin"]}]`, wantErr: true},
		{name: "garbage after the array", in: `[] garbage`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeyConfigs([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseKeyConfigs(%s) = %+v, want error", tt.in, got)
				}
				if !strings.Contains(err.Error(), "API keys") {
					t.Errorf("error %q does not say what failed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyConfigs(%s): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.SHA256 != w.SHA256 || g.SerpiToken != w.SerpiToken || !slices.Equal(g.Scopes, w.Scopes) {
					t.Errorf("[%d] = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestParseThenNewKeyStore(t *testing.T) {
	cfgs, err := ParseKeyConfigs([]byte(`[{"name":"w","sha256":"` + writeHash + `","scopes":["catalog:write"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewKeyStore(cfgs, "sk", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := store.Lookup("write-key"); !ok || k.Name != "w" || !k.Has(ScopeCatalogWrite) || k.Has(ScopeCatalogRead) {
		t.Errorf("Lookup = %+v, %v", k, ok)
	}
}

func TestMiddleware(t *testing.T) {
	store := newStore(t)
	tests := []struct {
		name    string
		headers map[string]string
		want    func(t *testing.T, p Principal)
	}{
		{"anonymous", nil, func(t *testing.T, p Principal) {
			if p.CustomerToken != "" || p.Key != nil || p.BadKey || p.BadAuthorization {
				t.Errorf("principal %+v", p)
			}
		}},
		{"customer and key", map[string]string{"Authorization": "Bearer tok", "X-Api-Key": "read-key"}, func(t *testing.T, p Principal) {
			if p.CustomerToken != "tok" || p.Key == nil || p.Key.Name != "reader" {
				t.Errorf("principal %+v", p)
			}
		}},
		{"lowercase header names", map[string]string{"authorization": "bearer tok", "x-api-key": "write-key"}, func(t *testing.T, p Principal) {
			if p.CustomerToken != "tok" || p.Key == nil || p.Key.Name != "writer" {
				t.Errorf("principal %+v", p)
			}
		}},
		{"bad headers", map[string]string{"Authorization": "Basic Zm9vOmJhcg==", "X-Api-Key": "nope"}, func(t *testing.T, p Principal) {
			if !p.BadAuthorization || !p.BadKey || p.CustomerToken != "" || p.Key != nil {
				t.Errorf("principal %+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := store.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				tt.want(t, FromContext(r.Context()))
				w.WriteHeader(http.StatusTeapot)
			}))
			req := httptest.NewRequest("POST", "/graphql", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !called || rec.Code != http.StatusTeapot {
				t.Errorf("next handler called=%v, status %d", called, rec.Code)
			}
		})
	}
}

func TestPrincipalContext(t *testing.T) {
	if p := FromContext(context.Background()); p != (Principal{}) {
		t.Errorf("FromContext(empty) = %+v", p)
	}
	want := Principal{CustomerToken: "t", BadKey: true}
	if p := FromContext(WithPrincipal(context.Background(), want)); p != want {
		t.Errorf("FromContext = %+v, want %+v", p, want)
	}
	inner := WithPrincipal(WithPrincipal(context.Background(), want), Principal{CustomerToken: "u"})
	if p := FromContext(inner); p.CustomerToken != "u" || p.BadKey {
		t.Errorf("innermost principal not returned: %+v", p)
	}
}
