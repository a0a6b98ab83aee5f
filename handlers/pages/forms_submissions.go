package pages

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/views"
)

// answerText writes one answer as text for tables and CSV: a file by its name, a list joined by commas, a box
// ticked as yes or no.
func answerText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = answerText(x)
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if name, ok := v["filename"].(string); ok {
			return name
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// submissionsPage is GET /forms/{id}/submissions?q=&from=&to=&cursor=.
func (s *Handlers) submissionsPage(w http.ResponseWriter, r *http.Request) {
	form, err := s.PathForm(r, authz.FormsView)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	q := r.URL.Query()
	filter, err := httpx.SubmissionFilter(q)
	page := views.SubmissionsPage{FormID: form.ID.String(), FormName: form.Name,
		Filter: views.SubmissionsFilter{Query: filter.Query, From: q.Get("from"), To: q.Get("to")}}
	for _, fd := range form.Fields {
		page.Columns = append(page.Columns, fd.Label)
	}
	keep := url.Values{"q": {filter.Query}, "from": {q.Get("from")}, "to": {q.Get("to")}}
	page.ExportURL = "/forms/" + form.ID.String() + "/submissions.csv?" + keep.Encode()
	status := http.StatusOK
	if err != nil {
		status = s.FormStatus(w, r, err)
		for _, fe := range fault.As(err).Fields {
			page.Error += httpx.Capitalize(fe.Field) + " " + fe.Message + ". "
		}
		s.Render(w, r, status, "Submissions of "+form.Name, views.Submissions(page))
		return
	}
	subs, err := s.deps.App.Forms.Submissions(r.Context(), s.Caller(r), form.ID, filter)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	for _, sub := range subs {
		data := httpx.SubmissionData(sub.Data)
		row := views.SubmissionRow{ID: sub.ID.String(), CreatedAt: sub.CreatedAt}
		for _, fd := range form.Fields {
			row.Cells = append(row.Cells, httpx.TruncateRunes(answerText(data[fd.Name]), 120))
		}
		page.Rows = append(page.Rows, row)
	}
	if len(subs) == httpx.ClampedLimit(filter.Limit) {
		last := subs[len(subs)-1]
		next := url.Values{"cursor": {httpx.EncodePageCursor(last.CreatedAt, last.ID)}}
		for k, v := range keep {
			next[k] = v
		}
		page.NextURL = "/forms/" + form.ID.String() + "/submissions?" + next.Encode()
	}
	s.Render(w, r, status, "Submissions of "+form.Name, views.Submissions(page))
}

// submissionsCSV is GET /forms/{id}/submissions.csv?q=&from=&to=: every matching submission, newest first, one
// column per current field, streamed as it is read (app.Forms.Export, which audits it).
func (s *Handlers) submissionsCSV(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var filter store.SubmissionFilter
	if err == nil {
		filter, err = httpx.SubmissionFilter(r.URL.Query())
	}
	var export app.SubmissionExport
	if err == nil {
		export, err = s.deps.App.Forms.Export(r.Context(), s.Caller(r), id, filter)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	form := export.Form
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
		"filename": form.Slug + "-submissions.csv"}))
	cw := csv.NewWriter(w)
	header := []string{"submission_id", "submitted_at"}
	for _, fd := range form.Fields {
		header = append(header, fd.Name)
	}
	_ = cw.Write(header)
	flusher, _ := w.(http.Flusher)
	for subs, err := range export.Pages {
		if err != nil {
			// The status is sent: all that is left is to end the file early and say why in the log.
			logging.From(r.Context(), s.deps.Logger).Error("export submissions", "form_id", form.ID, "error", err)
			return
		}
		for _, sub := range subs {
			data := httpx.SubmissionData(sub.Data)
			row := []string{sub.ID.String(), sub.CreatedAt.UTC().Format(time.RFC3339)}
			for _, fd := range form.Fields {
				row = append(row, csvCell(answerText(data[fd.Name])))
			}
			_ = cw.Write(row)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return // the client went away
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// csvCell defuses formula injection: a spreadsheet opening the export would run a cell a stranger typed as
// "=HYPERLINK(…)", so a cell starting like a formula is prefixed with an apostrophe, which spreadsheets show as text.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// submissionPage is GET /forms/{id}/submissions/{sid}: the answers, the files and the executions started.
func (s *Handlers) submissionPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.PathSubmission(r)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	form, sub := d.Form, d.Submission
	data := httpx.SubmissionData(sub.Data)
	page := views.SubmissionDetailPage{FormID: form.ID.String(), FormName: form.Name, ID: sub.ID.String(),
		CreatedAt: sub.CreatedAt, UserAgent: sub.UserAgent,
		CanDelete: authz.Authorize(httpx.PrincipalFrom(r.Context()), authz.FormsManage, app.FormResource(form)) == nil}
	if sub.RemoteIP != nil {
		page.RemoteIP = sub.RemoteIP.String()
	}
	shown := map[string]bool{}
	for _, fd := range form.Fields {
		page.Values = append(page.Values, views.SubmissionValue{Label: fd.Label, Name: fd.Name, Value: answerText(data[fd.Name])})
		shown[fd.Name] = true
	}
	// Answers to fields removed from the form since are shown too, under their names.
	for name, v := range data {
		if !shown[name] {
			page.Values = append(page.Values, views.SubmissionValue{Label: name, Name: name, Value: answerText(v)})
		}
	}
	byUpload := httpx.FileFields(data)
	for _, f := range d.Files {
		page.Files = append(page.Files, views.SubmissionFile{Field: byUpload[f.ID.String()], Filename: f.Filename,
			ContentType: f.ContentType, Size: httpx.HumanBytes(f.Size), SHA256: hex.EncodeToString(f.SHA256),
			URL: "/forms/" + form.ID.String() + "/submissions/" + sub.ID.String() + "/files/" + f.ID.String()})
	}
	for _, e := range d.Executions {
		page.Executions = append(page.Executions, views.SubmissionExecutionRow{ID: e.ID.String(),
			WorkflowName: e.WorkflowName, Status: e.Status, Error: e.Error, CreatedAt: e.CreatedAt})
	}
	s.Render(w, r, http.StatusOK, "Submission", views.SubmissionDetail(page))
}

// submissionDelete is POST /forms/{id}/submissions/{sid}/delete: the submission and its files
// (app.Forms.DeleteSubmission).
func (s *Handlers) submissionDelete(w http.ResponseWriter, r *http.Request) {
	formID, id, err := httpx.SubmissionPath(r)
	if err == nil {
		err = s.deps.App.Forms.DeleteSubmission(r.Context(), s.Caller(r), formID, id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.Redirect(w, r, "/forms/"+formID.String()+"/submissions")
}

// submissionFile is GET /forms/{id}/submissions/{sid}/files/{fid}: a file of a submission, always as a download
// (with ?presign=1 and S3 storage, a 302 to a 60-second link to the store, on the store's origin).
// A stranger chose its bytes, so it is never rendered on this origin: it goes out as an attachment, in a sandbox,
// and types a browser would run (HTML, SVG, scripts) go out as plain bytes.
func (s *Handlers) submissionFile(w http.ResponseWriter, r *http.Request) {
	formID, sid, err := httpx.SubmissionPath(r)
	var fid uuid.UUID
	if err == nil {
		fid, err = httpx.PathID(r, "fid")
	}
	var file store.Upload
	if err == nil {
		file, err = s.deps.App.Forms.SubmissionFile(r.Context(), s.Caller(r), formID, sid, fid)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	ctype := file.ContentType
	if mt, _, _ := mime.ParseMediaType(ctype); mt == "text/html" || strings.Contains(mt, "xml") ||
		strings.Contains(mt, "javascript") || strings.Contains(mt, "ecmascript") {
		ctype = "application/octet-stream"
	}
	if err := s.SendFile(w, r, httpx.Download{File: file, ContentType: ctype, Sandbox: true}); err != nil {
		s.PageError(w, r, err)
	}
}
