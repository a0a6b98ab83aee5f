package actions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
)

// Files over HTTP: action.http downloads an answer into storage (response.format "file") and uploads a stored file
// as multipart/form-data (upload).

// Bounds of HTTP file transfers.
const (
	// MaxDownloadBytes bounds response.max_bytes of a download: the body streams to storage, never into memory.
	MaxDownloadBytes = 1 << 30
	// MaxUploadBytes bounds a file sent by upload. The multipart body is built in memory so that HMAC signing and
	// retries see the same bytes.
	MaxUploadBytes = 25 << 20
	// formatFile is the response format that stores the answer's body as a file.
	formatFile = "file"
)

// HTTPUploadConfig is action.http's upload: a stored file sent as one part of a multipart/form-data body whose
// other parts are the body's fields.
type HTTPUploadConfig struct {
	// File is an expression giving the file: a reference, or an object with a ref.
	File string `json:"file"`
	// Field names the file's part; "file" by default.
	Field string `json:"field,omitempty"`
	// Filename is a template; the stored file's name by default.
	Filename string `json:"filename,omitempty"`
}

type httpUpload struct {
	file     *engine.Expression
	field    string
	filename *engine.Template
}

// compileUpload checks an upload against the rest of the config: it needs a method with a body, and the body, when
// there is one, is an object of text fields.
func compileUpload(c *engine.Compiler, n *httpNode, conf HTTPConfig) error {
	if conf.Upload == nil {
		return nil
	}
	if n.method == http.MethodGet || n.method == http.MethodHead {
		return engine.ConfigError("upload", "a "+n.method+" request has no body")
	}
	if conf.BodyType != "" && conf.BodyType != "form" {
		return engine.ConfigError("body_type", "an upload sends the body's fields as form fields: use form or leave it out")
	}
	if len(conf.Body) > 0 && !bytes.HasPrefix(bytes.TrimSpace(conf.Body), []byte("{")) {
		return engine.ConfigError("body", "with an upload, the body is an object of form fields")
	}
	u := &httpUpload{field: conf.Upload.Field}
	if u.field == "" {
		u.field = "file"
	}
	var err error
	if u.file, err = c.Expression("upload.file", conf.Upload.File); err != nil {
		return err
	}
	if conf.Upload.Filename != "" {
		if u.filename, err = c.Template("upload.filename", conf.Upload.Filename); err != nil {
			return err
		}
	}
	n.upload, n.bodyType = u, "multipart"
	return nil
}

// checkResponseFormat bounds max_bytes by where the body goes (memory, or storage for a download) and refuses what
// a download cannot do: be cached or truncated.
func checkResponseFormat(n *httpNode) error {
	if n.format != formatFile {
		if n.maxBytes > MaxResponseMaxBytes {
			return engine.ConfigError("response.max_bytes", fmt.Sprintf("is at most %d (50 MB) unless the format is file", MaxResponseMaxBytes))
		}
		return nil
	}
	if n.cacheTTL > 0 {
		return engine.ConfigError("response.cache_ttl", "a downloaded file is not cached")
	}
	if n.truncate {
		return engine.ConfigError("response.truncate", "a downloaded file is never truncated: it fails past max_bytes")
	}
	return nil
}

// uploadBody renders the body's fields and builds the multipart body around the file.
func (n *httpNode) uploadBody(ctx context.Context, in engine.Input, vars *engine.Vars) ([]byte, string, error) {
	var fields map[string]any
	if n.body != nil {
		v, err := n.body.render(ctx, vars)
		if err != nil {
			return nil, "", err
		}
		fields, _ = v.(map[string]any)
	}
	return n.upload.multipartBody(ctx, in, vars, fields)
}

// multipartBody builds the upload's body: the rendered body's fields (sorted, arrays repeated), then the file.
// Only the organization's own files open.
func (u *httpUpload) multipartBody(ctx context.Context, in engine.Input, vars *engine.Vars, fields map[string]any) ([]byte, string, error) {
	if in.Services == nil || in.Services.Storage == nil {
		return nil, "", engine.Permanent(errors.New("file storage is not available to this execution"))
	}
	v, err := u.file.Eval(ctx, vars)
	if err != nil {
		return nil, "", err
	}
	ref, err := nodes.FileRef(v)
	if err != nil {
		return nil, "", engine.Permanent(fmt.Errorf("upload.%w", err))
	}
	file, rc, err := in.Services.Storage.Open(ctx, ref)
	if err != nil {
		if fault.CodeOf(err) == fault.NotFound {
			return nil, "", engine.Permanent(errors.New("upload.file: no such file in this organization (or it has expired)"))
		}
		return nil, "", fmt.Errorf("upload.file: %w", err)
	}
	defer rc.Close()
	name := file.Filename
	if u.filename != nil {
		if name, err = u.filename.Render(ctx, vars); err != nil {
			return nil, "", err
		}
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := writeFormFields(mw, fields); err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": u.field,
		"filename": safeFilename(name, "file")}))
	ctype := file.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	n, err := io.Copy(part, io.LimitReader(rc, MaxUploadBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("upload.file: read: %w", err)
	}
	if n > MaxUploadBytes {
		return nil, "", engine.Permanent(fmt.Errorf("upload.file: larger than %d MB", MaxUploadBytes>>20))
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// writeFormFields writes an object's fields as text parts, sorted by name; arrays repeat their field.
func writeFormFields(mw *multipart.Writer, fields map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		values := []any{fields[k]}
		if arr, ok := fields[k].([]any); ok {
			values = arr
		}
		for _, v := range values {
			if err := mw.WriteField(k, engine.FormatValue(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// download streams a successful answer's body into storage (within max_bytes) and outputs {status, headers, url,
// file: {ref, filename, content_type, size, sha256, upload_id?, expires_at?}}. An error answer is handled as any
// other: a failure, or with ignore_status an output whose body is the start of the answer, and no file.
func (n *httpNode) download(ctx context.Context, svc *engine.Services, resp *http.Response) (map[string]any, error) {
	res := map[string]any{"status": resp.StatusCode, "headers": responseHeaders(resp.Header), "url": resp.Request.URL.String()}
	if resp.StatusCode >= 300 {
		data, _, err := readLimited(resp.Body, errorBodySnippetBytes)
		if err != nil {
			return nil, n.networkError(ctx, err)
		}
		if err := n.statusError(resp, data); err != nil {
			return nil, err
		}
		res["body"] = decodeBody(data, resp.Header.Get("Content-Type"), "text", false)
		return res, nil
	}
	if svc.Storage == nil {
		return nil, engine.Permanent(errors.New("file storage is not available to this execution"))
	}
	name := downloadName(resp)
	ctype := resp.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	body := &hashingReader{r: &cappedReader{r: resp.Body, left: n.maxBytes}, h: sha256.New()}
	file, err := svc.Storage.Put(ctx, engine.NewFile{Name: name, ContentType: ctype}, body)
	switch {
	case errors.Is(err, errAnswerTooLarge):
		return nil, engine.Permanent(fmt.Errorf("the answer is larger than %d bytes (response.max_bytes)", n.maxBytes))
	case err != nil && ctx.Err() == nil && body.n > 0 && fault.CodeOf(err) == fault.Internal:
		return nil, n.networkError(ctx, err) // the connection broke mid-body
	case err != nil:
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	out := map[string]any{"ref": file.Ref, "filename": name, "content_type": ctype, "size": body.n,
		"sha256": hex.EncodeToString(body.h.Sum(nil))}
	if file.ID != "" {
		out["upload_id"] = file.ID
	}
	if !file.ExpiresAt.IsZero() {
		out["expires_at"] = file.ExpiresAt.Format(time.RFC3339)
	}
	res["file"] = out
	return res, nil
}

// downloadName is the answer's file name: Content-Disposition's, else the URL path's last segment.
func downloadName(resp *http.Response) string {
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return safeFilename(path.Base(strings.ReplaceAll(params["filename"], `\`, "/")), "download")
	}
	return safeFilename(path.Base(resp.Request.URL.Path), "download")
}

var errAnswerTooLarge = errors.New("the answer is larger than allowed")

// cappedReader fails with errAnswerTooLarge past left bytes, so storage keeps nothing of an answer over the limit.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, errAnswerTooLarge
	}
	return n, err
}
