package transport

import (
	"bytes"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
)

// encodeResponse returns exactly what json.Marshal(resp) returns for an
// operation's answer, without running the data through encoding/json
// again. json.Marshal re-validates and compacts a json.RawMessage byte by
// byte (about 7% of an uncached 50-tax read's CPU); gqlgen writes the data
// compact already, so the one thing left to do is json's HTML escaping
// (<, >, &, U+2028 and U+2029 inside strings), which json.HTMLEscape does
// when any of those bytes occurs. Answers with more than errors and data
// (extensions, incremental delivery) take json.Marshal itself.
func encodeResponse(resp *graphql.Response) ([]byte, error) {
	if resp == nil || resp.Label != "" || resp.Path != nil || resp.HasNext != nil || len(resp.Extensions) > 0 {
		return json.Marshal(resp)
	}
	var buf bytes.Buffer
	buf.Grow(len(resp.Data) + 16)
	buf.WriteByte('{')
	if len(resp.Errors) > 0 {
		errs, err := json.Marshal(resp.Errors)
		if err != nil {
			return nil, err
		}
		buf.WriteString(`"errors":`)
		buf.Write(errs)
		buf.WriteByte(',')
	}
	buf.WriteString(`"data":`)
	switch {
	case len(resp.Data) == 0:
		buf.WriteString("null")
	case needsHTMLEscape(resp.Data):
		json.HTMLEscape(&buf, resp.Data)
	default:
		buf.Write(resp.Data)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// needsHTMLEscape reports whether b holds a byte json.HTMLEscape would
// change: <, > or &, or the first byte of U+2028/U+2029 (0xE2; a false
// positive only costs the escaping pass).
func needsHTMLEscape(b []byte) bool {
	return bytes.ContainsAny(b, "<>&") || bytes.IndexByte(b, 0xE2) >= 0
}
