package catalogwrite

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/graph/relay"
)

// MaxTextLen is the "Longitud" of the seeds' request tables: SERPI text
// fields hold at most 50 characters (runes, not bytes).
const MaxTextLen = 50

// maxShort is the largest value of SERPI's "short" fields (the stock days).
const maxShort = 32767

// Problem is one thing wrong with an input. Field is the input's path as
// the caller wrote it: "input.description", "input[3].code".
type Problem struct {
	Field   string
	Message string
}

// Problems is every problem found in one input. As an error it is what a
// mutation returns when nothing was sent upstream; the resolver reports
// each Problem as its own BAD_USER_INPUT error.
type Problems []Problem

// Error lists the problems.
func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, pr := range p {
		msgs[i] = pr.Field + ": " + pr.Message
	}
	return "invalid input: " + strings.Join(msgs, "; ")
}

// AsProblems returns the input problems err carries, if it is Problems.
func AsProblems(err error) (Problems, bool) {
	var p Problems
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}

// checker collects the problems of one input object under a path prefix
// ("input", "input[3]") while mapping its fields to wire values.
type checker struct {
	prefix   string
	problems Problems
}

func (c *checker) path(field string) string { return c.prefix + "." + field }

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: c.path(field), Message: fmt.Sprintf(format, args...)})
}

func (c *checker) missing(field string) { c.add(field, "%s is required", field) }

// text trims v and checks it: required (present and not blank), at most
// MaxTextLen characters, no control characters. Absent optional text is
// "" (SERPI's seeds send "" or null for it; "" also satisfies the fields
// that must be present but may be empty, such as referencia_sucursal).
func (c *checker) text(field string, v *string, required bool) wire.Text {
	s := ""
	if v != nil {
		s = strings.TrimSpace(*v)
	}
	if s == "" {
		if required {
			c.missing(field)
		}
		return ""
	}
	if n := utf8.RuneCountInString(s); n > MaxTextLen {
		c.add(field, "%s must be at most %d characters, got %d", field, MaxTextLen, n)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		c.add(field, "%s must not contain control characters (such as line breaks)", field)
	}
	return wire.Text(s)
}

// digits is text made of digits only (phones and NITs, which SERPI's
// tables type as int).
func (c *checker) digits(field string, v *string, required bool) wire.Text {
	t := c.text(field, v, required)
	if t != "" && strings.ContainsFunc(string(t), func(r rune) bool { return r < '0' || r > '9' }) {
		c.add(field, "%s must contain digits only", field)
	}
	return t
}

// id is a SERPI id: a positive integer.
func (c *checker) id(field string, v *int, required bool) wire.Int {
	if v == nil {
		if required {
			c.missing(field)
		}
		return wire.Int{}
	}
	if *v < 1 {
		c.add(field, "%s must be a positive integer, got %d", field, *v)
	}
	return wire.NewInt(int64(*v))
}

// count is a non-negative integer.
func (c *checker) count(field string, v *int, required bool) wire.Int {
	if v != nil && *v < 0 {
		c.add(field, "%s must not be negative, got %d", field, *v)
		return wire.NewInt(int64(*v))
	}
	return c.intRange(field, v, required, 0, math.MaxInt32)
}

// intRange is an integer between lo and hi.
func (c *checker) intRange(field string, v *int, required bool, lo, hi int) wire.Int {
	if v == nil {
		if required {
			c.missing(field)
		}
		return wire.Int{}
	}
	if *v < lo || *v > hi {
		c.add(field, "%s must be between %d and %d, got %d", field, lo, hi, *v)
	}
	return wire.NewInt(int64(*v))
}

// SERPI's decimal columns: the seeds and SERPI's data write rates,
// bases, weights, volumes and stock units with 5 decimals ("valor":
// 5.00000, "peso": 0.00000) and costs with 2; none states a precision.
// The gateway bounds them as decimal(18,5): at most 5 decimals and 13
// integer digits (9999999999999.99999, ten trillion pesos, far past the
// seeds' 1000.00). 18 significant digits with scale 5 are exactly what a
// signed 64-bit count of hundred-thousandths holds, so no reader of
// SERPI's data rounds them. A value past the bound is refused rather than
// rounded: SERPI would otherwise keep a different number than the one
// the client wrote, or refuse it with its own words.
const (
	MaxDecimalScale         = 5
	MaxDecimalIntegerDigits = 13
)

// CheckDecimal reports why d does not fit SERPI's decimal(18,5), or ""
// when it does. Trailing zeros past the fifth decimal are not digits of
// the value and are allowed ("19.500000").
func CheckDecimal(d wire.Decimal) string {
	whole, frac, _ := strings.Cut(strings.TrimPrefix(string(d), "-"), ".")
	if len(strings.TrimLeft(whole, "0")) > MaxDecimalIntegerDigits {
		return fmt.Sprintf("at most %d digits before the decimal point", MaxDecimalIntegerDigits)
	}
	if len(strings.TrimRight(frac, "0")) > MaxDecimalScale {
		return fmt.Sprintf("at most %d decimals (SERPI keeps %d)", MaxDecimalScale, MaxDecimalScale)
	}
	return ""
}

// fitScale drops trailing zeros past SERPI's scale ("19.500000" becomes
// "19.50000"); CheckDecimal has accepted d.
func fitScale(d wire.Decimal) wire.Decimal {
	whole, frac, ok := strings.Cut(string(d), ".")
	if !ok || len(frac) <= MaxDecimalScale {
		return d
	}
	return wire.Decimal(whole + "." + frac[:MaxDecimalScale])
}

// decimal is a non-negative decimal that fits SERPI's decimal(18,5) (the
// Decimal scalar has already refused malformed numbers and read the rest
// exactly). Absent optional decimals are sent as null. Messages never
// repeat the number.
func (c *checker) decimal(field string, v *model.Decimal, required bool) wire.Decimal {
	if v == nil || *v == "" {
		if required {
			c.missing(field)
		}
		return ""
	}
	d, err := wire.ParseDecimal(string(*v))
	if err != nil {
		c.add(field, "%s is not a decimal number", field)
		return ""
	}
	if strings.HasPrefix(string(d), "-") {
		c.add(field, "%s must not be negative", field)
	}
	if why := CheckDecimal(d); why != "" {
		c.add(field, "%s must have %s", field, why)
		return d
	}
	return fitScale(d)
}

// flag is a boolean; an absent optional one is false.
func (c *checker) flag(field string, v *bool, required bool) wire.Bool {
	if v == nil {
		if required {
			c.missing(field)
		}
		return false
	}
	return wire.Bool(*v)
}

// recordID decodes the id of the record to update: a global ID of typ or
// a plain SERPI id.
func (c *checker) recordID(field, v, typ string) wire.Int {
	n, err := relay.ParseIntID(strings.TrimSpace(v), typ)
	if err != nil {
		c.add(field, "%s must be a %s global ID or a positive SERPI id", field, typ)
		return wire.Int{}
	}
	return wire.NewInt(n)
}
