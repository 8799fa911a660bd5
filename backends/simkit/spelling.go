package simkit

import (
	"strings"
	"unicode"
)

// letterForms lists, per ASCII letter, the lowercase letters that read as
// it once accents are stripped (each decomposes under NFD into the letter
// plus combining marks). Letters not listed only vary in case.
var letterForms = map[rune][]rune{
	'a': []rune("aáàâäãåāăą"),
	'c': []rune("cçćĉċč"),
	'e': []rune("eéèêëēĕėęě"),
	'i': []rune("iíìîïĩīĭį"),
	'n': []rune("nñńņň"),
	'o': []rune("oóòôöõōŏő"),
	'r': []rune("rŕřŗ"),
	's': []rune("sśŝşš"),
	't': []rune("tţťț"),
	'u': []rune("uúùûüũūŭůűų"),
}

// SpellingVariants is how many distinct spellings SpellingVariant gives for
// word: the product, over its letters, of each letter's forms in both
// cases (capped at 2^40).
func SpellingVariants(word string) int {
	total := 1
	for _, r := range word {
		total *= spellingsOf(r)
		if total > 1<<40 {
			return 1 << 40
		}
	}
	return total
}

// SpellingVariant returns spelling number n of word (lowercase ASCII):
// the same letters with case and accents varied, which an accent- and
// case-insensitive search reads as word itself. Numbers below
// SpellingVariants(word) give distinct strings; 0 is word unchanged. Load
// runs use it to send searches that no response cache has seen while the
// answer stays the same.
func SpellingVariant(word string, n int) string {
	n %= SpellingVariants(word)
	var b strings.Builder
	for _, r := range word {
		forms, cases := formsOf(r)
		choice := n % (cases * len(forms))
		n /= cases * len(forms)
		form := forms[choice/cases]
		if choice%cases == 1 {
			form = unicode.ToUpper(form)
		}
		b.WriteRune(form)
	}
	return b.String()
}

// formsOf returns r's accented forms and how many cases each has (2 for
// letters, 1 for digits and punctuation, whose upper case is themselves).
func formsOf(r rune) (forms []rune, cases int) {
	forms, ok := letterForms[r]
	if !ok {
		forms = []rune{r}
	}
	if unicode.ToUpper(r) == r {
		return forms, 1
	}
	return forms, 2
}

func spellingsOf(r rune) int {
	forms, cases := formsOf(r)
	return cases * len(forms)
}
