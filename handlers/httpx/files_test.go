package httpx

import "testing"

// The starts of a PDF and a PNG: their signatures are what the sniffer goes by.
var (
	pdfHead = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")
)

// TestFileTypeTrustsTheBytes checks that a file's type comes from its first bytes, the claimed type only refining
// what the bytes allow.
func TestFileTypeTrustsTheBytes(t *testing.T) {
	t.Parallel()
	zip := []byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00")
	for _, c := range []struct {
		head    []byte
		claimed string
		want    string
	}{
		{pdfHead, "application/pdf", "application/pdf"},
		{pdfHead, "", "application/pdf"},
		{pngHead, "application/pdf", "image/png"},
		{[]byte("a,b\n1,2\n"), "text/csv", "text/csv"},
		{[]byte(`{"a":1}`), "application/json", "application/json"},
		{[]byte("a,b\n1,2\n"), "image/png", "text/plain"},
		{[]byte{0, 1, 2, 3, 0xff, 0xfe}, "text/csv", "application/octet-stream"},
		{[]byte{0, 1, 2, 3, 0xff, 0xfe}, "image/png", "application/octet-stream"},
		{[]byte{0x49, 0x49, 0x2a, 0x00, 0, 0}, "image/tiff", "image/tiff"},
		{zip, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{zip, "application/pdf", "application/zip"},
		{[]byte("<!DOCTYPE html><html><script>alert(1)</script>"), "text/plain", "text/html"},
	} {
		if got := fileType(c.head, c.claimed); got != c.want {
			t.Errorf("fileType(%.12q, %q) = %q, want %q", c.head, c.claimed, got, c.want)
		}
	}
}
