package simkit

import (
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

func TestSpellingVariantReadsAsTheWord(t *testing.T) {
	stripMarks := func(s string) string {
		out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
		if err != nil {
			t.Fatalf("normalize %q: %v", s, err)
		}
		return strings.ToLower(out)
	}
	for _, word := range []string{"reteica", "cartagena", "x1"} {
		if got := SpellingVariant(word, 0); got != word {
			t.Errorf("SpellingVariant(%q, 0) = %q, want the word itself", word, got)
		}
		seen := map[string]int{}
		limit := min(SpellingVariants(word), 20000)
		for n := range limit {
			v := SpellingVariant(word, n)
			if prev, dup := seen[v]; dup {
				t.Fatalf("%q: spellings %d and %d are both %q", word, prev, n, v)
			}
			seen[v] = n
			if got := stripMarks(v); got != word {
				t.Fatalf("%q: spelling %d %q reads as %q", word, n, v, got)
			}
		}
	}
}

func TestSpellingVariantsCounts(t *testing.T) {
	for word, want := range map[string]int{
		"":   1,
		"x1": 2,              // case only for x; '1' has one form
		"ra": 2 * 4 * 2 * 10, // r: 4 forms, a: 10 forms, each in two cases
	} {
		if got := SpellingVariants(word); got != want {
			t.Errorf("SpellingVariants(%q) = %d, want %d", word, got, want)
		}
	}
	if n := SpellingVariants("reteica"); n < 1_000_000 {
		t.Errorf("reteica has only %d spellings; a load run needs more than it sends", n)
	}
}
