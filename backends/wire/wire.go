// Package wire holds JSON types that tolerate the loose typing of the
// upstream APIs: numbers sent as strings or "", nulls where a value is
// documented, and booleans sent as 0/1. Decimals keep their exact text so
// that money and rates never pass through binary floating point.
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var null = []byte("null")

// unquote returns the JSON value as raw text: the contents of a string or
// the literal of a number. isNull reports null and "" (both mean "absent"
// for the upstreams).
func unquote(data []byte) (text string, isNull bool, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, null) {
		return "", true, nil
	}
	if data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", false, err
		}
		s = strings.TrimSpace(s)
		return s, s == "", nil
	}
	return string(data), false, nil
}

// Int is an integer that may arrive as a number, a numeric string, "" or
// null. Valid is false for the last two.
type Int struct {
	Value int64
	Valid bool
}

// NewInt returns a valid Int.
func NewInt(v int64) Int { return Int{Value: v, Valid: true} }

// UnmarshalJSON implements json.Unmarshaler.
func (i *Int) UnmarshalJSON(data []byte) error {
	text, isNull, err := unquote(data)
	if err != nil {
		return fmt.Errorf("wire.Int: %w", err)
	}
	if isNull {
		*i = Int{}
		return nil
	}
	if text == "true" || text == "false" {
		return fmt.Errorf("wire.Int: boolean %s is not an integer", text)
	}
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		*i = NewInt(v)
		return nil
	}
	// "1000.00" is an integer written as a decimal; anything with a
	// non-zero fraction is not an integer and must not be truncated.
	d, err := ParseDecimal(text)
	if err != nil {
		return fmt.Errorf("wire.Int: %q is not a number", text)
	}
	whole, frac, _ := strings.Cut(string(d), ".")
	if strings.Trim(frac, "0") != "" {
		return fmt.Errorf("wire.Int: %q has a fraction", text)
	}
	v, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return fmt.Errorf("wire.Int: %q: %w", text, err)
	}
	*i = NewInt(v)
	return nil
}

// MarshalJSON implements json.Marshaler: null when not valid.
func (i Int) MarshalJSON() ([]byte, error) {
	if !i.Valid {
		return null, nil
	}
	return strconv.AppendInt(nil, i.Value, 10), nil
}

// Ptr returns nil when the value is absent.
func (i Int) Ptr() *int64 {
	if !i.Valid {
		return nil
	}
	v := i.Value
	return &v
}

// IntFromPtr is the inverse of Ptr.
func IntFromPtr(p *int64) Int {
	if p == nil {
		return Int{}
	}
	return NewInt(*p)
}

var decimalPattern = regexp.MustCompile(`^[-+]?(\d+)(\.\d+)?$`)

// Decimal is an exact decimal kept as canonical text ("5.00000" stays
// "5.00000"; "+1" becomes "1"). The empty Decimal means absent.
type Decimal string

// ParseDecimal validates text as a plain decimal (no exponent) and returns
// it in canonical form.
func ParseDecimal(text string) (Decimal, error) {
	text = strings.TrimSpace(text)
	if !decimalPattern.MatchString(text) {
		return "", fmt.Errorf("%q is not a decimal number", text)
	}
	text = strings.TrimPrefix(text, "+")
	neg := strings.HasPrefix(text, "-")
	text = strings.TrimPrefix(text, "-")
	whole, frac, hasFrac := strings.Cut(text, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if hasFrac {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return Decimal(out), nil
}

// UnmarshalJSON implements json.Unmarshaler. Numbers in exponent form
// (1e3) are refused rather than rounded.
func (d *Decimal) UnmarshalJSON(data []byte) error {
	text, isNull, err := unquote(data)
	if err != nil {
		return fmt.Errorf("wire.Decimal: %w", err)
	}
	if isNull {
		*d = ""
		return nil
	}
	v, err := ParseDecimal(text)
	if err != nil {
		return fmt.Errorf("wire.Decimal: %w", err)
	}
	*d = v
	return nil
}

// MarshalJSON writes the decimal as a JSON number literal, as the upstreams
// expect, or null when absent.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return null, nil
	}
	return []byte(d), nil
}

// Text is a string that may arrive as a number (a phone typed int) or null.
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, null) {
		*t = ""
		return nil
	}
	if data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("wire.Text: %w", err)
		}
		*t = Text(s)
		return nil
	}
	if data[0] == '{' || data[0] == '[' {
		return fmt.Errorf("wire.Text: got %c, want a string", data[0])
	}
	*t = Text(data)
	return nil
}

// Bool is a boolean that may arrive as true/false, 0/1, "true"/"false" or
// null (false).
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bool) UnmarshalJSON(data []byte) error {
	text, isNull, err := unquote(data)
	if err != nil {
		return fmt.Errorf("wire.Bool: %w", err)
	}
	if isNull {
		*b = false
		return nil
	}
	switch strings.ToLower(text) {
	case "true", "1", "si", "sí":
		*b = true
	case "false", "0", "no":
		*b = false
	default:
		return fmt.Errorf("wire.Bool: %q is not a boolean", text)
	}
	return nil
}

// Messages is a list of messages that may arrive as null, a single string
// or an array of strings.
type Messages []string

// UnmarshalJSON implements json.Unmarshaler.
func (m *Messages) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || bytes.Equal(data, null):
		*m = nil
		return nil
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("wire.Messages: %w", err)
		}
		if s == "" {
			*m = nil
		} else {
			*m = Messages{s}
		}
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("wire.Messages: %w", err)
	}
	out := make(Messages, 0, len(raw))
	for _, r := range raw {
		var t Text
		if err := t.UnmarshalJSON(r); err != nil {
			// A structured error object: keep its JSON text rather than
			// dropping what the upstream said.
			out = append(out, string(r))
			continue
		}
		if t != "" {
			out = append(out, string(t))
		}
	}
	*m = out
	return nil
}
