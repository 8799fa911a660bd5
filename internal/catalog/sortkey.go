package catalog

import (
	"strings"
)

// Sort keys are strings whose byte order is the order of the values they
// stand for, so that the index sorts, pages and compares cursors with one
// comparison whatever the field's type.

// SortText is the sort key of a text: trimmed, lowercased and without
// accents, so "Ñame" and "ñame" sort together and "Árbol" with "arbol".
func SortText(s string) string { return Normalize(strings.TrimSpace(s)) }

// SortDecimal is the sort key of a decimal number written as SERPI writes
// them ("19.00000", "-2.5", "7"): exact, whatever the number of digits,
// so "5.0000000000000001" sorts after "5". Text that is not a decimal
// sorts after every number, by its bytes. ok is false for such text.
func SortDecimal(s string) (key string, ok bool) {
	neg, intPart, frac, ok := splitDecimal(strings.TrimSpace(s))
	if !ok {
		return "3" + s, false
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" && frac == "" {
		return "1", true // zero, positive or negative
	}
	if len(intPart) > 999 {
		return "3" + s, false
	}
	// Positive numbers: more integer digits first, then the digits
	// themselves. Negative ones: the same with every digit complemented
	// and the length order reversed, and a terminator above every digit
	// so that a shorter fraction (a smaller magnitude) sorts later.
	if !neg {
		return "2" + pad3(len(intPart)) + intPart + frac, true
	}
	return "0" + pad3(999-len(intPart)) + complement(intPart) + complement(frac) + "~", true
}

// splitDecimal splits an optionally signed decimal into its parts.
func splitDecimal(s string) (neg bool, intPart, frac string, ok bool) {
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	intPart, frac, _ = strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return false, "", "", false
	}
	if !allDigits(intPart) || !allDigits(frac) {
		return false, "", "", false
	}
	return neg, intPart, frac, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func pad3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func complement(digits string) string {
	b := []byte(digits)
	for i, d := range b {
		b[i] = '9' - d + '0'
	}
	return string(b)
}
