package relay

import (
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzParseIntID feeds client-supplied ids (node(id:), branch(id:), ...)
// to the decoder: it never panics, a success is a positive id that the
// global ID of the same type decodes to again, and every failure is an
// ErrInvalidID.
func FuzzParseIntID(f *testing.F) {
	for _, seed := range []struct{ gid, typ string }{
		{GlobalIntID("Tax", 12), "Tax"},
		{GlobalIntID("Branch", 7), "Tax"},
		{"12", "Tax"},
		{"-1", "Tax"},
		{"0", "Branch"},
		{"VGF4OjEy", "Tax"},                             // padding stripped
		{"VGF4OjA=", "Tax"},                             // Tax:0
		{"VGF4Oi0x", "Tax"},                             // Tax:-1
		{"VGF4Ojk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "Tax"}, // overflow
		{"!!!", "Article"},
		{"", "Article"},
		{"OjE=", "Article"}, // ":1"
		{"QXJ0aWNsZTo=", "Article"},
		{"9223372036854775808", "Tax"},
	} {
		f.Add(seed.gid, seed.typ)
	}
	f.Fuzz(func(t *testing.T, gid, typ string) {
		n, err := ParseIntID(gid, typ)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseIntID(%q, %q): error %v is not an ErrInvalidID", gid, typ, err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("ParseIntID(%q, %q) = %d, want a positive id", gid, typ, n)
		}
		if !isTypeName(typ) {
			return // global ids are made only for the schema's type names
		}
		if back, err := ParseIntID(GlobalIntID(typ, n), typ); err != nil || back != n {
			t.Fatalf("round trip of %d as %q: %d, %v", n, typ, back, err)
		}
	})
}

// FuzzParseCursor feeds client-supplied `after` cursors: never a panic,
// failures are ErrInvalidID, and what Cursor makes always decodes back.
func FuzzParseCursor(f *testing.F) {
	for _, seed := range []struct {
		cursor, typ string
		id          int64
	}{
		{Cursor("Tax", 5), "Tax", 5},
		{Cursor("Branch", 1), "Tax", 1},
		{"", "Tax", 0},
		{"Y3Vyc29yOlRheDo", "Tax", -3},
		{"Y3Vyc29yOlRheDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "Tax", 1},
		{"====", "Article", 9},
		{"%%%", "Article", 1 << 62},
	} {
		f.Add(seed.cursor, seed.typ, seed.id)
	}
	f.Fuzz(func(t *testing.T, cursor, typ string, id int64) {
		if _, err := ParseCursor(cursor, typ); err != nil && !errors.Is(err, ErrInvalidID) {
			t.Fatalf("ParseCursor(%q, %q): error %v is not an ErrInvalidID", cursor, typ, err)
		}
		back, err := ParseCursor(Cursor(typ, id), typ)
		if err != nil || back != id {
			t.Fatalf("Cursor(%q, %d) decodes to %d, %v", typ, id, back, err)
		}
		if _, err := strconv.ParseInt(strconv.FormatInt(back, 10), 10, 64); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseOrderedCursor feeds client-supplied cursors of sorted
// connections: never a panic, failures are ErrInvalidID, and what
// OrderedCursor makes decodes back to its order, id and key, whatever the
// key's bytes.
func FuzzParseOrderedCursor(f *testing.F) {
	for _, seed := range []struct {
		cursor, typ, order, key string
		id                      int64
	}{
		{OrderedCursor("Article", "code.desc", 5, "abc"), "Article", "code.desc", "abc", 5},
		{OrderedCursor("Tax", "rate.asc", 9, "2002190"), "Tax", "rate.asc", "2002190", 9},
		{OrderedCursor("Tax", "rate.asc", 9, "a:b:c"), "Tax", "id.desc", "", -1},
		{Cursor("Tax", 5), "Tax", "", "", 5},
		{Cursor("Branch", 1), "Tax", "code.asc", "x", 1},
		{"", "Tax", "", "", 0},
		{"Y3Vyc29yOlRheDo6MTo", "Tax", "description.asc", "\x00", 1},
		{"%%%", "Article", "cost.desc", "3", 1 << 62},
	} {
		f.Add(seed.cursor, seed.typ, seed.order, seed.key, seed.id)
	}
	f.Fuzz(func(t *testing.T, cursor, typ, order, key string, id int64) {
		if _, _, _, err := ParseOrderedCursor(cursor, typ); err != nil && !errors.Is(err, ErrInvalidID) {
			t.Fatalf("ParseOrderedCursor(%q, %q): error %v is not an ErrInvalidID", cursor, typ, err)
		}
		if !isOrderName(order) {
			return // orders are the schema's field names and directions
		}
		gotOrder, gotID, gotKey, err := ParseOrderedCursor(OrderedCursor(typ, order, id, key), typ)
		if order == "" {
			key = "" // the default order's cursor holds no key
		}
		if err != nil || gotOrder != order || gotID != id || gotKey != key {
			t.Fatalf("OrderedCursor(%q, %q, %d, %q) decodes to %q, %d, %q, %v", typ, order, id, key, gotOrder, gotID, gotKey, err)
		}
	})
}

func isOrderName(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '.' {
			return false
		}
	}
	return true
}

func isTypeName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// FuzzParseKeyCursor feeds client-supplied composite-key cursors (the
// customer's payments connection): never a panic, failures are
// ErrInvalidID, success has exactly the parts asked for, and what
// KeyCursor makes decodes back to the same parts.
func FuzzParseKeyCursor(f *testing.F) {
	for _, seed := range []struct {
		cursor, typ, a, b string
	}{
		{KeyCursor("Payment", "2025-02-01", "1"), "Payment", "2025-02-01", "1"},
		{KeyCursor("Payment", "", ""), "Payment", "x", ""},
		{KeyCursor("Tax", "a", "b"), "Payment", "a", "b"},
		{Cursor("Payment", 3), "Payment", "1", "2"},
		{"a2V5czpQYXltZW50Olsi", "Payment", "\x00", "\"]"},   // keys:Payment:["
		{"a2V5czpQYXltZW50OnsiYSI6MX0", "Payment", "{", "}"}, // an object, not a list
		{"", "Payment", "", ""},
		{"%%%", "Payment", "ñ", "日本"},
	} {
		f.Add(seed.cursor, seed.typ, seed.a, seed.b)
	}
	f.Fuzz(func(t *testing.T, cursor, typ, a, b string) {
		parts, err := ParseKeyCursor(cursor, typ, 2)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseKeyCursor(%q, %q): error %v is not an ErrInvalidID", cursor, typ, err)
			}
		} else if len(parts) != 2 {
			t.Fatalf("ParseKeyCursor(%q, %q) = %d parts, want 2", cursor, typ, len(parts))
		}
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // JSON carries text; the gateway's keys are text
		}
		back, err := ParseKeyCursor(KeyCursor(typ, a, b), typ, 2)
		if err != nil || back[0] != a || back[1] != b {
			t.Fatalf("KeyCursor(%q, %q, %q) decodes to %q, %v", typ, a, b, back, err)
		}
	})
}
