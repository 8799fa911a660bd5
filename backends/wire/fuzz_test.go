package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzWireTypes feeds arbitrary upstream JSON values to every tolerant
// type: no panic, and what decodes is canonical: a Decimal re-parses to
// itself and never has an exponent, an Int survives a round trip.
func FuzzWireTypes(f *testing.F) {
	for _, seed := range []string{
		`12`, `"12"`, `""`, `null`, `"  "`, `1000.00`, `"1000.50"`, `-0.0`, `+1`, `1e3`, `"1e999"`,
		`9223372036854775808`, `-9223372036854775809`, `0.30000000000000004`,
		`12345678901234567890.123456789`, `true`, `"si"`, `"Sí"`, `0`, `1`, `[1]`, `{"a":1}`,
		`["uno", {"code": 2}, null, ""]`, `"\u0000"`, `"\ud800"`, `"`, `nul`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decimal
		if err := d.UnmarshalJSON(data); err == nil && d != "" {
			if strings.ContainsAny(string(d), "eE+") {
				t.Fatalf("Decimal %q from %q is not plain", d, data)
			}
			if again, err := ParseDecimal(string(d)); err != nil || again != d {
				t.Fatalf("Decimal %q from %q re-parses to %q, %v", d, data, again, err)
			}
		}
		var i Int
		if err := i.UnmarshalJSON(data); err == nil && i.Valid {
			out, _ := i.MarshalJSON()
			var back Int
			if err := json.Unmarshal(out, &back); err != nil || back != i {
				t.Fatalf("Int %v from %q round-trips to %v, %v", i, data, back, err)
			}
		}
		var txt Text
		_ = txt.UnmarshalJSON(data)
		var b Bool
		_ = b.UnmarshalJSON(data)
		var m Messages
		_ = m.UnmarshalJSON(data)
	})
}
