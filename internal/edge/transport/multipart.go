package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Bounds of a multipart request's map, whatever the file limit.
const (
	maxMapPaths    = 100 // paths in the whole map
	maxPathBytes   = 512 // one path, e.g. variables.in.attachments.3.file
	maxPathDepth   = 32  // segments of one path
	maxKeyBytes    = 64  // one file part name
	maxHeaderBytes = 255 // a file part's file name or content type
	fileChunkBytes = 64 << 10
)

// MultipartLimits bounds ReadMultipart.
type MultipartLimits struct {
	// MaxJSONBytes bounds the operations and map parts.
	MaxJSONBytes int64
	// MaxFiles bounds the file parts (and the map's keys).
	MaxFiles int
}

// serveMultipart admits, reads and runs a multipart request within the
// upload budget.
func (h *HTTP) serveMultipart(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, media, boundary string, start time.Time) {
	limit := h.cfg.MaxUploadBytes
	if r.ContentLength > limit {
		refuse(w, media, tooLarge("the multipart request", limit))
		return
	}
	// The request's own maximum: its length, or the limit when chunked.
	// The body is cut there (413 past it); the budget is reserved block by
	// block as bytes arrive, never more than that.
	own := r.ContentLength
	if own < 0 {
		own = limit
	}
	deadline, _ := r.Context().Deadline()
	idle := h.cfg.UploadIdleTimeout
	if idle <= 0 {
		idle = UploadIdleTimeout
	}
	budgeted := newBudgetedBody(&idleReads{r: r.Body, rc: http.NewResponseController(w), deadline: deadline, idle: idle}, h.cfg.Uploads, own)
	// Held until the answer is written: execution's copies of the files
	// count against the budget too.
	defer budgeted.release()
	if r.ContentLength > 0 && !budgeted.reserveAll() {
		refuse(w, media, uploadsFull())
		return
	}
	body := http.MaxBytesReader(w, io.NopCloser(budgeted), own)
	defer body.Close()
	params, rf := ReadMultipart(body, boundary, MultipartLimits{MaxJSONBytes: h.cfg.MaxBodyBytes, MaxFiles: h.cfg.MaxUploadFiles})
	if rf != nil {
		if rf.Status == http.StatusRequestEntityTooLarge {
			rf = tooLarge("the multipart request", limit)
		}
		refuse(w, media, rf)
		return
	}
	params.ReadTime.Start = start
	h.execute(w, r, exec, media, params, "") // uploads are writes: never cached
}

// ReadMultipart reads a GraphQL multipart request
// (https://github.com/jaydenseric/graphql-multipart-request-spec): an
// operations part (one JSON request), a map part (file part name -> paths
// of null values in operations), then the file parts, each placed where
// the map says as a graphql.Upload. Every path is checked against the
// operations before a file is read. Files are held in 64 KiB chunks (no
// doubling buffer). Refusals never quote the request.
func ReadMultipart(body io.Reader, boundary string, lim MultipartLimits) (*graphql.RawParams, *Refusal) {
	if boundary == "" || len(boundary) > 70 {
		return nil, badRequest("the multipart Content-Type needs a boundary parameter (1 to 70 characters)")
	}
	mr := multipart.NewReader(body, boundary)
	part, err := mr.NextPart()
	if err != nil {
		return nil, partFailure(err, "the multipart body has no parts in its boundary's format")
	}
	if part.FormName() != "operations" {
		return nil, badRequest("the first part of a multipart request must be operations (GraphQL multipart request spec)")
	}
	raw, rf := readSmall(part, lim.MaxJSONBytes, "the operations part")
	if rf != nil {
		return nil, rf
	}
	params, rf := decodeRequest(raw, "the operations part")
	if rf != nil {
		return nil, rf
	}

	part, err = mr.NextPart()
	if err != nil {
		return nil, partFailure(err, "the second part of a multipart request must be map (GraphQL multipart request spec)")
	}
	if part.FormName() != "map" {
		return nil, badRequest("the second part of a multipart request must be map (GraphQL multipart request spec)")
	}
	if raw, rf = readSmall(part, lim.MaxJSONBytes, "the map part"); rf != nil {
		return nil, rf
	}
	slots, rf := planUploads(raw, params.Variables, lim.MaxFiles)
	if rf != nil {
		return nil, rf
	}

	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, partFailure(err, "a file part is malformed")
		}
		name := part.FormName()
		targets, known := slots[name]
		switch {
		case !known:
			return nil, badRequest("a file part is not named in map")
		case targets == nil:
			return nil, badRequest("a file part is sent twice")
		}
		filename, ctype := part.FileName(), part.Header.Get("Content-Type")
		if len(filename) > maxHeaderBytes || len(ctype) > maxHeaderBytes {
			return nil, badRequest("a file part's name or content type is longer than %d bytes", maxHeaderBytes)
		}
		file, err := readChunks(part)
		if err != nil {
			return nil, partFailure(err, "a file part could not be read whole")
		}
		for _, set := range targets {
			set(graphql.Upload{File: file.reader(), Size: file.size, Filename: filename, ContentType: ctype})
		}
		slots[name] = nil
	}
	for _, targets := range slots {
		if targets != nil {
			return nil, badRequest("map names a file part the request does not carry")
		}
	}
	return params, nil
}

// uploadsFull is the refusal for a request the upload budget cannot hold.
func uploadsFull() *Refusal {
	return &Refusal{Status: http.StatusServiceUnavailable, Code: apperr.RateLimited, RetryAfter: uploadRetryAfter,
		Message: "the gateway is receiving as many uploads as it holds at once: retry in a moment"}
}

// partFailure is the refusal for a multipart reading error.
func partFailure(err error, msg string) *Refusal {
	if errors.Is(err, errUploadBudgetFull) {
		return uploadsFull()
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge("the multipart request", tooBig.Limit)
	}
	if rf := readFailure(err, "the multipart request", 0); rf.Status == http.StatusRequestTimeout {
		return rf
	}
	return badRequest("%s", msg)
}

// readSmall reads a JSON part of at most limit bytes.
func readSmall(part io.Reader, limit int64, what string) ([]byte, *Refusal) {
	raw, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return nil, partFailure(err, what+" could not be read whole")
	}
	if int64(len(raw)) > limit {
		return nil, tooLarge(what, limit)
	}
	return raw, nil
}

// planUploads decodes the map and resolves each of its paths to a null
// value of variables, returning per file part name the setters that put
// the file there. Nothing is changed until the files arrive.
func planUploads(raw []byte, variables map[string]any, maxFiles int) (map[string][]func(any), *Refusal) {
	var fileMap map[string][]string
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fileMap); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, badRequest("the map part is not valid JSON")
		}
		return nil, badRequest("the map part must be a JSON object of file part names to lists of paths")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("the map part must be one JSON object")
	}
	if len(fileMap) > maxFiles {
		return nil, badRequest("the map names more than %d files", maxFiles)
	}
	slots := make(map[string][]func(any), len(fileMap))
	targets := map[string]bool{}
	total := 0
	for key, paths := range fileMap {
		switch {
		case key == "" || len(key) > maxKeyBytes:
			return nil, badRequest("a file part name in map must be 1 to %d bytes", maxKeyBytes)
		case len(paths) == 0:
			return nil, badRequest("map gives a file part no path")
		}
		total += len(paths)
		if total > maxMapPaths {
			return nil, badRequest("the map holds more than %d paths", maxMapPaths)
		}
		for _, path := range paths {
			if targets[path] {
				return nil, badInput("map puts two files at the same place in variables")
			}
			targets[path] = true
			set, rf := resolveSlot(variables, path)
			if rf != nil {
				return nil, rf
			}
			slots[key] = append(slots[key], set)
		}
	}
	return slots, nil
}

// resolveSlot walks path ("variables.in.attachments.0.file") through
// variables to a null value and returns the setter of that place. Indices
// are canonical (no sign, no leading zero) and within their list, so two
// spellings cannot name the same place and no index is out of range.
func resolveSlot(variables map[string]any, path string) (func(any), *Refusal) {
	rest, ok := strings.CutPrefix(path, "variables.")
	switch {
	case !ok:
		return nil, badInput("a map path must start with \"variables.\"")
	case len(path) > maxPathBytes:
		return nil, badInput("a map path is longer than %d bytes", maxPathBytes)
	}
	segments := strings.Split(rest, ".")
	if len(segments) > maxPathDepth {
		return nil, badInput("a map path is deeper than %d levels", maxPathDepth)
	}
	var container any = variables
	for i, seg := range segments {
		last := i == len(segments)-1
		switch c := container.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, badInput("a map path names a variable or field the operations do not have")
			}
			if last {
				if v != nil {
					return nil, badInput("a map path must point at a null value (where the file goes)")
				}
				return func(u any) { c[seg] = u }, nil
			}
			container = v
		case []any:
			idx, err := strconv.Atoi(seg)
			if err != nil || idx < 0 || strconv.Itoa(idx) != seg {
				return nil, badInput("a map path indexes a list with something that is not an index")
			}
			if idx >= len(c) {
				return nil, badInput("a map path points past the end of a list in variables")
			}
			if last {
				if c[idx] != nil {
					return nil, badInput("a map path must point at a null value (where the file goes)")
				}
				return func(u any) { c[idx] = u }, nil
			}
			container = c[idx]
		default:
			return nil, badInput("a map path goes through a value that is neither an object nor a list")
		}
	}
	return nil, badInput("a map path names no place in variables")
}

// chunks is a file held as fixed-size chunks: reading a part of unknown
// size this way never holds more than the file plus one chunk, where a
// growing buffer briefly holds twice the file.
type chunks struct {
	bufs [][]byte
	size int64
}

func readChunks(r io.Reader) (*chunks, error) {
	c := &chunks{}
	for {
		// Fill a chunk; only io.EOF ends the part: a body cut short
		// surfaces as io.ErrUnexpectedEOF, a refusal.
		buf := make([]byte, fileChunkBytes)
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if n < len(buf) {
				// The part's last chunk: keep only its bytes, so many
				// small files hold what they sent (what the upload
				// budget counts), not a whole chunk each.
				buf = append([]byte(nil), buf[:n]...)
			}
			c.bufs = append(c.bufs, buf[:n])
			c.size += int64(n)
		}
		switch {
		case errors.Is(err, io.EOF):
			return c, nil
		case err != nil:
			return nil, err
		}
	}
}

// reader is a new io.ReadSeeker over the chunks (one per map path, as
// each place gets its own graphql.Upload).
func (c *chunks) reader() *chunkReader { return &chunkReader{c: c} }

// chunkReader reads chunks.
type chunkReader struct {
	c   *chunks
	off int64
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off >= r.c.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.c.size {
		buf := r.c.bufs[r.off/fileChunkBytes]
		copied := copy(p[n:], buf[r.off%fileChunkBytes:])
		n += copied
		r.off += int64(copied)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (r *chunkReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.c.size + offset
	default:
		return 0, errors.New("chunkReader.Seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("chunkReader.Seek: negative position")
	}
	r.off = abs
	return abs, nil
}
