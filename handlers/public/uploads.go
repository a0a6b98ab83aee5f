package public

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/engine/nodes"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// uploadOverheadBytes is what a multipart upload may carry besides its file: boundaries, headers, small fields.
const uploadOverheadBytes = 64 << 10

// uploadTarget is what taking a file for a workflow needs: the version to run and its trigger's limits.
type uploadTarget struct {
	head   store.WorkflowHead
	config nodes.FileUploadConfig
}

// resolveUploadTarget checks that a workflow takes uploads now: its current version's trigger is a file upload,
// and it is active (a trigger fires only for active workflows, as webhooks and schedules do).
func (s *Handlers) resolveUploadTarget(ctx context.Context, wf store.Workflow) (uploadTarget, error) {
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
// through httpx.ReceiveFile with the trigger's limits; small fields before it are skipped, and nothing after it is read.
func (s *Handlers) receiveUpload(w http.ResponseWriter, r *http.Request, cfg nodes.FileUploadConfig) (store.ReceivedFile, error) {
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
		f, err := s.ReceiveFile(r.Context(), part, cfg.MaxBytes, cfg.Accept)
		var refused *httpx.FileTypeRefused
		var tooLarge *httpx.FileTooLarge
		switch {
		case errors.Is(err, httpx.ErrNoFile):
			return store.ReceivedFile{}, fault.Fields("the file is empty", fault.FieldError{Field: "file", Message: "is empty"})
		case errors.As(err, &refused):
			return store.ReceivedFile{}, fault.Fields("this type of file is not accepted", fault.FieldError{Field: "file",
				Message: fmt.Sprintf("is %s; this workflow accepts %s", refused.Detected, strings.Join(refused.Accept, ", "))})
		case errors.As(err, &tooLarge):
			return store.ReceivedFile{}, fault.Wrap(err, fault.TooLarge, "The file is larger than "+httpx.HumanBytes(tooLarge.Limit)+".")
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
func (s *Handlers) acceptUpload(w http.ResponseWriter, r *http.Request, t uploadTarget) (store.Upload, store.Execution, error) {
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
	up, exec, err := s.deps.Store.UploadRun(r.Context(), s.Actor(r), store.NewUploadRun{Head: t.head, File: file})
	if err != nil {
		s.DeleteFiles(r.Context(), []string{file.StorageKey})
	}
	return up, exec, err
}

// apiWorkflowUpload is POST /api/v1/workflows/{id}/uploads (multipart/form-data, a part named file): the file is
// stored and the workflow started with it; 202 {execution_id, upload_id} once both are committed. Who may run the
// workflow may upload to it.
func (s *Handlers) apiWorkflowUpload(w http.ResponseWriter, r *http.Request) {
	wf, ok := s.PathWorkflow(w, r, authz.WorkflowRun)
	if !ok {
		return
	}
	target, err := s.resolveUploadTarget(r.Context(), wf)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	up, exec, err := s.acceptUpload(w, r, target)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/executions/"+exec.ID.String())
	httpx.Respond(w, http.StatusAccepted, map[string]any{"execution_id": exec.ID, "upload_id": up.ID})
}

// workflowUploadPage is GET /workflows/{id}/upload: the upload form of a workflow that starts from a file.
func (s *Handlers) workflowUploadPage(w http.ResponseWriter, r *http.Request) {
	s.renderWorkflowUpload(w, r, nil)
}

// workflowUpload is POST /workflows/{id}/upload: the page's form, answered 202 with the execution it started.
func (s *Handlers) workflowUpload(w http.ResponseWriter, r *http.Request) {
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
func (s *Handlers) renderWorkflowUpload(w http.ResponseWriter, r *http.Request,
	accept func(uploadTarget, *views.WorkflowUploadPage) (int, error)) {
	id, err := httpx.PathID(r, "id")
	var wf store.Workflow
	if err == nil {
		wf, err = s.deps.App.Workflows.Authorized(r.Context(), s.Caller(r), id, authz.WorkflowRun)
	}
	if err != nil {
		s.PageError(w, r, err)
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
		s.PageError(w, r, err)
		return
	default:
		page.Accept = strings.Join(target.config.Accept, ",")
		page.Limit = httpx.HumanBytes(target.config.MaxBytes)
		if accept != nil {
			if status, err = accept(target, &page); err != nil {
				status = s.FormStatus(w, r, err)
				page.Form = httpx.FormState(nil, err)
				if e := fault.As(err); e.Code == fault.TooLarge {
					page.Form.Error, page.Form.Errors["file"] = "", httpx.Capitalize(e.Message)
				}
			}
		}
	}
	s.Render(w, r, status, "Upload to "+wf.Name, views.WorkflowUpload(page))
}
