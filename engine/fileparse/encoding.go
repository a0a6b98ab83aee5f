package fileparse

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding names, as Result.Encoding reports them.
const (
	EncodingUTF8        = "utf-8"
	EncodingLatin1      = "latin-1"
	EncodingWindows1252 = "windows-1252"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
)

// decodeText returns the file as UTF-8 text without a byte order mark. head is the file's first bytes (already
// peeked from br); name is the encoding asked for, empty to guess.
func decodeText(br *bufio.Reader, head []byte, name string) (*bufio.Reader, string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "auto" {
		name = guessEncoding(head)
	}
	var enc encoding.Encoding
	switch name {
	case EncodingUTF8, "utf8":
		// The BOM, when there is one, is dropped; invalid bytes become U+FFFD rather than reaching expressions.
		return bufio.NewReaderSize(transform.NewReader(br, unicode.UTF8BOM.NewDecoder()), sniffBytes), EncodingUTF8, nil
	case EncodingLatin1, "iso-8859-1", "latin1":
		enc, name = charmap.ISO8859_1, EncodingLatin1
	case EncodingWindows1252, "cp1252":
		enc, name = charmap.Windows1252, EncodingWindows1252
	case "utf-16", "utf16":
		// A BOM says which; without one, little-endian, as Windows writes it.
		name = EncodingUTF16LE
		if bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
			name = EncodingUTF16BE
		}
		enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case EncodingUTF16LE:
		enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case EncodingUTF16BE:
		enc = unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	default:
		return nil, "", optionError("encoding", "unknown encoding %q (want utf-8, latin-1, windows-1252, utf-16, utf-16le or utf-16be)", name)
	}
	var r io.Reader = transform.NewReader(br, enc.NewDecoder())
	return bufio.NewReaderSize(r, sniffBytes), name, nil
}

// guessEncoding: a byte order mark wins; then text that is valid UTF-8 is UTF-8; then zero bytes in every other
// position mark UTF-16 without a BOM; anything else is Windows-1252, which reads Latin-1 text the same way and
// also knows the euro sign and typographic quotes that spreadsheets export.
func guessEncoding(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return EncodingUTF8
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return EncodingUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return EncodingUTF16BE
	}
	if validUTF8Prefix(head) {
		return EncodingUTF8
	}
	var evenZeros, oddZeros int
	for i, b := range head {
		if b == 0 {
			if i%2 == 0 {
				evenZeros++
			} else {
				oddZeros++
			}
		}
	}
	switch half := len(head) / 4; {
	case oddZeros > half:
		return EncodingUTF16LE
	case evenZeros > half:
		return EncodingUTF16BE
	}
	return EncodingWindows1252
}

// validUTF8Prefix reports whether head is UTF-8 but for a character cut at its end (head is a prefix of a file).
// NUL bytes do not occur in UTF-8 text, so a file full of them is not taken for UTF-8.
func validUTF8Prefix(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return false
	}
	for cut := 0; cut < utf8.UTFMax && cut <= len(head); cut++ {
		if utf8.Valid(head[:len(head)-cut]) {
			return true
		}
	}
	return false
}
