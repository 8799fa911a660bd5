package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// argCtx is the context gqlgen gives an unmarshaller of argument "input",
// list item 2, field "amount".
func argCtx() context.Context {
	ctx := graphql.WithPathContext(context.Background(), graphql.NewPathWithField("input"))
	ctx = graphql.WithPathContext(ctx, graphql.NewPathWithIndex(2))
	return graphql.WithPathContext(ctx, graphql.NewPathWithField("amount"))
}

// wantBadInput asserts err is BAD_USER_INPUT naming input[2].amount and
// not repeating echo.
func wantBadInput(t *testing.T, err error, echo string) {
	t.Helper()
	var own *apperr.Error
	if !errors.As(err, &own) || own.Code != apperr.BadUserInput {
		t.Fatalf("want BAD_USER_INPUT, got %v", err)
	}
	if own.Field != "input[2].amount" {
		t.Errorf("field %q, want input[2].amount", own.Field)
	}
	if echo != "" && strings.Contains(own.Message, echo) {
		t.Errorf("message %q repeats the value", own.Message)
	}
	if strings.Contains(own.Message, "e+") {
		t.Errorf("message %q has a number in exponent form", own.Message)
	}
}

func TestMoneyUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want Money
		ok   bool
		echo string
	}{
		{"int", 5000, 5000, true, ""},
		{"int64 max", int64(math.MaxInt64), math.MaxInt64, true, ""},
		{"json number", json.Number("-42"), -42, true, ""},
		{"integral string", "123", 123, true, ""},
		{"zero fraction", json.Number("1500000.00"), 1500000, true, ""},
		{"zero fraction string", "1500000.0", 1500000, true, ""},
		{"literal text", "1000000", 1000000, true, ""},
		{"integral float", float64(1 << 52), 0, false, ""},
		{"fraction as literal text", "1000000.5", 0, false, "1000000.5"},
		{"exponent as literal text", "1.0000005e6", 0, false, "1.0000005"},
		{"exponent json", json.Number("1.0000005e+06"), 0, false, "1.0000005"},
		{"past int64", json.Number("9223372036854775808"), 0, false, "9223372036854775808"},
		{"below int64", json.Number("-9223372036854775809"), 0, false, "9223372036854775809"},
		{"past float64", json.Number("1e999"), 0, false, "1e999"},
		{"exponent", json.Number("1e3"), 0, false, "1e3"},
		{"fraction", json.Number("1.5"), 0, false, "1.5"},
		{"fraction float", 1.5, 0, false, "1.5"},
		{"huge float", 1e300, 0, false, "1e+300"},
		{"infinite float", math.Inf(1), 0, false, "Inf"},
		{"nan", math.NaN(), 0, false, "NaN"},
		{"string", "abc", 0, false, "abc"},
		{"string past int64", "9223372036854775808", 0, false, "9223372036854775808"},
		{"bool", true, 0, false, "true"},
		{"object", map[string]any{"secret": 1}, 0, false, "secret"},
		{"list", []any{"secret"}, 0, false, "secret"},
		{"null", nil, 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Money
			err := m.UnmarshalGQLContext(argCtx(), tt.in)
			if tt.ok {
				if err != nil || m != tt.want {
					t.Fatalf("got %d, %v; want %d", m, err, tt.want)
				}
				return
			}
			wantBadInput(t, err, tt.echo)
		})
	}
}

func TestOtherScalarsRefuseWithoutEcho(t *testing.T) {
	tests := []struct {
		name string
		dst  graphql.ContextUnmarshaler
		in   any
		echo string
	}{
		{"decimal exponent", new(Decimal), "1e999", "1e999"},
		{"decimal word", new(Decimal), "secret", "secret"},
		{"decimal float", new(Decimal), 1.5, "1.5"},
		{"decimal too many digits", new(Decimal), strings.Repeat("9", MaxDecimalDigits+1), "99999"},
		{"date word", new(Date), "secret", "secret"},
		{"date impossible", new(Date), "2024-02-30", "2024-02-30"},
		{"date number", new(Date), json.Number("20240101"), "20240101"},
		{"json infinite", new(JSON), math.Inf(1), "Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantBadInput(t, tt.dst.UnmarshalGQLContext(argCtx(), tt.in), tt.echo)
		})
	}
	var d Decimal
	if err := d.UnmarshalGQLContext(argCtx(), "5.00"); err != nil || d != "5.00" {
		t.Fatalf("decimal: %q %v", d, err)
	}
}

// TestDecimalUnmarshalIsExact: every form a number can take on input is
// read from its text, so what was written is what the resolver gets.
func TestDecimalUnmarshalIsExact(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want Decimal // empty: refused
	}{
		{"string", "19.5", "19.5"},
		{"json number", json.Number("19.5"), "19.5"},
		{"literal text", "19.50000", "19.50000"},
		{"int literal", int64(1000), "1000"},
		{"int", 7, "7"},
		{"plus sign", "+1", "1"},
		{"leading zeros", "007.10", "7.10"},
		{"negative zero", "-0.0", "0.0"},
		// Exactness is the scalar's; SERPI's 5 decimals are the domain's.
		{"beyond float64 precision", json.Number("0.30000000000000004"), "0.30000000000000004"},
		{"beyond int64", json.Number("12345678901234567890.123456789"), "12345678901234567890.123456789"},
		{"max digits", strings.Repeat("9", MaxDecimalDigits), Decimal(strings.Repeat("9", MaxDecimalDigits))},
		{"float64", 19.5, ""},
		{"exponent", json.Number("1.95e1"), ""},
		{"too many digits", "0." + strings.Repeat("1", MaxDecimalDigits), ""},
		{"word", "NaN", ""},
		{"bool", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decimal
			err := d.UnmarshalGQLContext(argCtx(), tt.in)
			if tt.want == "" {
				wantBadInput(t, err, "")
				return
			}
			if err != nil || d != tt.want {
				t.Fatalf("got %q, %v; want %q", d, err, tt.want)
			}
		})
	}
}

func TestInputPath(t *testing.T) {
	if p := InputPath(context.Background()); p != "" {
		t.Fatalf("outside arguments: %q", p)
	}
	if p := InputPath(argCtx()); p != "input[2].amount" {
		t.Fatalf("got %q", p)
	}
}

// fuzzUnmarshal feeds one JSON-decoded value (as gqlgen's transports
// decode variables, numbers as json.Number) to dst: it must never panic,
// and a refusal must be BAD_USER_INPUT without the value's text.
func fuzzUnmarshal(t *testing.T, dst graphql.ContextUnmarshaler, data string) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return
	}
	err := dst.UnmarshalGQLContext(argCtx(), v)
	if err == nil {
		return
	}
	var own *apperr.Error
	if !errors.As(err, &own) || own.Code != apperr.BadUserInput || own.Field != "input[2].amount" {
		t.Fatalf("refusal %v is not BAD_USER_INPUT on the field", err)
	}
	if s, ok := v.(string); ok && len(s) > 3 && strings.Contains(own.Message, s) {
		t.Fatalf("message %q repeats the value", own.Message)
	}
}

// abusive holds every value the issue (finding 6) used, for every scalar.
var abusive = []string{
	`9223372036854775808`, `-9223372036854775809`, `1e999`, `-1e999`, `1.5`, `"abc"`,
	`"9223372036854775808"`, `1e3`, `0`, `-0`, `"2024-02-30"`, `"5.00"`, `{"a":1e999}`,
	`[1,2]`, `null`, `true`, `"1e999"`, `"` + strings.Repeat("9", 400) + `"`,
	// Issue 11, findings 5 and 6.
	`19.5`, `"19.5"`, `0.30000000000000004`, `"0.30000000000000004"`, `12345678901234567890.123456789`,
	`"12345678901234567890.123456789"`, `1000000.5`, `1.0000005e+06`, `"1.0000005e6"`, `1500000.00`, `"+1"`, `"-0.0"`,
}

func FuzzMoneyUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		fuzzUnmarshal(t, new(Money), data)
		// Exact: what is accepted is the number written, digit for digit.
		if text, ok := decodedText(data); ok {
			var m Money
			if m.UnmarshalGQLContext(argCtx(), text) == nil {
				d, err := wire.ParseDecimal(text)
				whole, _, _ := strings.Cut(string(d), ".")
				if err != nil || strconv.FormatInt(int64(m), 10) != whole {
					t.Fatalf("Money %d from %q", m, text)
				}
			}
		}
	})
}

// decodedText is the text of data when it is a JSON string or number.
func decodedText(data string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}

func FuzzDecimalUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		fuzzUnmarshal(t, new(Decimal), data)
		// Exact: what is accepted is the canonical text of what was written.
		if text, ok := decodedText(data); ok {
			var d Decimal
			if d.UnmarshalGQLContext(argCtx(), text) == nil {
				if want, err := wire.ParseDecimal(text); err != nil || string(d) != string(want) {
					t.Fatalf("Decimal %q from %q", d, text)
				}
			}
		}
	})
}

func FuzzDateUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) { fuzzUnmarshal(t, new(Date), data) })
}

func FuzzJSONUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) { fuzzUnmarshal(t, new(JSON), data) })
}

// A JSON scalar is written compact, numbers with their exact text, as the
// rest of gqlgen's data is (the HTTP transport sends data as written).
func TestJSONMarshalsCompact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "null"},
		{`{"a": 1.50, "b" : [ 1 , "x y" ] }`, `{"a":1.50,"b":[1,"x y"]}`},
		{`"text"`, `"text"`},
	} {
		var b strings.Builder
		if err := JSON(tt.in).MarshalGQLContext(context.Background(), &b); err != nil || b.String() != tt.want {
			t.Errorf("JSON(%q) wrote %q (%v), want %q", tt.in, b.String(), err, tt.want)
		}
	}
	var b strings.Builder
	if err := JSON(`{"a":`).MarshalGQLContext(context.Background(), &b); err == nil {
		t.Errorf("invalid JSON written as %q without an error", b.String())
	}
}
