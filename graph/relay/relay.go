// Package relay implements Relay global object identification and opaque
// connection cursors.
package relay

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidID is returned for IDs and cursors that do not decode.
var ErrInvalidID = errors.New("invalid id")

// ErrWrongType is returned for a well-formed global ID of another type; it
// wraps ErrInvalidID.
var ErrWrongType = fmt.Errorf("%w: wrong type", ErrInvalidID)

// GlobalID returns base64("Type:id"), graphql-relay's convention.
func GlobalID(typ, id string) string {
	return base64.StdEncoding.EncodeToString([]byte(typ + ":" + id))
}

// GlobalIntID is GlobalID for integer upstream ids.
func GlobalIntID(typ string, id int64) string {
	return GlobalID(typ, strconv.FormatInt(id, 10))
}

// ParseGlobalID splits a global ID into its type and upstream id.
func ParseGlobalID(gid string) (typ, id string, err error) {
	raw, err := base64.StdEncoding.DecodeString(gid)
	if err != nil {
		// Clients that strip padding (base64url, RawStd) are common enough
		// to accept.
		raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(gid, "="))
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: not base64", ErrInvalidID)
	}
	typ, id, ok := strings.Cut(string(raw), ":")
	if !ok || typ == "" || id == "" {
		return "", "", fmt.Errorf("%w: want base64 of Type:id", ErrInvalidID)
	}
	return typ, id, nil
}

// ParseIntID decodes a global ID of type want with an integer upstream id.
// A plain integer is accepted too, because clients copy upstream ids
// (serpiId, loanId) around.
func ParseIntID(gid, want string) (int64, error) {
	if n, err := strconv.ParseInt(gid, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	typ, id, err := ParseGlobalID(gid)
	if err != nil {
		return 0, err
	}
	if typ != want {
		return 0, fmt.Errorf("%w: a %s id, not a %s id", ErrWrongType, typ, want)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: %s id must be a positive integer", ErrInvalidID, want)
	}
	return n, nil
}

const cursorPrefix = "cursor:"

// Cursor returns an opaque cursor that positions after the record with
// the given upstream id. Cursors are keyset-based (not offsets) so a page
// boundary stays stable when records are added or removed.
func Cursor(typ string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + typ + ":" + strconv.FormatInt(id, 10)))
}

// ParseCursor decodes a cursor made by Cursor for typ.
func ParseCursor(cursor, typ string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix+typ+":")
	if !ok {
		return 0, fmt.Errorf("%w: not a %s cursor", ErrInvalidID, typ)
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	return n, nil
}

// OrderedCursor returns an opaque cursor that positions after the record
// with id and sort key in a named order (e.g. "code.desc"). The order is
// part of the cursor so that a cursor is never read in another order,
// where its position would mean something else. An empty order is the
// default one and gives Cursor's cursor.
func OrderedCursor(typ, order string, id int64, key string) string {
	if order == "" {
		return Cursor(typ, id)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + typ + ":" + order + ":" + strconv.FormatInt(id, 10) + ":" + key))
}

// ParseOrderedCursor decodes a cursor made by Cursor or OrderedCursor for
// typ: its order ("" for Cursor's), id and sort key.
func ParseOrderedCursor(cursor, typ string) (order string, id int64, key string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", 0, "", fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix+typ+":")
	if !ok {
		return "", 0, "", fmt.Errorf("%w: not a %s cursor", ErrInvalidID, typ)
	}
	if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
		return "", n, "", nil
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, "", fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", 0, "", fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	return parts[0], n, parts[2], nil
}

const keyCursorPrefix = "keys:"

// KeyCursor returns an opaque cursor positioning after a record of a
// connection ordered by a composite key (say a date, a credit and a
// payment id) rather than by one upstream id. Any text fits in a part.
func KeyCursor(typ string, parts ...string) string {
	raw, _ := json.Marshal(parts) // a []string always marshals
	return base64.RawURLEncoding.EncodeToString(append([]byte(keyCursorPrefix+typ+":"), raw...))
}

// ParseKeyCursor decodes a cursor made by KeyCursor for typ with n parts.
func ParseKeyCursor(cursor, typ string, n int) ([]string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	rest, ok := strings.CutPrefix(string(raw), keyCursorPrefix+typ+":")
	if !ok {
		return nil, fmt.Errorf("%w: not a %s cursor", ErrInvalidID, typ)
	}
	var parts []string
	if err := json.Unmarshal([]byte(rest), &parts); err != nil || len(parts) != n {
		return nil, fmt.Errorf("%w: malformed cursor", ErrInvalidID)
	}
	return parts, nil
}
