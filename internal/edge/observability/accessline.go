package observability

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// accessLine is the access log's one line, field by field, in the order
// it is written.
type accessLine struct {
	time       time.Time
	level      slog.Level
	requestID  string
	traceID    string // "" when the request carries no trace
	method     string
	path       string
	status     int
	bytes      int
	durationMS float64
	operation  string
	clientAddr string
	keyName    string
	cache      string
}

// record is the line as a slog record, for a handler the gateway did not
// build (a test's, a logger with attributes of its own).
func (l *accessLine) record() slog.Record {
	rec := slog.NewRecord(l.time, l.level, "request", 0)
	rec.AddAttrs(slog.String("request_id", l.requestID))
	if l.traceID != "" {
		rec.AddAttrs(slog.String("trace_id", l.traceID))
	}
	rec.AddAttrs(
		slog.String("method", l.method),
		slog.String("path", l.path),
		slog.Int("status", l.status),
		slog.Int("bytes", l.bytes),
		slog.Float64("duration_ms", l.durationMS),
		slog.String("operation", l.operation),
		slog.String("client_address", l.clientAddr),
		slog.String("key_name", l.keyName),
		slog.String("cache", l.cache))
	return rec
}

// lineHandler is the handler BuildLogger makes: the standard library's
// text or JSON handler, plus what the access log needs to write its line
// in the same bytes without going through it. The handler's general
// machinery (a state per line, a value switch per attribute, a float
// through encoding/json) was most of a cached answer's logging cost; the
// access line has a fixed shape, so it is appended directly.
// FuzzAccessLineMatchesSlog holds the two to the same bytes.
//
// WithAttrs and WithGroup are the inner handler's: a derived logger
// writes through slog, as its attributes must be on every line.
type lineHandler struct {
	slog.Handler
	out   io.Writer
	json  bool
	lines sync.Pool // of *[]byte, the lines being appended
}

// lockedWriter serialises whole lines from the slog handler and the
// access log: slog's own lock covers only its own writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// newLineHandler builds the text (or JSON) handler writing to w at level
// and above.
func newLineHandler(w io.Writer, json bool, level slog.Leveler) *lineHandler {
	out := w
	if _, whole := w.(*LogBuffer); !whole {
		out = &lockedWriter{w: w}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(out, opts)
	if json {
		h = slog.NewJSONHandler(out, opts)
	}
	return &lineHandler{Handler: h, out: out, json: json,
		lines: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// writeAccess writes l as the inner handler would write its record.
func (h *lineHandler) writeAccess(ctx context.Context, l *accessLine) error {
	if y := l.time.Year(); y < 0 || y >= 10000 || l.time.IsZero() {
		// slog's JSON handler reports such a year in the line, and
		// leaves a zero time out; leave both to it.
		return h.Handler.Handle(ctx, l.record())
	}
	p := h.lines.Get().(*[]byte)
	b := h.appendAccess((*p)[:0], l)
	_, err := h.out.Write(b)
	if cap(b) <= 4<<10 {
		*p = b
		h.lines.Put(p)
	}
	return err
}

func (h *lineHandler) appendAccess(b []byte, l *accessLine) []byte {
	t, json := l.time.Round(0), h.json
	if json {
		b = append(b, `{"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, t)
	}
	b = appendString(appendKey(b, json, "level"), json, l.level.String())
	b = appendString(appendKey(b, json, "msg"), json, "request")
	b = appendString(appendKey(b, json, "request_id"), json, l.requestID)
	if l.traceID != "" {
		b = appendString(appendKey(b, json, "trace_id"), json, l.traceID)
	}
	b = appendString(appendKey(b, json, "method"), json, l.method)
	b = appendString(appendKey(b, json, "path"), json, l.path)
	b = strconv.AppendInt(appendKey(b, json, "status"), int64(l.status), 10)
	b = strconv.AppendInt(appendKey(b, json, "bytes"), int64(l.bytes), 10)
	b = appendKey(b, json, "duration_ms")
	if json {
		b = appendJSONFloat(b, l.durationMS)
	} else {
		b = strconv.AppendFloat(b, l.durationMS, 'g', -1, 64)
	}
	b = appendString(appendKey(b, json, "operation"), json, l.operation)
	b = appendString(appendKey(b, json, "client_address"), json, l.clientAddr)
	b = appendString(appendKey(b, json, "key_name"), json, l.keyName)
	b = appendString(appendKey(b, json, "cache"), json, l.cache)
	if json {
		b = append(b, '}')
	}
	return append(b, '\n')
}

// appendKey starts a field after the first (the time); key needs no
// quoting or escaping.
func appendKey(b []byte, json bool, key string) []byte {
	if json {
		b = append(b, ',', '"')
		b = append(b, key...)
		return append(b, '"', ':')
	}
	b = append(b, ' ')
	b = append(b, key...)
	return append(b, '=')
}

func appendString(b []byte, json bool, s string) []byte {
	if json {
		return appendJSONString(b, s)
	}
	return appendTextString(b, s)
}

// The functions below follow log/slog's text and JSON handlers (Go 1.26)
// rule for rule.

// appendRFC3339Millis is slog's text time: RFC 3339 with exactly three
// fractional digits.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendTextString writes s bare, or Go-quoted when it is empty or holds
// a space, '=', a quote, a control or non-printing character, or invalid
// UTF-8.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c == ' ' || c == '=' || !jsonSafe(c)) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// jsonSafe reports whether an ASCII byte goes into a JSON string as it is
// (HTML characters included, as slog does not escape them).
func jsonSafe(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf }

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a quoted JSON string: invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, '\\')
			switch c {
			case '\\', '"':
				b = append(b, c)
			case '\n':
				b = append(b, 'n')
			case '\r':
				b = append(b, 'r')
			case '\t':
				b = append(b, 't')
			default:
				b = append(b, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat writes f as encoding/json does (slog's JSON handler
// marshals floats with it): shortest 'f' form, 'e' form with a trimmed
// exponent outside [1e-6, 1e21). The access log's durations are finite.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if m := len(b) - n; m >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}
