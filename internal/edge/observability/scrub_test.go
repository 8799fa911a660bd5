package observability

import "testing"

// scrubEveryPattern is ScrubText without its shortcut: every pattern run
// on every text.
func scrubEveryPattern(s string) string {
	s = bearerValue.ReplaceAllString(s, "Bearer [REDACTED]")
	s = secretPair.ReplaceAllString(s, "${1}${2}[REDACTED]")
	return urlUserinfo.ReplaceAllString(s, "${1}[REDACTED]@")
}

// FuzzScrubTextShortcutIsExact: skipping the patterns for a text without
// any secret word never changes what is logged, for values and for
// attribute names.
func FuzzScrubTextShortcutIsExact(f *testing.F) {
	for _, s := range []string{
		"/graphql", "POST", "TaxPage", "Authorization: Bearer abc.def", "api-key=xyz", "redis://u:p@h:6379",
		`{"answer":"mi_respuesta"}`, "ſecret=1", "toKen=2", "APIKEY: 3", "x-api_key", "", "BASE64:aGk=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ScrubText(s), scrubEveryPattern(s); got != want {
			t.Fatalf("ScrubText(%q) = %q, every pattern gives %q", s, got, want)
		}
		if !mayHoldSecret(s) && sensitive.MatchString(s) {
			t.Fatalf("attribute name %q is sensitive but skipped", s)
		}
	})
}
