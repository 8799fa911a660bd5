package transport

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// responseCases are answers as gqlgen builds them: compact data.
func responseCases() []*graphql.Response {
	yes := true
	return []*graphql.Response{
		nil,
		{},
		{Data: json.RawMessage(`null`)},
		{Data: json.RawMessage(`{"taxes":{"edges":[{"node":{"id":"VGF4OjE=","description":"IVA COMPRA 5%","rate":"5.00000"}}]}}`)},
		{Data: json.RawMessage(`{"a":"<script>alert(1)</script> & more","b":"line\u2028sep\u2029end","c":"€ – ok"}`)},
		{Data: json.RawMessage(`{"s":"quote \" backslash \\ tab \t nl \n ctl \u0001"}`)},
		{Errors: gqlerror.List{{Message: "not <allowed> & such", Path: ast.Path{ast.PathName("taxes"), ast.PathIndex(2)},
			Extensions: map[string]any{"code": "FORBIDDEN"}}}, Data: json.RawMessage(`{"taxes":null}`)},
		{Errors: gqlerror.List{{Message: "one"}, {Message: "two"}}},
		{Data: json.RawMessage(`{}`), Extensions: map[string]any{"cost": 3}},
		{Data: json.RawMessage(`{"x":1}`), Label: "l", Path: ast.Path{ast.PathName("x")}, HasNext: &yes},
	}
}

func TestMarshalResponseIsJSONMarshal(t *testing.T) {
	for i, resp := range responseCases() {
		want, wantErr := json.Marshal(resp)
		got, err := encodeResponse(resp)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got %s (%v)\nwant %s (%v)", i, got, err, want, wantErr)
		}
	}
}

// FuzzMarshalResponse checks encodeResponse against json.Marshal on
// compact data holding arbitrary strings (gqlgen's data is compact).
func FuzzMarshalResponse(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&", "\u2028\u2029", "€\xe2\x80", "\x00\x1f\"\\", "\xff invalid utf-8"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, value, message string) {
		data, err := json.Marshal(map[string]any{"v": value, "list": []string{value, "x"}})
		if err != nil {
			t.Skip()
		}
		for _, resp := range []*graphql.Response{
			{Data: data},
			{Data: data, Errors: gqlerror.List{{Message: message}}},
		} {
			want, wantErr := json.Marshal(resp)
			got, err := encodeResponse(resp)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("got %q (%v), want %q (%v)", got, err, want, wantErr)
			}
		}
	})
}
