package handlers

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

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// Files arrive from outside in two places: file fields of public forms, and uploads to workflows whose trigger is
// trigger.file_upload. Both go through receiveFile, which holds at most the first 512 bytes of a file in memory:
// those decide its type (http.DetectContentType), and the rest streams from the request straight into the storage
// backend, which computes size and SHA-256 on the way. A file over its limit is cut off at the limit, the partial
// file deleted by the backend, and the request's body left unread.

// sniffLen is how much of a file http.DetectContentType looks at.
const sniffLen = 512

// uploadOverheadBytes is what a multipart upload may carry besides its file: boundaries, headers, small fields.
const uploadOverheadBytes = 64 << 10

var (
	// errNoFile: the part holds no bytes (a form's file input left empty sends such a part).
	errNoFile = errors.New("no file")
	// errOverLimit is what cappedReader returns past the limit; PutObject then deletes what it wrote.
	errOverLimit = errors.New("file over its size limit")
	// errNoStorage: no storage backend is configured (Deps.Files), so no file can be taken.
	errNoStorage = fault.New(fault.Unavailable, "This server does not take files: no file storage is configured.")
)

// fileTypeRefused is a file whose content is not of a type its field or trigger accepts.
type fileTypeRefused struct {
	detected string
	accept   []string
}

func (e *fileTypeRefused) Error() string { return "file type " + e.detected + " is not accepted" }

func (e *fileTypeRefused) message() string {
	return fmt.Sprintf("This file is %s; accepted: %s.", e.detected, strings.Join(e.accept, ", "))
}

// fileTooLarge is a file cut off at its limit.
type fileTooLarge struct{ limit int64 }

func (e *fileTooLarge) Error() string { return fmt.Sprintf("file larger than %d bytes", e.limit) }

func (e *fileTooLarge) message() string {
	return "This file is larger than " + humanBytes(e.limit) + "."
}

// receiveFile streams one multipart file part into storage and describes what was stored. limit bounds its size;
// accept lists the media types or families it may be (empty accepts any), checked against the type its first
// bytes show before anything is stored. Errors: errNoFile, *fileTypeRefused, *fileTooLarge, errNoStorage, or the
// body's own (an *http.MaxBytesError, a broken connection).
func (s *Server) receiveFile(ctx context.Context, part *multipart.Part, limit int64, accept []string) (store.ReceivedFile, error) {
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(part, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return store.ReceivedFile{}, err
	}
	head = head[:n]
	if n == 0 {
		return store.ReceivedFile{}, errNoFile
	}
	name := cleanFilename(part.FileName())
	claimed := part.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(claimed); mt == "" || mt == "application/octet-stream" {
		claimed = mime.TypeByExtension(filepath.Ext(name))
	}
	ctype := fileType(head, claimed)
	if !(nodes.FileUploadConfig{Accept: accept}).Accepts(ctype) {
		return store.ReceivedFile{}, &fileTypeRefused{detected: ctype, accept: accept}
	}
	if s.deps.Files == nil {
		return store.ReceivedFile{}, errNoStorage
	}
	id, err := uuid.NewV7()
	if err != nil {
		return store.ReceivedFile{}, err
	}
	obj, err := s.deps.Files.PutObject(ctx, name, ctype, &cappedReader{r: io.MultiReader(bytes.NewReader(head), part), left: limit})
	if errors.Is(err, errOverLimit) || errors.Is(err, storage.ErrTooLarge) {
		return store.ReceivedFile{}, &fileTooLarge{limit: limit}
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

// humanBytes writes a size as people read it: 10 MB, 512 KB, 300 bytes.
func humanBytes(n int64) string {
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

// uploadTarget is what taking a file for a workflow needs: the version to run and its trigger's limits.
type uploadTarget struct {
	head   store.WorkflowHead
	config nodes.FileUploadConfig
}

// resolveUploadTarget checks that a workflow takes uploads now: its current version's trigger is a file upload,
// and it is active (a trigger fires only for active workflows, as webhooks and schedules do).
func (s *Server) resolveUploadTarget(ctx context.Context, wf store.Workflow) (uploadTarget, error) {
	head, err := s.deps.Store.WorkflowHeadForRun(ctx, wf.OrganizationID, wf.ID)
	if err != nil {
		return uploadTarget{}, err
	}
	plan, err := s.deps.Plans.Load(ctx, head.VersionID)
	if err != nil {
		return uploadTarget{}, err
	}
	trigger := plan.Trigger()
	if trigger.Type != "trigger.file_upload" {
		return uploadTarget{}, fault.New(fault.Conflict, "This workflow does not start from a file upload: its trigger is %s.", trigger.Type)
	}
	cfg, err := nodes.ParseFileUploadConfig(trigger.Config)
	if err != nil {
		return uploadTarget{}, err
	}
	if !head.Active {
		return uploadTarget{}, fault.New(fault.Conflict, "This workflow is not active: activate it to take uploads.")
	}
	return uploadTarget{head: head, config: cfg}, nil
}

// receiveUpload reads a multipart upload to a workflow: the first file part (by convention named "file") goes
// through receiveFile with the trigger's limits; small fields before it are skipped, and nothing after it is read.
func (s *Server) receiveUpload(w http.ResponseWriter, r *http.Request, cfg nodes.FileUploadConfig) (store.ReceivedFile, error) {
	missing := fault.Fields("a file is required", fault.FieldError{Field: "file",
		Message: "is required: send it as a multipart/form-data part named file"})
	r.Body = http.MaxBytesReader(w, r.Body, cfg.MaxBytes+uploadOverheadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return store.ReceivedFile{}, missing
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return store.ReceivedFile{}, missing
		}
		if err != nil {
			return store.ReceivedFile{}, uploadBodyError(err)
		}
		if part.FileName() == "" && part.FormName() != "file" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return store.ReceivedFile{}, uploadBodyError(err)
			}
			continue
		}
		f, err := s.receiveFile(r.Context(), part, cfg.MaxBytes, cfg.Accept)
		var refused *fileTypeRefused
		var tooLarge *fileTooLarge
		switch {
		case errors.Is(err, errNoFile):
			return store.ReceivedFile{}, fault.Fields("the file is empty", fault.FieldError{Field: "file", Message: "is empty"})
		case errors.As(err, &refused):
			return store.ReceivedFile{}, fault.Fields("this type of file is not accepted", fault.FieldError{Field: "file",
				Message: fmt.Sprintf("is %s; this workflow accepts %s", refused.detected, strings.Join(refused.accept, ", "))})
		case errors.As(err, &tooLarge):
			return store.ReceivedFile{}, fault.Wrap(err, fault.TooLarge, "The file is larger than "+humanBytes(tooLarge.limit)+".")
		case err != nil:
			return store.ReceivedFile{}, uploadBodyError(err)
		}
		return f, nil
	}
}

func uploadBodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fault.Wrap(err, fault.TooLarge, "The upload is larger than this workflow takes.")
	}
	if fault.CodeOf(err) != fault.Internal {
		return err
	}
	return fault.Wrap(err, fault.Invalid, "The upload could not be read.")
}

// acceptUpload stores an uploaded file and starts the workflow with it, deleting the file again when the
// execution cannot be recorded: storage never keeps a file the database does not know.
func (s *Server) acceptUpload(w http.ResponseWriter, r *http.Request, t uploadTarget) (store.Upload, store.Execution, error) {
	if err := s.deps.App.Triggers.Admit(r.Context(), t.head.OrganizationID); err != nil {
		return store.Upload{}, store.Execution{}, err
	}
	file, err := s.receiveUpload(w, r, t.config)
	if err != nil {
		if fault.CodeOf(err) == fault.TooLarge {
			w.Header().Set("Connection", "close")
		}
		return store.Upload{}, store.Execution{}, err
	}
	up, exec, err := s.deps.Store.UploadRun(r.Context(), s.actor(r), store.NewUploadRun{Head: t.head, File: file})
	if err != nil {
		s.deleteFiles(r.Context(), []string{file.StorageKey})
	}
	return up, exec, err
}

// apiWorkflowUpload is POST /api/v1/workflows/{id}/uploads (multipart/form-data, a part named file): the file is
// stored and the workflow started with it; 202 {execution_id, upload_id} once both are committed. Who may run the
// workflow may upload to it.
func (s *Server) apiWorkflowUpload(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.pathWorkflow(w, r, authz.WorkflowRun)
	if !ok {
		return
	}
	target, err := s.resolveUploadTarget(r.Context(), wf)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	up, exec, err := s.acceptUpload(w, r, target)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+exec.ID.String())
	respond(w, http.StatusAccepted, map[string]any{"execution_id": exec.ID, "upload_id": up.ID})
}

// workflowUploadPage is GET /workflows/{id}/upload: the upload form of a workflow that starts from a file.
func (s *Server) workflowUploadPage(w http.ResponseWriter, r *http.Request) {
	s.renderWorkflowUpload(w, r, nil)
}

// workflowUpload is POST /workflows/{id}/upload: the page's form, answered 202 with the execution it started.
func (s *Server) workflowUpload(w http.ResponseWriter, r *http.Request) {
	s.renderWorkflowUpload(w, r, func(t uploadTarget, page *views.WorkflowUploadPage) (int, error) {
		up, exec, err := s.acceptUpload(w, r, t)
		if err != nil {
			return 0, err
		}
		page.ExecutionID, page.UploadID, page.Filename = exec.ID.String(), up.ID.String(), up.Filename
		return http.StatusAccepted, nil
	})
}

// renderWorkflowUpload draws the upload page, after accept (when posting) took the file.
func (s *Server) renderWorkflowUpload(w http.ResponseWriter, r *http.Request,
	accept func(uploadTarget, *views.WorkflowUploadPage) (int, error)) {
	id, err := pathID(r, "id")
	var wf store.Workflow
	if err == nil {
		wf, err = s.authorizedWorkflow(r, id, authz.WorkflowRun)
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	page := views.WorkflowUploadPage{WorkflowID: wf.ID.String(), WorkflowName: wf.Name,
		Form: views.Form{Values: map[string]string{}, Errors: map[string]string{}}}
	status := http.StatusOK
	target, err := s.resolveUploadTarget(r.Context(), wf)
	switch {
	case fault.CodeOf(err) == fault.Conflict:
		page.Problem = fault.As(err).Message
		status = http.StatusConflict
	case err != nil:
		s.pageError(w, r, err)
		return
	default:
		page.Accept = strings.Join(target.config.Accept, ",")
		page.Limit = humanBytes(target.config.MaxBytes)
		if accept != nil {
			if status, err = accept(target, &page); err != nil {
				status = s.formStatus(w, r, err)
				page.Form = formState(nil, err)
				if e := fault.As(err); e.Code == fault.TooLarge {
					page.Form.Error, page.Form.Errors["file"] = "", capitalize(e.Message)
				}
			}
		}
	}
	s.render(w, r, status, "Upload to "+wf.Name, views.WorkflowUpload(page))
}
