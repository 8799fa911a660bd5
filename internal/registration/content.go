package registration

import (
	"bytes"
	"path"
	"strings"
)

// Kind is a document type recognized by its content.
type Kind string

// The document types an attachment may have, and what anything else is
// recognized as for the error message.
const (
	KindJPEG       Kind = "JPEG image"
	KindPNG        Kind = "PNG image"
	KindPDF        Kind = "PDF document"
	KindExecutable Kind = "executable program"
	KindUnknown    Kind = "unrecognized content"
)

// signature is a magic-byte prefix and the kind it announces.
type signature struct {
	prefix []byte
	kind   Kind
}

// signatures are checked in order against the first bytes of a document.
// Only JPEG, PNG and PDF are accepted; executables are named so that the
// refusal says what was sent.
var signatures = []signature{
	{[]byte{0xFF, 0xD8, 0xFF}, KindJPEG},
	{[]byte{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}, KindPNG},
	{[]byte("%PDF-"), KindPDF},
	{[]byte{0x7F, 'E', 'L', 'F'}, KindExecutable},                         // ELF (Linux)
	{[]byte("MZ"), KindExecutable},                                        // PE (Windows)
	{[]byte{0xFE, 0xED, 0xFA, 0xCE}, KindExecutable},                      // Mach-O 32
	{[]byte{0xFE, 0xED, 0xFA, 0xCF}, KindExecutable},                      // Mach-O 64
	{[]byte{0xCE, 0xFA, 0xED, 0xFE}, KindExecutable},                      // Mach-O 32, little endian
	{[]byte{0xCF, 0xFA, 0xED, 0xFE}, KindExecutable},                      // Mach-O 64, little endian
	{[]byte{0xCA, 0xFE, 0xBA, 0xBE}, KindExecutable},                      // Mach-O universal / Java class
	{[]byte("#!"), KindExecutable},                                        // script with an interpreter line
	{[]byte{0x00, 0x61, 0x73, 0x6D}, KindExecutable},                      // WebAssembly
	{[]byte{'P', 'K', 0x03, 0x04}, KindUnknown},                           // ZIP (jar, apk, docx): not accepted
	{[]byte{0x1F, 0x8B}, KindUnknown},                                     // gzip
	{[]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, KindUnknown}, // OLE (doc, xls, msi)
}

// Sniff recognizes a document by its first bytes (magic numbers), never by
// its name or declared content type.
func Sniff(content []byte) Kind {
	for _, s := range signatures {
		if bytes.HasPrefix(content, s.prefix) {
			return s.kind
		}
	}
	return KindUnknown
}

// phrase is k in a sentence ("the content is ...").
func (k Kind) phrase() string {
	switch k {
	case KindExecutable:
		return "an " + string(k)
	case KindUnknown:
		return "not a recognized document"
	}
	return "a " + string(k)
}

// Accepted reports whether k is a document type Brilla may receive.
func (k Kind) Accepted() bool { return k == KindJPEG || k == KindPNG || k == KindPDF }

// extensions maps a file name's lower-cased extension to the kind its
// content must have.
var extensions = map[string]Kind{
	".jpg":  KindJPEG,
	".jpeg": KindJPEG,
	".png":  KindPNG,
	".pdf":  KindPDF,
}

// KindOfName returns the kind a file name's extension declares, and false
// when the extension is not one of .jpg, .jpeg, .png or .pdf (in any case).
func KindOfName(name string) (Kind, bool) {
	k, ok := extensions[strings.ToLower(path.Ext(name))]
	return k, ok
}
