package registration

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/mail"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/graph/apperr"
)

// Defaults of Limits.
const (
	DefaultMaxFileBytes  = int64(5 << 20)
	DefaultMaxTotalBytes = int64(15 << 20)
	DefaultMaxFiles      = 10
)

// Bounds of the text fields.
const (
	maxNameRunes  = 100
	maxPlaceRunes = 100
	maxFileName   = 100
	maxEmailBytes = 254
	// maxAgeYears bounds how far back a birth date may be.
	maxAgeYears = 120
	adultYears  = 18
)

// Limits bound a registration's attachments. Zero fields take the defaults.
type Limits struct {
	// MaxFileBytes bounds each attachment's decoded size.
	MaxFileBytes int64
	// MaxTotalBytes bounds the sum of the attachments' decoded sizes.
	MaxTotalBytes int64
	// MaxFiles bounds how many attachments one registration carries.
	MaxFiles int
}

// withDefaults fills zero fields.
func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// Input is a registration as the caller sent it.
type Input struct {
	Vat              string
	VatType          string // one of VatCedula, VatCedulaExtranjeria, VatNIT, VatPassport
	Name             string
	Email            string
	Phone            string
	ContractNumber   string
	BirthDate        string // YYYY-MM-DD
	BirthCity        string
	IDExpeditionDate string // YYYY-MM-DD
	IDExpeditionCity string
	Address          string
	City             string
	Attachments      []Attachment
}

// Attachment is one supporting document: exactly one of File and Base64.
type Attachment struct {
	Name   string
	File   *File
	Base64 *string
}

// File is a multipart upload.
type File struct {
	// Content is read at most once, and never past the size limit.
	Content io.Reader
	// Size is the upload's size in bytes as the transport counted it.
	Size int64
}

// Checked is a validated registration: the request to send to Brilla and
// what identifies it for idempotency.
type Checked struct {
	// Request is what Brilla receives: normalized fields and the
	// attachments' exact bytes in standard base64.
	Request brilla.RegisterRequest
	// digests are the SHA-256 of each attachment's content, in order.
	digests [][sha256.Size]byte
}

// Problems are every problem with an input, each a BAD_USER_INPUT error
// naming its field (e.g. "input.email", "input.attachments[1].file").
type Problems []*apperr.Error

// Error joins the problems' messages.
func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Field + ": " + e.Message
	}
	return strings.Join(msgs, "; ")
}

// Validator checks registrations. The zero value uses the default limits
// and the real clock.
type Validator struct {
	Limits Limits
	// Now is the clock that decides ages and future dates; time.Now when
	// nil. Dates are compared in Colombian time.
	Now func() time.Time
}

// colombia is the zone "today" is decided in (UTC-5, no daylight saving).
var colombia = time.FixedZone("COT", -5*60*60)

const dateLayout = "2006-01-02"

var (
	contractPattern = regexp.MustCompile(`^[0-9]{4,20}$`)
	mobilePattern   = regexp.MustCompile(`^3[0-9]{9}$`)
	phoneSeparators = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")
)

// problems collects BAD_USER_INPUT errors.
type problems struct{ list Problems }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, apperr.BadInput(field, format, args...))
}

// Validate checks every field and attachment and reports every problem at
// once; on success it returns the request to send to Brilla. It reads the
// uploads (each at most once, never past the per-file limit) and decodes
// base64 attachments only when their size is within the limits. Messages
// never repeat an attachment's content (nor, for personal fields, their
// values).
func (v Validator) Validate(in Input) (*Checked, Problems) {
	var p problems
	out := &Checked{}
	req := &out.Request

	brillaType, ok := BrillaVatType(in.VatType)
	if !ok {
		p.add("input.vatType", "vatType must be CEDULA, CEDULA_EXTRANJERIA, NIT or PASSPORT")
	} else {
		req.VatType = brillaType
		if vat, msg := NormalizeVat(in.VatType, in.Vat); msg != "" {
			p.add("input.vat", "%s", msg)
		} else {
			req.Vat = vat
		}
	}

	req.Name = collapse(in.Name)
	if n := utf8.RuneCountInString(req.Name); n < 3 || n > maxNameRunes {
		p.add("input.name", "name must be 3 to %d characters", maxNameRunes)
	} else if hasControl(req.Name) || !strings.ContainsFunc(req.Name, unicode.IsLetter) {
		p.add("input.name", "name must be a person's or company's name")
	}

	if email, msg := normalizeEmail(in.Email); msg != "" {
		p.add("input.email", "%s", msg)
	} else {
		req.Email = email
	}

	if phone, msg := normalizePhone(in.Phone); msg != "" {
		p.add("input.phone", "%s", msg)
	} else {
		req.Phone = phone
	}

	req.ContractNumber = strings.TrimSpace(in.ContractNumber)
	if !contractPattern.MatchString(req.ContractNumber) {
		p.add("input.contractNumber", "contractNumber must be 4 to 20 digits")
	}

	v.checkDates(&p, in, req)

	for _, f := range []struct {
		field string
		value string
		dst   *string
	}{
		{"input.birthCity", in.BirthCity, &req.BirthCity},
		{"input.idExpeditionCity", in.IDExpeditionCity, &req.IDExpeditionCity},
		{"input.address", in.Address, &req.Address},
		{"input.city", in.City, &req.City},
	} {
		*f.dst = collapse(f.value)
		name := strings.TrimPrefix(f.field, "input.")
		switch n := utf8.RuneCountInString(*f.dst); {
		case n == 0:
			p.add(f.field, "%s is required", name)
		case n > maxPlaceRunes:
			p.add(f.field, "%s must be at most %d characters", name, maxPlaceRunes)
		case hasControl(*f.dst):
			p.add(f.field, "%s must not contain control characters", name)
		}
	}

	v.checkAttachments(&p, in.Attachments, out)

	if len(p.list) > 0 {
		return nil, p.list
	}
	return out, nil
}

// checkDates checks both dates against each other and today (in Colombia).
func (v Validator) checkDates(p *problems, in Input, req *brilla.RegisterRequest) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	y, m, d := now().In(colombia).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)

	birth, birthErr := time.Parse(dateLayout, strings.TrimSpace(in.BirthDate))
	adult := birth.AddDate(adultYears, 0, 0)
	switch {
	case birthErr != nil:
		p.add("input.birthDate", "birthDate must be a real date, YYYY-MM-DD")
	case birth.After(today):
		p.add("input.birthDate", "birthDate must not be in the future")
	case adult.After(today):
		p.add("input.birthDate", "the applicant must be at least %d years old", adultYears)
	case birth.Before(today.AddDate(-maxAgeYears, 0, 0)):
		p.add("input.birthDate", "birthDate must be within the last %d years", maxAgeYears)
	default:
		req.BirthDate = birth.Format(dateLayout)
	}
	// The expedition date is compared with a birth date only once that is
	// itself acceptable: one wrong date is one problem, not two.
	birthOK := req.BirthDate != ""

	exp, expErr := time.Parse(dateLayout, strings.TrimSpace(in.IDExpeditionDate))
	switch {
	case expErr != nil:
		p.add("input.idExpeditionDate", "idExpeditionDate must be a real date, YYYY-MM-DD")
	case exp.After(today):
		p.add("input.idExpeditionDate", "idExpeditionDate must not be in the future")
	case birthOK && !exp.After(birth):
		p.add("input.idExpeditionDate", "idExpeditionDate must be after birthDate")
	case birthOK && in.VatType == VatCedula && exp.Before(adult):
		p.add("input.idExpeditionDate", "a cédula is issued on or after its holder's 18th birthday")
	default:
		req.IDExpeditionDate = exp.Format(dateLayout)
	}
}

// checkAttachments checks the count, each attachment's name, source, size
// and content, and the total size; valid attachments land in out.
func (v Validator) checkAttachments(p *problems, list []Attachment, out *Checked) {
	lim := v.Limits.withDefaults()
	switch {
	case len(list) == 0:
		p.add("input.attachments", "at least one attachment is required")
		return
	case len(list) > lim.MaxFiles:
		// Not read at all: the count alone refuses the request.
		p.add("input.attachments", "at most %d attachments are accepted, got %d", lim.MaxFiles, len(list))
		return
	}

	// The total is decided from declared sizes first, so that nothing is
	// read or decoded for a request that is too large anyway.
	var total int64
	for _, a := range list {
		switch {
		case a.File != nil && a.Base64 == nil:
			total += max(a.File.Size, 0)
		case a.Base64 != nil && a.File == nil:
			total += base64Size(stripDataURL(*a.Base64))
		}
	}
	if total > lim.MaxTotalBytes {
		p.add("input.attachments", "the attachments add up to %s, more than the %s allowed in total",
			formatBytes(total), formatBytes(lim.MaxTotalBytes))
	}

	for i, a := range list {
		at := fmt.Sprintf("input.attachments[%d]", i)
		name := strings.TrimSpace(a.Name)
		declared, nameOK := checkFileName(p, at+".name", name)

		var (
			content []byte
			field   string
			msg     string
		)
		switch {
		case a.File != nil && a.Base64 != nil:
			p.add(at, "give either file or base64, not both")
			continue
		case a.File == nil && a.Base64 == nil:
			p.add(at, "give the document as file (a multipart upload) or base64")
			continue
		case a.File != nil:
			field = at + ".file"
			content, msg = readUpload(a.File, lim.MaxFileBytes)
		default:
			field = at + ".base64"
			content, msg = decodeBase64(*a.Base64, lim.MaxFileBytes)
		}
		if msg != "" {
			p.add(field, "%s", msg)
			continue
		}
		kind := Sniff(content)
		switch {
		case kind == KindUnknown:
			p.add(field, "the content is not a JPEG, PNG or PDF document")
			continue
		case !kind.Accepted():
			p.add(field, "the content is %s, not a JPEG, PNG or PDF document", kind.phrase())
			continue
		case nameOK && kind != declared:
			p.add(field, "the content is %s but the name ends in %s", kind.phrase(), strings.ToLower(path.Ext(name)))
			continue
		case !nameOK:
			continue
		}
		out.Request.Attachments = append(out.Request.Attachments, brilla.Attachment{
			Name: name,
			Data: base64.StdEncoding.EncodeToString(content),
		})
		out.digests = append(out.digests, sha256.Sum256(content))
	}
}

// checkFileName checks an attachment's name and returns the kind its
// extension declares.
func checkFileName(p *problems, field, name string) (Kind, bool) {
	switch {
	case name == "":
		p.add(field, "name is required")
	case utf8.RuneCountInString(name) > maxFileName:
		p.add(field, "name must be at most %d characters", maxFileName)
	case hasControl(name) || strings.ContainsAny(name, `/\`):
		p.add(field, "name must be a plain file name, without control characters or slashes")
	default:
		kind, ok := KindOfName(name)
		if !ok {
			p.add(field, "name must end in .jpg, .jpeg, .png or .pdf")
		}
		return kind, ok
	}
	return "", false
}

// readUpload reads an upload of at most limit bytes.
func readUpload(f *File, limit int64) ([]byte, string) {
	if f.Size > limit {
		return nil, fmt.Sprintf("the file is %s, more than the %s allowed per file", formatBytes(f.Size), formatBytes(limit))
	}
	if f.Content == nil {
		return nil, "the file is empty"
	}
	content, err := io.ReadAll(io.LimitReader(f.Content, limit+1))
	switch {
	case err != nil:
		// The transport already holds the upload; a read failure is not
		// the caller's doing, but it leaves nothing to check.
		return nil, "the file could not be read"
	case int64(len(content)) > limit:
		return nil, fmt.Sprintf("the file is more than the %s allowed per file", formatBytes(limit))
	case len(content) == 0:
		return nil, "the file is empty"
	}
	return content, ""
}

// encodings are the base64 alphabets accepted, most common first.
var encodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// decodeBase64 decodes an attachment of at most limit decoded bytes. The
// size is decided from the text's length before anything is decoded.
func decodeBase64(text string, limit int64) ([]byte, string) {
	text = stripDataURL(text)
	if size := base64Size(text); size > limit {
		return nil, fmt.Sprintf("the document is %s, more than the %s allowed per file", formatBytes(size), formatBytes(limit))
	}
	text = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, text)
	if text == "" {
		return nil, "the document is empty"
	}
	for _, enc := range encodings {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) == 0 {
				return nil, "the document is empty"
			}
			return b, ""
		}
	}
	return nil, "base64 is not valid base64 (standard or URL-safe alphabet)"
}

// stripDataURL drops a "data:<type>;base64," prefix, as browsers'
// FileReader.readAsDataURL produce.
func stripDataURL(text string) string {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "data:") {
		return text
	}
	if i := strings.Index(text, ","); i >= 0 && strings.HasSuffix(text[:i], ";base64") {
		return text[i+1:]
	}
	return text
}

// base64Size is an upper bound of the decoded size of base64 text (of any
// alphabet, padded or not, possibly with line breaks): three bytes per
// four characters, white space not counted. It allocates nothing.
func base64Size(text string) int64 {
	var n int64
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n', '\r', ' ', '\t', '=':
		default:
			n++
		}
	}
	return n * 3 / 4
}

// normalizeEmail checks an address (a bare addr-spec whose domain has a
// dot) and lower-cases its domain.
func normalizeEmail(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	const bad = "email must be an address such as ana@example.com"
	if s == "" {
		return "", "email is required"
	}
	if len(s) > maxEmailBytes {
		return "", fmt.Sprintf("email must be at most %d characters", maxEmailBytes)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", bad
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || strings.HasPrefix(domain, "[") {
		return "", bad
	}
	return local + "@" + domain, ""
}

// normalizePhone accepts a Colombian mobile number, with spaces, dashes,
// dots or parentheses and an optional +57 (or 57) prefix, and returns its
// 10 digits.
func normalizePhone(raw string) (string, string) {
	s := phoneSeparators.Replace(strings.TrimSpace(raw))
	if s == "" {
		return "", "phone is required"
	}
	if rest, ok := strings.CutPrefix(s, "+57"); ok {
		s = rest
	} else if len(s) == 12 && strings.HasPrefix(s, "57") {
		s = s[2:]
	}
	if !mobilePattern.MatchString(s) {
		return "", "phone must be a Colombian mobile number: 10 digits starting with 3"
	}
	return s, ""
}

// collapse trims s and replaces every run of white space with one space.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// hasControl reports whether s holds control or invalid characters.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl)
}

// formatBytes writes a size for people: 512 bytes, 1.5 KiB, 5 MiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(float64(n)/(1<<20)) + " MiB"
	case n >= 1<<10:
		return trimZero(float64(n)/(1<<10)) + " KiB"
	case n == 1:
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimZero(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	return strings.TrimSuffix(s, ".0")
}
