package wire

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestIntUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Int
		wantErr bool
	}{
		{"number", `5`, NewInt(5), false},
		{"negative number", `-42`, NewInt(-42), false},
		{"numeric string", `"5"`, NewInt(5), false},
		{"padded numeric string", `" 17 "`, NewInt(17), false},
		{"plus sign", `"+8"`, NewInt(8), false},
		{"empty string", `""`, Int{}, false},
		{"blank string", `"   "`, Int{}, false},
		{"null", `null`, Int{}, false},
		{"decimal string with zero fraction", `"1000.00"`, NewInt(1000), false},
		{"decimal number with zero fraction", `1000.00`, NewInt(1000), false},
		{"negative zero fraction", `"-3.000"`, NewInt(-3), false},
		{"decimal string with fraction", `"1000.50"`, Int{}, true},
		{"decimal number with fraction", `1000.5`, Int{}, true},
		{"small negative fraction", `"-0.5"`, Int{}, true},
		{"boolean true", `true`, Int{}, true},
		{"boolean false", `false`, Int{}, true},
		{"boolean in string", `"true"`, Int{}, true},
		{"letters", `"abc"`, Int{}, true},
		{"exponent", `1e3`, Int{}, true},
		{"hex", `"0x10"`, Int{}, true},
		{"array", `[1]`, Int{}, true},
		{"object", `{"a":1}`, Int{}, true},
		{"max int64", `9223372036854775807`, NewInt(9223372036854775807), false},
		{"min int64", `"-9223372036854775808"`, NewInt(-9223372036854775808), false},
		{"overflow number", `9223372036854775808`, Int{}, true},
		{"huge number", `123456789012345678901234567890`, Int{}, true},
		{"huge string with zero fraction", `"123456789012345678901234567890.00"`, Int{}, true},
		{"bad string escape", `"\x"`, Int{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Int{Value: 99, Valid: true} // must be overwritten on success
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %+v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIntInStruct(t *testing.T) {
	var v struct {
		A Int `json:"a"`
		B Int `json:"b"`
		C Int `json:"c"`
	}
	if err := json.Unmarshal([]byte(`{"a":"12","b":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != NewInt(12) || v.B.Valid || v.C.Valid {
		t.Errorf("got %+v", v)
	}
}

func TestIntMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   Int
		want string
	}{
		{"absent", Int{}, `null`},
		{"absent ignores value", Int{Value: 7}, `null`},
		{"zero", NewInt(0), `0`},
		{"value", NewInt(5), `5`},
		{"negative", NewInt(-12), `-12`},
		{"max", NewInt(9223372036854775807), `9223372036854775807`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%+v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestIntPtr(t *testing.T) {
	if p := (Int{}).Ptr(); p != nil {
		t.Errorf("Int{}.Ptr() = %v, want nil", *p)
	}
	i := NewInt(3)
	p := i.Ptr()
	if p == nil || *p != 3 {
		t.Fatalf("NewInt(3).Ptr() = %v", p)
	}
	*p = 4
	if i.Value != 3 {
		t.Errorf("Ptr aliases the Int")
	}
	if got := IntFromPtr(nil); got.Valid {
		t.Errorf("IntFromPtr(nil) = %+v", got)
	}
	v := int64(-9)
	if got := IntFromPtr(&v); got != NewInt(-9) {
		t.Errorf("IntFromPtr(&-9) = %+v", got)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in      string
		want    Decimal
		wantErr bool
	}{
		{"5.00000", "5.00000", false},
		{"+1", "1", false},
		{"-1", "-1", false},
		{"-0.0", "0.0", false},
		{"-0", "0", false},
		{"-000", "0", false},
		{"+0.00", "0.00", false},
		{"007.50", "7.50", false},
		{"-007.50", "-7.50", false},
		{"0.001", "0.001", false},
		{"-0.001", "-0.001", false},
		{" 12.5 ", "12.5", false},
		{"123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789", false},
		{"", "", true},
		{"1e3", "", true},
		{"1E3", "", true},
		{".5", "", true},
		{"5.", "", true},
		{"1,5", "", true},
		{"--1", "", true},
		{"+-1", "", true},
		{"abc", "", true},
		{"NaN", "", true},
		{"١٢", "", true}, // non-ASCII digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDecimal(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDecimal(%q) = %q, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDecimal(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDecimal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecimalUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Decimal
		wantErr bool
	}{
		{"string keeps text", `"5.00000"`, "5.00000", false},
		{"number literal keeps text", `5.00000`, "5.00000", false},
		{"plus sign", `"+1"`, "1", false},
		{"negative zero", `"-0.0"`, "0.0", false},
		{"negative zero number", `-0.0`, "0.0", false},
		{"leading zeros", `"007.50"`, "7.50", false},
		{"negative", `-19.99`, "-19.99", false},
		{"integer", `42`, "42", false},
		{"huge exact", `12345678901234567890.12345678901234567890`, "12345678901234567890.12345678901234567890", false},
		{"empty string", `""`, "", false},
		{"blank string", `"  "`, "", false},
		{"null", `null`, "", false},
		{"exponent number", `1e3`, "", true},
		{"exponent string", `"1e3"`, "", true},
		{"exponent with fraction", `1.5E-2`, "", true},
		{"boolean", `true`, "", true},
		{"letters", `"abc"`, "", true},
		{"array", `[1]`, "", true},
		{"object", `{}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decimal("sentinel")
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %q, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecimalMarshal(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"absent", Decimal(""), `null`},
		{"value is a number literal", Decimal("5.00000"), `5.00000`},
		{"negative", Decimal("-7.50"), `-7.50`},
		{"in struct", struct {
			Rate Decimal `json:"rate"`
			None Decimal `json:"none"`
		}{Rate: "19.00"}, `{"rate":19.00,"none":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDecimalRoundTrip(t *testing.T) {
	for _, in := range []string{`5.00000`, `0.1`, `-123.4500`, `99999999999999999999.99`} {
		var d Decimal
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("Unmarshal(%s): %v", in, err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != in {
			t.Errorf("round trip %s -> %s", in, out)
		}
	}
}

func TestTextUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Text
		wantErr bool
	}{
		{"string", `"hola"`, "hola", false},
		{"string keeps spaces", `" a b "`, " a b ", false},
		{"empty string", `""`, "", false},
		{"unicode escape", `"Medell\u00edn"`, "Medellín", false},
		{"phone number", `3001234567`, "3001234567", false},
		{"negative number", `-5`, "-5", false},
		{"decimal number keeps literal", `1.50`, "1.50", false},
		{"null", `null`, "", false},
		{"object", `{"a":1}`, "", true},
		{"array", `["a"]`, "", true},
		{"bad escape", `"\x"`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text("sentinel")
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %q, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestBoolUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Bool
		wantErr bool
	}{
		{"true", `true`, true, false},
		{"false", `false`, false, false},
		{"one", `1`, true, false},
		{"zero", `0`, false, false},
		{"string one", `"1"`, true, false},
		{"string zero", `"0"`, false, false},
		{"string true", `"true"`, true, false},
		{"string TRUE", `"TRUE"`, true, false},
		{"string false", `"false"`, false, false},
		{"si", `"si"`, true, false},
		{"SI", `"SI"`, true, false},
		{"sí", `"sí"`, true, false},
		{"no", `"no"`, false, false},
		{"null", `null`, false, false},
		{"empty string", `""`, false, false},
		{"maybe", `"maybe"`, false, true},
		{"two", `2`, false, true},
		{"one point zero", `1.0`, false, true},
		{"array", `[true]`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := !tt.want // must be overwritten on success
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMessagesUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Messages
		wantErr bool
	}{
		{"null", `null`, nil, false},
		{"single string", `"x"`, Messages{"x"}, false},
		{"empty string", `""`, nil, false},
		{"array drops empties, stringifies numbers", `["a","",3]`, Messages{"a", "3"}, false},
		{"array with null", `["a",null]`, Messages{"a"}, false},
		{"empty array", `[]`, Messages{}, false},
		{"object element keeps JSON text", `[{"k":1}]`, Messages{`{"k":1}`}, false},
		{"mixed", `["bad nit",{"field":"nit","msg":"x"}]`, Messages{"bad nit", `{"field":"nit","msg":"x"}`}, false},
		{"nested array keeps JSON text", `[["a"]]`, Messages{`["a"]`}, false},
		{"object", `{"k":1}`, nil, true},
		{"number", `3`, nil, true},
		{"bad string", `"\x"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Messages{"sentinel"}
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %q, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Unmarshal(%s) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}
