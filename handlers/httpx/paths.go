package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Loading what a route's path names, and shaping it, alike for the pages and the API: each loader authorizes
// through the use cases of package app, so a thing of another organization is not found.

// PathExecution loads the execution named by the {id} path segment and checks a against its workflow.
func (k *Kit) PathExecution(r *http.Request, a authz.Action) (store.Execution, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return store.Execution{}, err
	}
	return k.cfg.App.Executions.Get(r.Context(), k.Caller(r), id, a)
}

// PathForm loads the form of the {id} path segment for a (app.Forms.Get).
func (k *Kit) PathForm(r *http.Request, a authz.Action) (store.Form, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return store.Form{}, err
	}
	return k.cfg.App.Forms.Get(r.Context(), k.Caller(r), id, a)
}

// SubmissionPath reads the {id}/{sid} of a submission's route; a malformed one is NotFound.
func SubmissionPath(r *http.Request) (formID, id uuid.UUID, err error) {
	if formID, err = PathID(r, "id"); err == nil {
		id, err = PathID(r, "sid")
	}
	return formID, id, err
}

// PathSubmission reads the submission of {id}/{sid} with its files and executions (app.Forms.Submission).
func (k *Kit) PathSubmission(r *http.Request) (app.SubmissionDetail, error) {
	formID, id, err := SubmissionPath(r)
	if err != nil {
		return app.SubmissionDetail{}, err
	}
	return k.cfg.App.Forms.Submission(r.Context(), k.Caller(r), formID, id)
}

// ExecutionFile loads the {fileID} file of exec; a file of another execution is not found.
func (k *Kit) ExecutionFile(r *http.Request, exec store.Execution) (store.Upload, error) {
	fileID, err := uuid.Parse(r.PathValue("fileID"))
	if err != nil {
		return store.Upload{}, fault.New(fault.NotFound, "no such file")
	}
	file, err := k.cfg.Store.UploadGet(r.Context(), exec.OrganizationID, fileID)
	if err == nil && (file.ExecutionID == nil || *file.ExecutionID != exec.ID) {
		err = fault.New(fault.NotFound, "no such file")
	}
	if err != nil {
		return store.Upload{}, err
	}
	return file, nil
}

// PublicFormURL is the address visitors open.
func (k *Kit) PublicFormURL(slug string) string {
	return k.cfg.BaseURL.String() + "/f/" + slug
}

// WebhookURL is where a webhook is called.
func (k *Kit) WebhookURL(hook store.Webhook) string {
	return k.cfg.BaseURL.String() + "/hooks/" + hook.Token
}

// PathVersion reads the {id} and {number} path segments of a workflow's version; malformed ones are not found.
func PathVersion(r *http.Request) (uuid.UUID, int, error) {
	id, err := PathID(r, "id")
	if err != nil {
		return uuid.Nil, 0, err
	}
	number, err := strconv.Atoi(r.PathValue("number"))
	if err != nil {
		return uuid.Nil, 0, fault.New(fault.NotFound, "no such version")
	}
	return id, number, nil
}

// MemberID reads the {userID} of a member route; a malformed one is no such member.
func MemberID(r *http.Request) (uuid.UUID, error) {
	userID, err := uuid.Parse(r.PathValue("userID"))
	if err != nil {
		return uuid.Nil, fault.New(fault.NotFound, "no such member")
	}
	return userID, nil
}

// SubmissionFilter reads the filters of a submissions listing: q (a web-search expression over every answer),
// from and to (a date, YYYY-MM-DD, taking the whole day; or an RFC 3339 time, from inclusive and to exclusive),
// cursor and limit.
func SubmissionFilter(q url.Values) (store.SubmissionFilter, error) {
	f := store.SubmissionFilter{Query: strings.TrimSpace(q.Get("q"))}
	var fields []fault.FieldError
	if v := strings.TrimSpace(q.Get("from")); v != "" {
		if t, ok := parseTimeFilter(v, false); ok {
			f.From = &t
		} else {
			fields = append(fields, fault.FieldError{Field: "from", Message: "must be a date (YYYY-MM-DD) or an RFC 3339 time"})
		}
	}
	if v := strings.TrimSpace(q.Get("to")); v != "" {
		if t, ok := parseTimeFilter(v, true); ok {
			f.Before = &t
		} else {
			fields = append(fields, fault.FieldError{Field: "to", Message: "must be a date (YYYY-MM-DD) or an RFC 3339 time"})
		}
	}
	limit, err := QueryLimit(q.Get("limit"))
	if err != nil {
		fields = append(fields, fault.As(err).Fields...)
	}
	f.Limit = limit
	if c := q.Get("cursor"); c != "" {
		at, id, err := DecodePageCursor(c)
		if err != nil {
			fields = append(fields, ErrBadCursor.Fields...)
		} else {
			f.After = &store.FormSubmission{CreatedAt: at, ID: id}
		}
	}
	if len(fields) > 0 {
		return f, fault.Fields("bad filters", fields...)
	}
	return f, nil
}

// parseTimeFilter reads a bound of a time window; a date bound ending the window (end) includes its whole day.
func parseTimeFilter(v string, end bool) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	t, err := time.Parse(app.DateLayout, v)
	if err != nil {
		return time.Time{}, false
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, true
}

// SubmissionData decodes a submission's data, numbers kept as written.
func SubmissionData(raw json.RawMessage) map[string]any {
	data := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&data)
	return data
}

// FileFields maps each upload id in a submission's data to the field it was sent in.
func FileFields(data map[string]any) map[string]string {
	out := map[string]string{}
	for name, v := range data {
		if obj, ok := v.(map[string]any); ok {
			if id, ok := obj["upload_id"].(string); ok {
				out[id] = name
			}
		}
	}
	return out
}

// IsExecutionStatus reports whether v is a status an execution can be in: the values a status filter accepts.
func IsExecutionStatus(v string) bool {
	switch v {
	case store.StatusQueued, store.StatusRunning, store.StatusWaiting, store.StatusSucceeded, store.StatusFailed,
		store.StatusCanceled:
		return true
	}
	return false
}

// TimeOrNil is t, or nil when t is zero: an optional time in JSON.
func TimeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// SafeFilename keeps a download name from breaking out of its header quotes.
func SafeFilename(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
}
