package serpi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/wire"
)

// envelope is the client's tolerant reading of SERPI's {success, code,
// errors, message, result}: members are matched case-insensitively (SERPI
// is a .NET service) and a member of an unexpected type degrades to
// "absent" or to its JSON text instead of failing the whole answer.
type envelope struct {
	Status     int // HTTP status
	Success    bool
	HasSuccess bool // "success" was present and readable
	Code       wire.Int
	Errors     []string
	Message    string
	Result     json.RawMessage
}

// codeText is the body code as text for upstream.Error.Code.
func (e *envelope) codeText() string {
	if e == nil || !e.Code.Valid {
		return ""
	}
	return strconv.FormatInt(e.Code.Value, 10)
}

// parseEnvelope reads body. It returns (nil, nil) for an empty body and
// (nil, err) for a body that is not JSON even after repairJSON.
func parseEnvelope(body []byte) (*envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	var members map[string]json.RawMessage
	err := json.Unmarshal(body, &members)
	if err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			if rerr := json.Unmarshal(repairJSON(body), &members); rerr == nil {
				err = nil
			}
		}
	}
	if err != nil {
		// A bare array is taken as the records themselves.
		var items []json.RawMessage
		if body[0] == '[' && json.Unmarshal(body, &items) == nil {
			return &envelope{Success: true, HasSuccess: true, Result: body}, nil
		}
		return nil, fmt.Errorf("decode SERPI envelope: %w", err)
	}
	env := &envelope{}
	for name, raw := range members {
		switch strings.ToLower(name) {
		case "success":
			var b wire.Bool
			if b.UnmarshalJSON(raw) == nil && !isNull(raw) {
				env.Success, env.HasSuccess = bool(b), true
			}
		case "code":
			var c wire.Int
			if c.UnmarshalJSON(raw) == nil {
				env.Code = c
			}
		case "errors":
			var m wire.Messages
			if m.UnmarshalJSON(raw) == nil {
				env.Errors = m
			} else {
				env.Errors = []string{string(raw)} // an object: keep SERPI's words
			}
		case "message":
			var t wire.Text
			if t.UnmarshalJSON(raw) == nil {
				env.Message = strings.TrimSpace(string(t))
			} else {
				env.Message = string(raw)
			}
		case "result":
			env.Result = raw
		}
	}
	return env, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// resultEmpty reports whether result holds no records: missing, null, "",
// [] or {}.
func resultEmpty(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", `""`:
		return true
	}
	if raw[0] == '[' || raw[0] == '{' {
		return len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0
	}
	return false
}

// decodeResult reads result as a list of records. An empty result is an
// empty, non-nil list; a single object is a list of one.
func decodeResult[T any](raw json.RawMessage) ([]T, error) {
	if resultEmpty(raw) {
		return []T{}, nil
	}
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '[':
		var out []T
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("decode result list: %w", err)
		}
		return out, nil
	case '{':
		var one T
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("decode result record: %w", err)
		}
		return []T{one}, nil
	default:
		return nil, fmt.Errorf("result is neither a list nor a record (starts with %q)", raw[0])
	}
}

// repairJSON fixes the two slips the SERPI documentation shows in its own
// JSON - a missing comma between members on separate lines, and a trailing
// comma before } or ] - so the client survives an upstream that makes them
// too. It is only tried after strict parsing failed; input it cannot fix
// stays invalid and the caller reports the original error.
func repairJSON(in []byte) []byte {
	out := make([]byte, 0, len(in)+16)
	valueEnded := false // the last token written completes a value
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			out = append(out, c)
			i++
		case c == ',':
			j := i + 1
			for j < len(in) && (in[j] == ' ' || in[j] == '\t' || in[j] == '\n' || in[j] == '\r') {
				j++
			}
			if j < len(in) && (in[j] == '}' || in[j] == ']' || in[j] == ',') {
				i++ // drop the trailing or doubled comma
				continue
			}
			out = append(out, c)
			valueEnded = false
			i++
		case c == ':' || c == '{' || c == '[':
			if c != ':' && valueEnded {
				out = append(out, ',')
			}
			out = append(out, c)
			valueEnded = false
			i++
		case c == '}' || c == ']':
			out = append(out, c)
			valueEnded = true
			i++
		case c == '"':
			if valueEnded {
				out = append(out, ',')
			}
			j := i + 1
			for j < len(in) && in[j] != '"' {
				if in[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(in))
			out = append(out, in[i:end]...)
			valueEnded = true
			i = end
		default:
			// A literal or number: copy the whole token so that its inner
			// characters are not mistaken for new values.
			if valueEnded {
				out = append(out, ',')
			}
			j := i
			for j < len(in) && !strings.ContainsRune(" \t\r\n,:{}[]\"", rune(in[j])) {
				j++
			}
			if j == i {
				j++
			}
			out = append(out, in[i:j]...)
			valueEnded = true
			i = j
		}
	}
	return out
}
