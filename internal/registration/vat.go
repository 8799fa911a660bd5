package registration

import (
	"regexp"
	"strings"
)

// Document types of RegisterInput.vatType (the GraphQL enum's values).
const (
	VatCedula            = "CEDULA"
	VatCedulaExtranjeria = "CEDULA_EXTRANJERIA"
	VatNIT               = "NIT"
	VatPassport          = "PASSPORT"
)

// brillaVatTypes are the vat_type values Brilla accepts (see the seed and
// backends/brilla's simulator), by document type.
var brillaVatTypes = map[string]string{
	VatCedula:            "cedula",
	VatCedulaExtranjeria: "cedula_extranjeria",
	VatNIT:               "nit",
	VatPassport:          "pasaporte",
}

// BrillaVatType returns Brilla's vat_type for a document type, and false
// for an unknown type.
func BrillaVatType(vatType string) (string, bool) {
	v, ok := brillaVatTypes[vatType]
	return v, ok
}

var (
	cedulaPattern       = regexp.MustCompile(`^[0-9]{6,10}$`)
	extranjeriaPattern  = regexp.MustCompile(`^[A-Z0-9]{6,12}$`)
	nitPattern          = regexp.MustCompile(`^([0-9]{9,10})(?:-([0-9]))?$`)
	passportPattern     = regexp.MustCompile(`^[A-Z0-9]{5,20}$`)
	vatSeparatorRemover = strings.NewReplacer(" ", "", ".", "")
)

// NormalizeVat checks a document number against its type and returns the
// form sent to Brilla, or a message saying what is wrong (safe to show; it
// never repeats the number). Spaces and dots (1.234.567) are ignored; letters
// are upper-cased. A NIT's check digit, when given ("900123456-7"), must be
// DIAN's and is then dropped: Brilla identifies customers by the NIT's
// digits alone, which is also what generateToken takes.
func NormalizeVat(vatType, raw string) (string, string) {
	v := strings.ToUpper(vatSeparatorRemover.Replace(strings.TrimSpace(raw)))
	if v == "" {
		return "", "vat is required"
	}
	switch vatType {
	case VatCedula:
		if !cedulaPattern.MatchString(v) {
			return "", "a cédula number must be 6 to 10 digits"
		}
	case VatCedulaExtranjeria:
		if !extranjeriaPattern.MatchString(v) {
			return "", "a cédula de extranjería number must be 6 to 12 letters or digits"
		}
	case VatNIT:
		m := nitPattern.FindStringSubmatch(v)
		if m == nil {
			return "", `a NIT must be 9 or 10 digits, optionally followed by "-" and its check digit`
		}
		if m[2] != "" && NITCheckDigit(m[1]) != int(m[2][0]-'0') {
			return "", "the NIT's check digit does not match its number"
		}
		v = m[1]
	case VatPassport:
		if !passportPattern.MatchString(v) {
			return "", "a passport number must be 5 to 20 letters or digits"
		}
	default:
		return "", "vatType is not a known document type"
	}
	return v, ""
}

// nitWeights are DIAN's weights for a NIT's digits, from the rightmost.
var nitWeights = [...]int{3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71}

// NITCheckDigit computes the DIAN check digit ("dígito de verificación")
// of a NIT given as up to 15 digits: the digits weighted from the right
// by 3, 7, 13, 17, ..., summed modulo 11; a remainder of 0 or 1 is the
// digit itself, any other r gives 11 - r. It returns -1 for input that is
// not 1 to 15 digits.
func NITCheckDigit(nit string) int {
	if nit == "" || len(nit) > len(nitWeights) {
		return -1
	}
	sum := 0
	for i := range len(nit) {
		c := nit[len(nit)-1-i]
		if c < '0' || c > '9' {
			return -1
		}
		sum += int(c-'0') * nitWeights[i]
	}
	if r := sum % 11; r > 1 {
		return 11 - r
	}
	return sum % 11
}
