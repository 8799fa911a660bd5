package cache_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/cache"
)

func TestKeyer(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	k := cache.NewKeyer(secret)
	const (
		tokA = "eyJhbGciOiJIUzI1NiJ9.eyJ2YXQiOiIxMjM0NTY3ODkiLCJjb250cmFjdCI6IjEyMzQ1Njc4In0.sigA1b2c3d4e5f6"
		tokB = "eyJhbGciOiJIUzI1NiJ9.eyJ2YXQiOiI5ODc2NTQzMjEiLCJjb250cmFjdCI6Ijg3NjU0MzIxIn0.sigZ9y8x7w6v5u4"
	)
	shape := regexp.MustCompile(`^brilla:c:[0-9a-f]{64}:credits$`)

	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"same token, same key", k.Customer(tokA, "credits"), k.Customer(tokA, "credits"), true},
		{"two tokens, two keys", k.Customer(tokA, "credits"), k.Customer(tokB, "credits"), false},
		{"tokens differing in one char", k.Customer(tokA, "credits"), k.Customer(tokA[:len(tokA)-1]+"7", "credits"), false},
		{"same token, other resource", k.Customer(tokA, "credits"), k.Customer(tokA, "contract"), false},
		{"other secret", k.Customer(tokA, "credits"), cache.NewKeyer([]byte("another-secret-of-32-bytes......")).Customer(tokA, "credits"), false},
		{"empty token is still keyed", k.Customer("", "credits"), k.Customer(tokA, "credits"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.same {
				t.Fatalf("%q vs %q: same=%v, want %v", tt.a, tt.b, tt.a == tt.b, tt.same)
			}
		})
	}

	for _, tok := range []string{tokA, tokB} {
		key := k.Customer(tok, "credits")
		if !shape.MatchString(key) {
			t.Fatalf("key %q does not look like brilla:c:<64 hex>:credits", key)
		}
		for i := 0; i+8 <= len(tok); i++ {
			if strings.Contains(key, tok[i:i+8]) {
				t.Fatalf("key %q contains %q from the token", key, tok[i:i+8])
			}
		}
	}

	// The caller's secret slice is copied.
	before := k.Customer(tokA, "x")
	secret[0] ^= 0xff
	if k.Customer(tokA, "x") != before {
		t.Fatal("Keyer uses the caller's secret slice, not a copy")
	}

	if got := k.Shared("taxes:page:1"); got != "brilla:s:taxes:page:1" {
		t.Fatalf("Shared = %q", got)
	}
}

func TestKeyerRejectsWeakSecret(t *testing.T) {
	for _, s := range [][]byte{nil, []byte("short")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewKeyer(%q) did not panic", s)
				}
			}()
			cache.NewKeyer(s)
		}()
	}
	defer func() {
		if recover() == nil {
			t.Error("the zero Keyer must panic instead of keying with no secret")
		}
	}()
	var zero cache.Keyer
	zero.Customer("tok", "r")
}
