package httpx

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// PresignTTL is how long a presigned download URL works: long enough for the redirect to be followed, short
// enough that a URL copied from a browser's history or a proxy log is useless by the time anyone reads it.
const PresignTTL = 60 * time.Second

// Download is a stored file going out as an attachment, once its handler authorized the caller for it.
type Download struct {
	File store.Upload
	// ContentType is what the file is sent as (a caller may have neutralized a type a browser would run).
	ContentType string
	// Sandbox adds a CSP sandbox to a proxied answer: a stranger chose the bytes.
	Sandbox bool
}

// SendFile answers with d's file: streamed through this process by default, or, when the request asks with
// ?presign=1 and the backend can (S3), a 302 to a URL of the store valid for PresignTTL, with the same
// Content-Type, attachment disposition and no-store caching signed into it. The redirect itself is not cached and
// sends no Referer onwards. An error is returned only before anything was written, for the caller to answer.
func (k *Kit) SendFile(w http.ResponseWriter, r *http.Request, d Download) error {
	if k.cfg.Files == nil {
		return ErrNoStorage
	}
	presign, err := presignAsked(r)
	if err != nil {
		return err
	}
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": SafeFilename(d.File.Filename)})
	if disposition == "" {
		disposition = "attachment"
	}
	if p, ok := k.cfg.Files.(storage.Presigner); ok && presign {
		u, err := p.PresignGet(r.Context(), d.File.StorageKey, PresignTTL, storage.ResponseHeaders{
			ContentType: d.ContentType, ContentDisposition: disposition, CacheControl: "private, no-store"})
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, u.String(), http.StatusFound)
		return nil
	}
	body, err := k.cfg.Files.Open(r.Context(), d.File.StorageKey)
	if err != nil {
		return err
	}
	defer body.Close()
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(d.File.Size, 10))
	w.Header().Set("Content-Disposition", disposition)
	w.Header().Set("Cache-Control", "private, no-store")
	if d.Sandbox {
		w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
	}
	if _, err := io.Copy(w, body); err != nil {
		logging.From(r.Context(), k.cfg.Logger).Warn("send a stored file", "error", err)
	}
	return nil
}

// presignAsked reads ?presign: 1/true asks for a redirect, 0/false or nothing for the file itself.
func presignAsked(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("presign")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fault.Fields("The request is not valid.",
			fault.FieldError{Field: "presign", Message: "must be 1 (a short-lived link to the store) or 0"})
	}
	return b, nil
}

// SendPayload streams one of an execution's large values (PAYLOAD_INLINE_LIMIT) as the JSON it is, and closes it:
// private to the caller who was allowed to open it, never cached, never sniffed into something else.
func SendPayload(w http.ResponseWriter, body io.ReadCloser) {
	defer body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.Copy(w, body)
}
