package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

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
		{"integral float", float64(1 << 52), 1 << 52, true, ""},
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
}

func FuzzMoneyUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) { fuzzUnmarshal(t, new(Money), data) })
}

func FuzzDecimalUnmarshal(f *testing.F) {
	for _, s := range abusive {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) { fuzzUnmarshal(t, new(Decimal), data) })
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
