package catalogwrite

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/graph/model"
)

// fullUpsert gives every field of an upsert item a value, found through
// reflection so that a field added to the schema later is covered too.
func fullUpsert(t *testing.T) *model.UpsertArticleInput {
	t.Helper()
	in := &model.UpsertArticleInput{Code: ptr("FULL")}
	v := reflect.ValueOf(in).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Code" {
			continue
		}
		// Each other field is a graphql.Omittable[X]; what X holds decides
		// the JSON given to its UnmarshalJSON.
		valueType := v.Field(i).MethodByName("Value").Type().Out(0)
		var raw string
		switch {
		case valueType == reflect.TypeFor[model.JSON]():
			raw = `"eyJrIjoxfQ=="` // {"k":1}: model.JSON decodes from JSON as bytes do
		case valueType == reflect.TypeFor[*model.PlanningType]():
			raw = `"CUSTOM"`
		case valueType.Kind() == reflect.Slice:
			raw = `["uno","dos"]`
		case valueType.Elem().Kind() == reflect.String:
			raw = `"7"`
		case valueType.Elem().Kind() == reflect.Int:
			raw = fmt.Sprint(i + 1)
		case valueType.Elem().Kind() == reflect.Bool:
			raw = `true`
		default:
			t.Fatalf("field %s: unhandled type %s", name, valueType)
		}
		if err := v.Field(i).Addr().Interface().(json.Unmarshaler).UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatalf("field %s: %v", name, err)
		}
		if !v.Field(i).MethodByName("IsSet").Call(nil)[0].Bool() {
			t.Fatalf("field %s not set", name)
		}
	}
	return in
}

func TestUpsertItemMapsEveryFieldToCreateAndUpdate(t *testing.T) {
	in := fullUpsert(t)
	create := reflect.ValueOf(upsertAsCreate(in)).Elem()
	update := reflect.ValueOf(upsertAsUpdate(in, 42)).Elem()
	src := reflect.ValueOf(in).Elem()
	for i := range src.NumField() {
		name := src.Type().Field(i).Name
		if name == "Code" {
			continue
		}
		given := src.Field(i).Interface()
		value := src.Field(i).MethodByName("Value").Call(nil)[0].Interface()
		if c := create.FieldByName(name); !c.IsValid() || !reflect.DeepEqual(c.Interface(), value) {
			t.Errorf("%s not carried to the create input", name)
		}
		if u := update.FieldByName(name); !u.IsValid() || !reflect.DeepEqual(u.Interface(), given) {
			t.Errorf("%s not carried to the update input", name)
		}
	}
	if *upsertAsCreate(in).Code != "FULL" {
		t.Error("code not carried to the create input")
	}
	if u := upsertAsUpdate(in, 42); u.ID != "42" || u.Code.IsSet() {
		t.Errorf("update input: id %q, code set %v (the code is the key, not written over)", u.ID, u.Code.IsSet())
	}
	// Every field of the create and update inputs is an upsert field.
	for _, target := range []reflect.Type{create.Type(), update.Type()} {
		for i := range target.NumField() {
			if name := target.Field(i).Name; name != "ID" {
				if _, ok := src.Type().FieldByName(name); !ok {
					t.Errorf("%s.%s has no upsert field", target.Name(), name)
				}
			}
		}
	}
}

func TestUpsertPrecheck(t *testing.T) {
	tests := []struct {
		name string
		in   model.UpsertArticleInput
		want []string
	}{
		{"code only", model.UpsertArticleInput{Code: ptr(" X ")}, nil},
		{"no code", model.UpsertArticleInput{Description: set("D")}, []string{"input[0].code"}},
		{"blank code", model.UpsertArticleInput{Code: ptr("  ")}, []string{"input[0].code"}},
		{"null on a required field", model.UpsertArticleInput{Code: ptr("X"), BrandID: graphql.OmittableOf[*int](nil)}, []string{"input[0].brandId"}},
		{"invalid value", model.UpsertArticleInput{Code: ptr("X"), MaxDays: set(40000)}, []string{"input[0].maxDays"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, problems := upsertPrecheck(0, &tt.in)
			if got := fields(problems); !reflect.DeepEqual(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Fatalf("problems %v, want %v", got, tt.want)
			}
			if tt.want == nil && a.Codigo != "X" {
				t.Fatalf("code %q, want trimmed X", a.Codigo)
			}
		})
	}
}
