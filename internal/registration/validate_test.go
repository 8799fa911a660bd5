package registration

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

// Minimal documents: their magic bytes and a little padding.
var (
	jpegBytes = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'}, bytes.Repeat([]byte{0x42}, 40)...)
	pngBytes  = append([]byte{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, bytes.Repeat([]byte{0x01}, 40)...)
	pdfBytes  = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")
	elfBytes  = append([]byte{0x7F, 'E', 'L', 'F', 0x02, 0x01, 0x01}, bytes.Repeat([]byte{0x00}, 40)...)
	peBytes   = append([]byte("MZ\x90\x00\x03"), bytes.Repeat([]byte{0x00}, 40)...)
)

// fixedNow is 2026-06-15, noon in Colombia.
var fixedNow = time.Date(2026, 6, 15, 12, 0, 0, 0, colombia)

func b64(b []byte) *string { s := base64.StdEncoding.EncodeToString(b); return &s }

// validInput is a registration every check accepts.
func validInput() Input {
	return Input{
		Vat:              "1.012.345.678",
		VatType:          VatCedula,
		Name:             "  Ana   María Pérez ",
		Email:            "ana.perez@Example.COM",
		Phone:            "+57 300 123 4567",
		ContractNumber:   "12345678",
		BirthDate:        "1990-05-20",
		BirthCity:        "Barranquilla",
		IDExpeditionDate: "2008-06-01",
		IDExpeditionCity: "Barranquilla",
		Address:          "Calle 72 # 45-10",
		City:             "Barranquilla",
		Attachments:      []Attachment{{Name: "cedula-frente.jpg", Base64: b64(jpegBytes)}},
	}
}

func validator() Validator {
	return Validator{Limits: Limits{MaxFileBytes: 1024, MaxTotalBytes: 2048, MaxFiles: 3}, Now: func() time.Time { return fixedNow }}
}

func TestValidateNormalizesAValidInput(t *testing.T) {
	in := validInput()
	in.Attachments = append(in.Attachments,
		Attachment{Name: "recibo.PDF", File: &File{Content: bytes.NewReader(pdfBytes), Size: int64(len(pdfBytes))}},
		Attachment{Name: "reverso.png", Base64: ptr("data:image/png;base64," + base64.RawURLEncoding.EncodeToString(pngBytes))},
	)
	got, problems := validator().Validate(in)
	if len(problems) > 0 {
		t.Fatalf("valid input refused: %v", problems)
	}
	req := got.Request
	want := map[string]string{
		"vat": req.Vat, "vat_type": req.VatType, "name": req.Name, "email": req.Email, "phone": req.Phone,
		"birth_date": req.BirthDate, "id_expedition_date": req.IDExpeditionDate, "address": req.Address,
	}
	for field, exp := range map[string]string{
		"vat": "1012345678", "vat_type": "cedula", "name": "Ana María Pérez", "email": "ana.perez@example.com",
		"phone": "3001234567", "birth_date": "1990-05-20", "id_expedition_date": "2008-06-01", "address": "Calle 72 # 45-10",
	} {
		if want[field] != exp {
			t.Errorf("%s = %q, want %q", field, want[field], exp)
		}
	}
	if len(req.Attachments) != 3 {
		t.Fatalf("%d attachments, want 3", len(req.Attachments))
	}
	for i, content := range [][]byte{jpegBytes, pdfBytes, pngBytes} {
		if req.Attachments[i].Data != base64.StdEncoding.EncodeToString(content) {
			t.Errorf("attachment %d is not the standard base64 of its exact bytes", i)
		}
	}
}

func ptr(s string) *string { return &s }

// fields returns the extensions.field of each problem, in order.
func fields(p Problems) []string {
	out := make([]string, len(p))
	for i, e := range p {
		out[i] = e.Field
	}
	return out
}

func TestValidateRefusesEachBadField(t *testing.T) {
	long := strings.Repeat("a", 101)
	tests := []struct {
		name   string
		change func(*Input)
		field  string
		msg    string
	}{
		{"unknown vat type", func(in *Input) { in.VatType = "RUT" }, "input.vatType", "vatType must be"},
		{"cedula with letters", func(in *Input) { in.Vat = "10123A5678" }, "input.vat", "6 to 10 digits"},
		{"cedula too short", func(in *Input) { in.Vat = "12345" }, "input.vat", "6 to 10 digits"},
		{"cedula too long", func(in *Input) { in.Vat = "12345678901" }, "input.vat", "6 to 10 digits"},
		{"blank vat", func(in *Input) { in.Vat = "  " }, "input.vat", "required"},
		{"extranjeria with symbols", func(in *Input) { in.VatType, in.Vat = VatCedulaExtranjeria, "E-12345" }, "input.vat", "6 to 12 letters"},
		{"extranjeria too long", func(in *Input) { in.VatType, in.Vat = VatCedulaExtranjeria, "E1234567890123" }, "input.vat", "6 to 12 letters"},
		{"nit too short", func(in *Input) { in.VatType, in.Vat = VatNIT, "80019726" }, "input.vat", "9 or 10 digits"},
		{"nit wrong check digit", func(in *Input) { in.VatType, in.Vat = VatNIT, "800197268-5" }, "input.vat", "check digit"},
		{"nit two check digits", func(in *Input) { in.VatType, in.Vat = VatNIT, "800197268-45" }, "input.vat", "9 or 10 digits"},
		{"passport too short", func(in *Input) { in.VatType, in.Vat = VatPassport, "AB12" }, "input.vat", "5 to 20"},
		{"passport with symbols", func(in *Input) { in.VatType, in.Vat = VatPassport, "AB#1234" }, "input.vat", "5 to 20"},
		{"name too short", func(in *Input) { in.Name = " Al " }, "input.name", "3 to 100"},
		{"name too long", func(in *Input) { in.Name = long }, "input.name", "3 to 100"},
		{"name without letters", func(in *Input) { in.Name = "12345" }, "input.name", "name"},
		{"name with control characters", func(in *Input) { in.Name = "Ana\x00María" }, "input.name", "name"},
		{"email without at", func(in *Input) { in.Email = "ana.example.com" }, "input.email", "address"},
		{"email without dot in domain", func(in *Input) { in.Email = "ana@localhost" }, "input.email", "address"},
		{"email with display name", func(in *Input) { in.Email = "Ana <ana@example.com>" }, "input.email", "address"},
		{"email with two ats", func(in *Input) { in.Email = "ana@@example.com" }, "input.email", "address"},
		{"email with trailing dot", func(in *Input) { in.Email = "ana@example.com." }, "input.email", "address"},
		{"blank email", func(in *Input) { in.Email = "" }, "input.email", "required"},
		{"landline phone", func(in *Input) { in.Phone = "6053851234" }, "input.phone", "starting with 3"},
		{"short phone", func(in *Input) { in.Phone = "300123456" }, "input.phone", "10 digits"},
		{"phone with letters", func(in *Input) { in.Phone = "300123456a" }, "input.phone", "10 digits"},
		{"foreign prefix", func(in *Input) { in.Phone = "+13001234567" }, "input.phone", "10 digits"},
		{"contract with letters", func(in *Input) { in.ContractNumber = "1234A" }, "input.contractNumber", "4 to 20 digits"},
		{"contract too short", func(in *Input) { in.ContractNumber = "123" }, "input.contractNumber", "4 to 20 digits"},
		{"birth not a date", func(in *Input) { in.BirthDate = "1990-02-30" }, "input.birthDate", "real date"},
		{"birth in the future", func(in *Input) { in.BirthDate = "2026-06-16" }, "input.birthDate", "future"},
		{"minor", func(in *Input) { in.BirthDate = "2008-06-16" }, "input.birthDate", "at least 18"},
		{"too old", func(in *Input) { in.BirthDate = "1900-01-01" }, "input.birthDate", "120 years"},
		{"expedition before birth", func(in *Input) { in.IDExpeditionDate = "1989-01-01" }, "input.idExpeditionDate", "after birthDate"},
		{"expedition on birth", func(in *Input) { in.IDExpeditionDate = "1990-05-20" }, "input.idExpeditionDate", "after birthDate"},
		{"cedula issued to a minor", func(in *Input) { in.IDExpeditionDate = "2008-05-19" }, "input.idExpeditionDate", "18th birthday"},
		{"expedition in the future", func(in *Input) { in.IDExpeditionDate = "2026-06-16" }, "input.idExpeditionDate", "future"},
		{"blank birth city", func(in *Input) { in.BirthCity = " " }, "input.birthCity", "required"},
		{"long expedition city", func(in *Input) { in.IDExpeditionCity = long }, "input.idExpeditionCity", "at most 100"},
		{"blank address", func(in *Input) { in.Address = "" }, "input.address", "required"},
		{"city with control characters", func(in *Input) { in.City = "Santa\x07Marta" }, "input.city", "control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			tc.change(&in)
			_, problems := validator().Validate(in)
			if len(problems) != 1 || problems[0].Field != tc.field || !strings.Contains(problems[0].Message, tc.msg) {
				t.Fatalf("want exactly one problem on %s mentioning %q, got %v", tc.field, tc.msg, problems)
			}
		})
	}
}

func TestValidateAcceptsEachDocumentType(t *testing.T) {
	tests := []struct {
		vatType, vat, want, brilla string
	}{
		{VatCedula, "1 012 345", "1012345", "cedula"},
		{VatCedulaExtranjeria, "e123456", "E123456", "cedula_extranjeria"},
		{VatNIT, "800.197.268-4", "800197268", "nit"},
		{VatNIT, "8001972684", "8001972684", "nit"},
		{VatPassport, "ab1234567", "AB1234567", "pasaporte"},
	}
	for _, tc := range tests {
		in := validInput()
		in.VatType, in.Vat = tc.vatType, tc.vat
		// Only a cédula must have been issued after the 18th birthday.
		if tc.vatType != VatCedula {
			in.IDExpeditionDate = "2000-01-01"
		}
		got, problems := validator().Validate(in)
		if len(problems) > 0 {
			t.Errorf("%s %q refused: %v", tc.vatType, tc.vat, problems)
			continue
		}
		if got.Request.Vat != tc.want || got.Request.VatType != tc.brilla {
			t.Errorf("%s %q sent as %q/%q, want %q/%q", tc.vatType, tc.vat, got.Request.Vat, got.Request.VatType, tc.want, tc.brilla)
		}
	}
}

func TestNITCheckDigit(t *testing.T) {
	tests := []struct {
		nit  string
		want int
	}{
		{"800197268", 4}, // DIAN
		{"890903938", 8}, // Bancolombia
		{"860034313", 7}, // Davivienda
		{"899999068", 1}, // Ecopetrol
		{"900373913", 4},
		{"1", 8},
		{"", -1},
		{"12a", -1},
		{"1234567890123456", -1},
	}
	for _, tc := range tests {
		if got := NITCheckDigit(tc.nit); got != tc.want {
			t.Errorf("NITCheckDigit(%q) = %d, want %d", tc.nit, got, tc.want)
		}
	}
}

func TestSniffRecognizesContentNotNames(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
		want    Kind
	}{
		{"jpeg", jpegBytes, KindJPEG},
		{"png", pngBytes, KindPNG},
		{"pdf", pdfBytes, KindPDF},
		{"elf", elfBytes, KindExecutable},
		{"windows exe", peBytes, KindExecutable},
		{"mach-o", []byte{0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1}, KindExecutable},
		{"shell script", []byte("#!/bin/sh\nrm -rf /\n"), KindExecutable},
		{"zip", []byte("PK\x03\x04rest"), KindUnknown},
		{"html", []byte("<html><script>"), KindUnknown},
		{"png signature cut short", pngBytes[:6], KindUnknown},
		{"jpeg marker alone", []byte{0xFF, 0xD8}, KindUnknown},
		{"pdf without dash", []byte("%PDF1.7"), KindUnknown},
		{"empty", nil, KindUnknown},
	}
	for _, tc := range tests {
		if got := Sniff(tc.content); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
		if got := Sniff(tc.content); got.Accepted() != (tc.want == KindJPEG || tc.want == KindPNG || tc.want == KindPDF) {
			t.Errorf("%s: Accepted() = %v", tc.name, got.Accepted())
		}
	}
	for name, want := range map[string]Kind{"a.JPG": KindJPEG, "a.jpeg": KindJPEG, "x.y.png": KindPNG, "r.Pdf": KindPDF} {
		if got, ok := KindOfName(name); !ok || got != want {
			t.Errorf("KindOfName(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"a.exe", "a.gif", "jpg", "a.jpg.exe", "a."} {
		if _, ok := KindOfName(name); ok {
			t.Errorf("KindOfName(%q) accepted", name)
		}
	}
}

func TestValidateAttachments(t *testing.T) {
	file := func(b []byte) *File { return &File{Content: bytes.NewReader(b), Size: int64(len(b))} }
	big := append(append([]byte{}, jpegBytes...), bytes.Repeat([]byte{1}, 1100)...) // over the 1 KiB per-file limit
	near := append(append([]byte{}, pngBytes...), bytes.Repeat([]byte{1}, 900)...)  // under it; three exceed 2 KiB in total
	tests := []struct {
		name   string
		list   []Attachment
		fields []string
		msg    string
	}{
		{"none", nil, []string{"input.attachments"}, "at least one"},
		{"too many", []Attachment{
			{Name: "a.jpg", Base64: b64(jpegBytes)}, {Name: "b.jpg", Base64: b64(jpegBytes)},
			{Name: "c.jpg", Base64: b64(jpegBytes)}, {Name: "d.jpg", Base64: b64(jpegBytes)},
		}, []string{"input.attachments"}, "at most 3"},
		{"executable named jpg", []Attachment{{Name: "foto.jpg", File: file(elfBytes)}}, []string{"input.attachments[0].file"}, "executable program"},
		{"windows exe as base64", []Attachment{{Name: "foto.png", Base64: b64(peBytes)}}, []string{"input.attachments[0].base64"}, "executable program"},
		{"png named jpg", []Attachment{{Name: "foto.jpg", Base64: b64(pngBytes)}}, []string{"input.attachments[0].base64"}, "a PNG image but the name ends in .jpg"},
		{"zip named pdf", []Attachment{{Name: "recibo.pdf", Base64: b64([]byte("PK\x03\x04zip-body"))}}, []string{"input.attachments[0].base64"}, "not a JPEG, PNG or PDF"},
		{"unknown extension", []Attachment{{Name: "foto.gif", Base64: b64(jpegBytes)}}, []string{"input.attachments[0].name"}, ".jpg, .jpeg, .png or .pdf"},
		{"blank name", []Attachment{{Name: " ", Base64: b64(jpegBytes)}}, []string{"input.attachments[0].name"}, "required"},
		{"path in name", []Attachment{{Name: "../etc/x.jpg", Base64: b64(jpegBytes)}}, []string{"input.attachments[0].name"}, "slashes"},
		{"both sources", []Attachment{{Name: "a.jpg", File: file(jpegBytes), Base64: b64(jpegBytes)}}, []string{"input.attachments[0]"}, "not both"},
		{"no source", []Attachment{{Name: "a.jpg"}}, []string{"input.attachments[0]"}, "file"},
		{"oversize upload", []Attachment{{Name: "a.jpg", File: file(big)}}, []string{"input.attachments[0].file"}, "1 KiB allowed per file"},
		{"upload larger than declared", []Attachment{{Name: "a.jpg", File: &File{Content: bytes.NewReader(big), Size: 10}}}, []string{"input.attachments[0].file"}, "allowed per file"},
		{"oversize base64", []Attachment{{Name: "a.jpg", Base64: b64(big)}}, []string{"input.attachments[0].base64"}, "allowed per file"},
		{"empty upload", []Attachment{{Name: "a.jpg", File: file(nil)}}, []string{"input.attachments[0].file"}, "empty"},
		{"empty base64", []Attachment{{Name: "a.jpg", Base64: ptr("")}}, []string{"input.attachments[0].base64"}, "empty"},
		{"not base64", []Attachment{{Name: "a.jpg", Base64: ptr("!!!not base64!!!")}}, []string{"input.attachments[0].base64"}, "not valid base64"},
		{"too large in total", []Attachment{{Name: "a.png", File: file(near)}, {Name: "b.png", File: file(near)}, {Name: "c.png", Base64: b64(near)}},
			[]string{"input.attachments"}, "more than the 2 KiB allowed in total"},
		{"several at once", []Attachment{{Name: "ok.jpg", Base64: b64(jpegBytes)}, {Name: "x.jpg", File: file(elfBytes)}, {Name: "y.pdf"}},
			[]string{"input.attachments[1].file", "input.attachments[2]"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			in.Attachments = tc.list
			_, problems := validator().Validate(in)
			if !slices.Equal(fields(problems), tc.fields) {
				t.Fatalf("problems on %v, want %v: %v", fields(problems), tc.fields, problems)
			}
			if !strings.Contains(problems[0].Message, tc.msg) {
				t.Fatalf("message %q does not mention %q", problems[0].Message, tc.msg)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnceWithoutContent(t *testing.T) {
	secret := append(append([]byte{}, elfBytes...), []byte("SECRET-PAYLOAD-MARKER")...)
	in := Input{
		Vat: "12", VatType: VatCedula, Name: "A", Email: "nope", Phone: "123", ContractNumber: "x",
		BirthDate: "2030-01-01", IDExpeditionDate: "2031-01-01",
		Attachments: []Attachment{{Name: "evil.jpg", Base64: b64(secret)}},
	}
	_, problems := validator().Validate(in)
	want := []string{
		"input.vat", "input.name", "input.email", "input.phone", "input.contractNumber", "input.birthDate",
		"input.idExpeditionDate", "input.birthCity", "input.idExpeditionCity", "input.address", "input.city",
		"input.attachments[0].base64",
	}
	if !slices.Equal(fields(problems), want) {
		t.Fatalf("problems on\n%v\nwant\n%v", fields(problems), want)
	}
	text := problems.Error()
	if strings.Contains(text, "SECRET-PAYLOAD-MARKER") || strings.Contains(text, *b64(secret)) {
		t.Fatalf("a message repeats attachment content: %s", text)
	}
	for _, e := range problems {
		if e.Code != "BAD_USER_INPUT" {
			t.Errorf("%s: code %s", e.Field, e.Code)
		}
	}
}

func TestBase64SizeIsDecidedBeforeDecoding(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 1023, 1024, 1025} {
		raw := bytes.Repeat([]byte{7}, n)
		for _, enc := range encodings {
			text := enc.EncodeToString(raw)
			if got := base64Size(text); got != int64(n) {
				t.Errorf("base64Size of %d bytes (%d chars) = %d", n, len(text), got)
			}
		}
	}
	// Line breaks (MIME) are not counted.
	wrapped := "AAAA\r\nAAAA\n"
	if got := base64Size(wrapped); got != 6 {
		t.Errorf("base64Size(wrapped) = %d, want 6", got)
	}
	// A string far over the limit is refused without being decoded: it is
	// not even valid base64, which decoding would have reported instead.
	huge := strings.Repeat("!", 4000)
	if _, msg := decodeBase64(huge, 1024); !strings.Contains(msg, "allowed per file") {
		t.Fatalf("huge string: %q", msg)
	}
}
