package relay

import (
	"errors"
	"testing"
)

func TestGlobalIDRoundTrip(t *testing.T) {
	gid := GlobalIntID("Tax", 12)
	if gid != "VGF4OjEy" { // base64("Tax:12"), as graphql-relay encodes it
		t.Fatalf("GlobalIntID = %q", gid)
	}
	typ, id, err := ParseGlobalID(gid)
	if err != nil || typ != "Tax" || id != "12" {
		t.Fatalf("ParseGlobalID = %q %q %v", typ, id, err)
	}
}

func TestParseIntID(t *testing.T) {
	tests := []struct {
		name, gid, want string
		id              int64
		wantErr         bool
	}{
		{"global", GlobalIntID("Branch", 2317), "Branch", 2317, false},
		{"unpadded", "VGF4OjEy", "Tax", 12, false},
		{"plain upstream id", "42", "Article", 42, false},
		{"wrong type", GlobalIntID("Tax", 1), "Branch", 0, true},
		{"not base64", "%%%", "Tax", 0, true},
		{"no colon", "VGF4", "Tax", 0, true},
		{"non-numeric id", GlobalID("Tax", "abc"), "Tax", 0, true},
		{"negative", GlobalID("Tax", "-3"), "Tax", 0, true},
		{"zero plain", "0", "Tax", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := ParseIntID(tc.gid, tc.want)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidID) {
					t.Fatalf("err = %v, want ErrInvalidID", err)
				}
				return
			}
			if err != nil || id != tc.id {
				t.Fatalf("ParseIntID = %d, %v; want %d", id, err, tc.id)
			}
		})
	}
}

func TestCursor(t *testing.T) {
	c := Cursor("Branch", 99)
	n, err := ParseCursor(c, "Branch")
	if err != nil || n != 99 {
		t.Fatalf("ParseCursor = %d, %v", n, err)
	}
	if _, err := ParseIntID(GlobalIntID("Tax", 1), "Branch"); !errors.Is(err, ErrWrongType) {
		t.Fatalf("wrong type: %v, want ErrWrongType", err)
	}
	if _, err := ParseCursor(c, "Tax"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("cursor of another type accepted: %v", err)
	}
	if _, err := ParseCursor("garbage!", "Tax"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("garbage cursor accepted: %v", err)
	}
}
