// Package model holds the Go types behind the GraphQL schema: generated
// ones (models_gen.go) and the hand-written scalars and parent types whose
// child fields are resolved lazily.
package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Money is whole Colombian pesos. It serializes as a JSON integer. Input
// is read exactly from its text, never through float64: a JSON number, a
// number literal or a string, in plain decimal notation ("1500000",
// "1500000.00"); a non-zero fraction is refused rather than rounded, and
// so is an exponent.
type Money int64

// MarshalGQLContext implements graphql.ContextMarshaler.
func (m Money) MarshalGQLContext(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strconv.FormatInt(int64(m), 10))
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler. A refusal
// names the argument or input field and never repeats the value.
func (m *Money) UnmarshalGQLContext(ctx context.Context, v any) error {
	text, ok := numberText(v)
	if !ok {
		return badScalar(ctx, "Money must be whole pesos written as digits (a JSON number or a string), got %s", kindOf(v))
	}
	n, err := ParseMoney(text)
	if errors.Is(err, strconv.ErrRange) {
		return badScalar(ctx, "Money must be whole pesos that fit in a signed 64-bit integer")
	}
	if err != nil {
		return badScalar(ctx, "Money must be whole pesos: digits only, without a fraction or an exponent")
	}
	*m = n
	return nil
}

// ParseMoney reads text as whole pesos: a plain decimal ("1500000",
// "-3", "1500000.00") whose fraction, if any, is zero. An integer past
// 64 bits is an error wrapping strconv.ErrRange.
func ParseMoney(text string) (Money, error) {
	d, err := wire.ParseDecimal(text)
	if err != nil {
		return 0, err
	}
	whole, frac, _ := strings.Cut(string(d), ".")
	if strings.Trim(frac, "0") != "" {
		return 0, errors.New("money has a fraction")
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("money: %w", err)
	}
	return Money(n), nil
}

// numberText is the exact text of a number input: a string, a JSON
// number (the transports decode variables with UseNumber) or a literal
// (the edge hands Decimal and Money number literals over as their text;
// an integer literal of any other path arrives as int64). A float64 has
// already lost digits and is refused: ok is false.
func numberText(v any) (text string, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// badScalar reports an input scalar the caller must fix, naming where it
// was (the argument or input field path, e.g. "input.amount") and never
// what it was: messages must not repeat request content.
func badScalar(ctx context.Context, format string, args ...any) error {
	return apperr.BadInput(InputPath(ctx), format, args...)
}

// InputPath is the dotted path ("input.items[2].amount") of the argument
// or input field gqlgen is unmarshalling in ctx, without the response
// path of the field it belongs to; empty outside argument unmarshalling.
func InputPath(ctx context.Context) string {
	var parts []string
	for pc := graphql.GetPathContext(ctx); pc != nil; pc = pc.Parent {
		switch {
		case pc.Index != nil:
			parts = append(parts, "["+strconv.Itoa(*pc.Index)+"]")
		case pc.Field != nil:
			parts = append(parts, *pc.Field)
		}
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		if b.Len() > 0 && !strings.HasPrefix(parts[i], "[") {
			b.WriteByte('.')
		}
		b.WriteString(parts[i])
	}
	return b.String()
}

// kindOf names a decoded input value's JSON kind, for messages that must
// say what was wrong without repeating the value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, int, int32, int64, float32, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return "an unsupported value"
	}
}

// Decimal is an exact decimal number, serialized as a JSON string. Input
// is read exactly from its text, never through float64: a string, a JSON
// number or a number literal, in plain decimal notation (no exponent), of
// at most MaxDecimalDigits digits. Narrower bounds (SERPI keeps 5
// decimals) are the domain's to check, so that they are reported with
// every other problem of the same input.
type Decimal string

// MaxDecimalDigits bounds the digits of a Decimal input, well past any
// number the upstreams hold (SERPI's have at most 18).
const MaxDecimalDigits = 40

// MarshalGQLContext implements graphql.ContextMarshaler.
func (d Decimal) MarshalGQLContext(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strconv.Quote(string(d)))
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (d *Decimal) UnmarshalGQLContext(ctx context.Context, v any) error {
	text, ok := numberText(v)
	if !ok {
		return badScalar(ctx, "Decimal must be a number written in decimal notation (a JSON number or a string such as \"5.00\"), got %s", kindOf(v))
	}
	parsed, err := wire.ParseDecimal(text)
	if err != nil {
		return badScalar(ctx, "Decimal must be a decimal number such as \"5.00\" (digits, an optional sign and point, no exponent)")
	}
	if digits := len(parsed) - strings.Count(string(parsed), "-") - strings.Count(string(parsed), "."); digits > MaxDecimalDigits {
		return badScalar(ctx, "Decimal must have at most %d digits", MaxDecimalDigits)
	}
	*d = Decimal(parsed)
	return nil
}

// DecimalPtr converts an optional wire decimal; absent becomes nil.
func DecimalPtr(d wire.Decimal) *Decimal {
	if d == "" {
		return nil
	}
	v := Decimal(d)
	return &v
}

// Date is a calendar date, YYYY-MM-DD.
type Date string

const dateLayout = "2006-01-02"

// ParseDate validates text as YYYY-MM-DD (a real date).
func ParseDate(text string) (Date, error) {
	if _, err := time.Parse(dateLayout, text); err != nil {
		return "", errors.New("not a date (YYYY-MM-DD)")
	}
	return Date(text), nil
}

// DateOf formats t's calendar date.
func DateOf(t time.Time) Date { return Date(t.Format(dateLayout)) }

// DatePtr converts an optional upstream date; empty or invalid becomes nil.
func DatePtr(text string) *Date {
	d, err := ParseDate(text)
	if err != nil {
		return nil
	}
	return &d
}

// MarshalGQLContext implements graphql.ContextMarshaler.
func (d Date) MarshalGQLContext(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strconv.Quote(string(d)))
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (d *Date) UnmarshalGQLContext(ctx context.Context, v any) error {
	s, ok := v.(string)
	if !ok {
		return badScalar(ctx, "Date must be a string YYYY-MM-DD, got %s", kindOf(v))
	}
	parsed, err := ParseDate(s)
	if err != nil {
		return badScalar(ctx, "Date must be a real calendar date written YYYY-MM-DD")
	}
	*d = parsed
	return nil
}

// JSON is a raw JSON value passed through byte for byte, so numbers in
// SERPI's custom fields keep their exact text.
type JSON json.RawMessage

// MarshalGQLContext implements graphql.ContextMarshaler. It writes the
// value compacted (numbers keep their text): the rest of the answer's data
// is compact as gqlgen writes it, and the HTTP transport relies on that to
// send the data without compacting it again (transport.marshalResponse).
func (j JSON) MarshalGQLContext(_ context.Context, w io.Writer) error {
	if len(j) == 0 {
		_, err := io.WriteString(w, "null")
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, j); err != nil {
		return fmt.Errorf("JSON scalar holds invalid JSON: %w", err)
	}
	_, err := w.Write(compact.Bytes())
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (j *JSON) UnmarshalGQLContext(ctx context.Context, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		// Only a value JSON cannot hold (a non-finite float) gets here.
		return badScalar(ctx, "JSON must be a JSON value with finite numbers")
	}
	*j = raw
	return nil
}

var (
	_ graphql.ContextMarshaler   = Money(0)
	_ graphql.ContextUnmarshaler = (*Money)(nil)
	_ graphql.ContextMarshaler   = Decimal("")
	_ graphql.ContextUnmarshaler = (*Decimal)(nil)
	_ graphql.ContextMarshaler   = Date("")
	_ graphql.ContextUnmarshaler = (*Date)(nil)
	_ graphql.ContextMarshaler   = JSON(nil)
	_ graphql.ContextUnmarshaler = (*JSON)(nil)
)
