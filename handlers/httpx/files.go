package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Files arrive from outside in two places: file fields of public forms, and uploads to workflows whose trigger is
// trigger.file_upload. Both go through ReceiveFile, which holds at most the first 512 bytes of a file in memory:
// those decide its type (http.DetectContentType), and the rest streams from the request straight into the storage
// backend, which computes size and SHA-256 on the way. A file over its limit is cut off at the limit, the partial
// file deleted by the backend, and the request's body left unread.

// sniffLen is how much of a file http.DetectContentType looks at.
const sniffLen = 512

var (
	// ErrNoFile: the part holds no bytes (a form's file input left empty sends such a part).
	ErrNoFile = errors.New("no file")
	// errOverLimit is what cappedReader returns past the limit; PutObject then deletes what it wrote.
	errOverLimit = errors.New("file over its size limit")
	// ErrNoStorage: no storage backend is configured (Deps.Files), so no file can be taken.
	ErrNoStorage = fault.New(fault.Unavailable, "This server does not take files: no file storage is configured.")
)

// FileTypeRefused is a file whose content is not of a type its field or trigger accepts.
type FileTypeRefused struct {
	Detected string
	Accept   []string
}

func (e *FileTypeRefused) Error() string { return "file type " + e.Detected + " is not accepted" }

// Message says what was refused, to show at the file's field.
func (e *FileTypeRefused) Message() string {
	return fmt.Sprintf("This file is %s; accepted: %s.", e.Detected, strings.Join(e.Accept, ", "))
}

// FileTooLarge is a file cut off at its limit.
type FileTooLarge struct{ Limit int64 }

func (e *FileTooLarge) Error() string { return fmt.Sprintf("file larger than %d bytes", e.Limit) }

// Message says what was refused, to show at the file's field.
func (e *FileTooLarge) Message() string {
	return "This file is larger than " + HumanBytes(e.Limit) + "."
}

// ReceiveFile streams one multipart file part into storage and describes what was stored. limit bounds its size;
// accept lists the media types or families it may be (empty accepts any), checked against the type its first
// bytes show before anything is stored. Errors: ErrNoFile, *FileTypeRefused, *FileTooLarge, ErrNoStorage, or the
// body's own (an *http.MaxBytesError, a broken connection).
func (k *Kit) ReceiveFile(ctx context.Context, part *multipart.Part, limit int64, accept []string) (store.ReceivedFile, error) {
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(part, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return store.ReceivedFile{}, err
	}
	head = head[:n]
	if n == 0 {
		return store.ReceivedFile{}, ErrNoFile
	}
	name := cleanFilename(part.FileName())
	claimed := part.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(claimed); mt == "" || mt == "application/octet-stream" {
		claimed = mime.TypeByExtension(filepath.Ext(name))
	}
	ctype := fileType(head, claimed)
	if !(nodes.FileUploadConfig{Accept: accept}).Accepts(ctype) {
		return store.ReceivedFile{}, &FileTypeRefused{Detected: ctype, Accept: accept}
	}
	if k.cfg.Files == nil {
		return store.ReceivedFile{}, ErrNoStorage
	}
	id, err := uuid.NewV7()
	if err != nil {
		return store.ReceivedFile{}, err
	}
	obj, err := k.cfg.Files.PutObject(ctx, name, ctype, &cappedReader{r: io.MultiReader(bytes.NewReader(head), part), left: limit})
	if errors.Is(err, errOverLimit) || errors.Is(err, storage.ErrTooLarge) {
		return store.ReceivedFile{}, &FileTooLarge{Limit: limit}
	}
	if err != nil {
		return store.ReceivedFile{}, err
	}
	return store.ReceivedFile{ID: id, StorageKey: obj.Key, Filename: name, ContentType: ctype, Size: obj.Size,
		SHA256: obj.SHA256}, nil
}

// cappedReader reads at most left bytes and fails with errOverLimit if there are more: unlike io.LimitReader, a
// file one byte too large is an error, not a silently shortened file.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, errOverLimit
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// fileType is the media type of a file whose first bytes are head and whose sender called it claimed (the part's
// Content-Type, or its extension's type). The bytes decide: http.DetectContentType names a file by its signature.
// The claim only refines the sniffer's generic answers where the bytes cannot contradict it: text the sniffer calls
// text/plain may be text/csv or application/json, XML may be SVG, a zip may be an office document, and bytes the
// sniffer cannot place may be any type it does not know (a TIFF, a Parquet file). A claim the bytes contradict (a
// PNG sent as a PDF, binary sent as text/csv) gets the sniffed type, which the accept list then judges.
func fileType(head []byte, claimed string) string {
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	claim, _, err := mime.ParseMediaType(claimed)
	if err != nil {
		claim = ""
	}
	switch {
	case claim == "":
	case sniffed == "text/plain" && textual(claim):
		return claim
	case sniffed == "text/xml" && (claim == "application/xml" || strings.HasSuffix(claim, "+xml")):
		return claim
	case sniffed == "application/zip" && zipBased(claim):
		return claim
	case sniffed == "application/octet-stream" && !textual(claim) && !sniffable[claim]:
		return claim
	}
	return sniffed
}

// textual reports whether a media type is text, which the sniffer would call text/plain.
func textual(mt string) bool {
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-ndjson",
		"application/yaml", "application/x-yaml", "application/csv", "application/sql", "application/x-sh":
		return true
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
}

// zipBased reports whether a media type is a zip container (office documents, e-books, archives of code).
func zipBased(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.openxmlformats-officedocument.") ||
		strings.HasPrefix(mt, "application/vnd.oasis.opendocument.") || strings.HasSuffix(mt, "+zip") ||
		mt == "application/java-archive" || mt == "application/vnd.android.package-archive" ||
		mt == "application/x-zip-compressed"
}

// sniffable lists the binary types http.DetectContentType recognizes by signature (and their common aliases): a
// file claiming one of them that the sniffer could not place is not what it claims.
var sniffable = map[string]bool{
	"application/pdf": true, "application/postscript": true, "application/wasm": true, "application/ogg": true,
	"application/x-gzip": true, "application/gzip": true, "application/x-rar-compressed": true,
	"application/vnd.rar": true, "application/zip": true, "application/vnd.ms-fontobject": true,
	"font/collection": true, "font/otf": true, "font/ttf": true, "font/woff": true, "font/woff2": true,
	"image/bmp": true, "image/x-ms-bmp": true, "image/gif": true, "image/jpeg": true, "image/jpg": true,
	"image/png": true, "image/webp": true, "image/x-icon": true, "image/vnd.microsoft.icon": true,
	"audio/aiff": true, "audio/x-aiff": true, "audio/midi": true, "audio/mpeg": true, "audio/mp3": true,
	"audio/wave": true, "audio/wav": true, "audio/x-wav": true, "video/avi": true, "video/x-msvideo": true,
	"video/mp4": true, "video/webm": true, "text/html": true,
}

// cleanFilename keeps a file's name safe to show and to send back in a Content-Disposition: its base name, without
// control characters, at most 255 bytes. The name is only metadata: storage keys are generated.
func cleanFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '\\' || r == '/' {
			return -1
		}
		return r
	}, filepath.Base(strings.ReplaceAll(name, `\`, "/")))
	name = strings.TrimSpace(name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "upload"
	}
	return name
}

// HumanBytes writes a size as people read it: 10 MB, 512 KB, 300 bytes.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", float64(n)/(1<<20)), "0"), ".") + " MB"
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// DeleteFiles removes files a request stored and no row keeps (a submission not committed, an upload refused), now
// rather than at the next sweep; a file that cannot be deleted now is left to the sweep, which retries.
func (k *Kit) DeleteFiles(ctx context.Context, keys []string) {
	if k.cfg.Files == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, key := range keys {
		if err := k.cfg.Files.Delete(ctx, key); err != nil {
			logging.From(ctx, k.cfg.Logger).Warn("delete a file now; the sweep will retry", "error", err)
		}
	}
}
