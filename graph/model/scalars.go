// Package model holds the Go types behind the GraphQL schema: generated
// ones (models_gen.go) and the hand-written scalars and parent types whose
// child fields are resolved lazily.
package model

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Money is whole Colombian pesos. It serializes as a JSON integer and
// accepts integers or integral strings on input; fractions are refused
// rather than rounded.
type Money int64

// MarshalGQLContext implements graphql.ContextMarshaler.
func (m Money) MarshalGQLContext(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strconv.FormatInt(int64(m), 10))
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (m *Money) UnmarshalGQLContext(_ context.Context, v any) error {
	switch v := v.(type) {
	case int:
		*m = Money(v)
	case int64:
		*m = Money(v)
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return badScalar("Money must be whole pesos, got %s", v)
		}
		*m = Money(n)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badScalar("Money must be whole pesos, got %q", v)
		}
		*m = Money(n)
	case float64:
		// Variables decoded without UseNumber arrive as float64; accept
		// them only when exactly integral and within float's exact range.
		if v != float64(int64(v)) || v > 1<<53 || v < -(1<<53) {
			return badScalar("Money must be whole pesos, got %v", v)
		}
		*m = Money(int64(v))
	default:
		return badScalar("Money must be an integer, got %T", v)
	}
	return nil
}

// badScalar reports an input scalar the caller must fix.
func badScalar(format string, args ...any) error {
	return apperr.BadInput("", format, args...)
}

// Decimal is an exact decimal number, serialized as a JSON string.
type Decimal string

// MarshalGQLContext implements graphql.ContextMarshaler.
func (d Decimal) MarshalGQLContext(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strconv.Quote(string(d)))
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (d *Decimal) UnmarshalGQLContext(_ context.Context, v any) error {
	var text string
	switch v := v.(type) {
	case string:
		text = v
	case int:
		text = strconv.Itoa(v)
	case int64:
		text = strconv.FormatInt(v, 10)
	case json.Number:
		text = string(v)
	default:
		// float64 is refused on purpose: it has already lost exactness.
		return badScalar("Decimal must be a string such as \"5.00\", got %T", v)
	}
	parsed, err := wire.ParseDecimal(text)
	if err != nil {
		return badScalar("Decimal: %v", err)
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
		return "", fmt.Errorf("%q is not a date (YYYY-MM-DD)", text)
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
func (d *Date) UnmarshalGQLContext(_ context.Context, v any) error {
	s, ok := v.(string)
	if !ok {
		return badScalar("Date must be a string YYYY-MM-DD, got %T", v)
	}
	parsed, err := ParseDate(s)
	if err != nil {
		return badScalar("%v", err)
	}
	*d = parsed
	return nil
}

// JSON is a raw JSON value passed through byte for byte, so numbers in
// SERPI's custom fields keep their exact text.
type JSON json.RawMessage

// MarshalGQLContext implements graphql.ContextMarshaler.
func (j JSON) MarshalGQLContext(_ context.Context, w io.Writer) error {
	if len(j) == 0 {
		_, err := io.WriteString(w, "null")
		return err
	}
	_, err := w.Write(j)
	return err
}

// UnmarshalGQLContext implements graphql.ContextUnmarshaler.
func (j *JSON) UnmarshalGQLContext(_ context.Context, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return badScalar("JSON: %v", err)
	}
	*j = raw
	return nil
}

var (
	_ graphql.ContextMarshaler   = Money(0)
	_ graphql.ContextUnmarshaler = (*Money)(nil)
	_ graphql.ContextMarshaler   = Decimal("")
	_ graphql.ContextMarshaler   = Date("")
	_ graphql.ContextMarshaler   = JSON(nil)
)
