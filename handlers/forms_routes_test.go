package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of forms, submissions and uploads, merged into routeCases. The form and the workflow in these
// cases belong to organization A's owner, so a member has no right of its own on them: only what its role gives.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		// The builder and submissions pages.
		"GET /forms":                                    {get("/forms"), signedIn(200)},
		"POST /forms":                                   {form("POST", "/forms", url.Values{"name": {"Feedback"}}), signedInCreators(303)},
		"GET /forms/{id}":                               {onForm("GET", "", nil), signedInReaders(200)},
		"POST /forms/{id}":                              {onForm("POST", "", editorValues), pageManagers(303, 404)},
		"POST /forms/{id}/preview":                      {onForm("POST", "/preview", editorValues), pageManagers(200, 404)},
		"POST /forms/{id}/publish":                      {onForm("POST", "/publish", url.Values{}), pageManagers(303, 404)},
		"POST /forms/{id}/unpublish":                    {onForm("POST", "/unpublish", url.Values{}), pageManagers(303, 404)},
		"POST /forms/{id}/delete":                       {onForm("POST", "/delete", url.Values{}), pageManagers(303, 404)},
		"GET /forms/{id}/submissions":                   {onForm("GET", "/submissions", nil), signedInReaders(200)},
		"GET /forms/{id}/submissions.csv":               {onForm("GET", "/submissions.csv", nil), signedInReaders(200)},
		"GET /forms/{id}/submissions/{sid}":             {onSubmission("GET", "", nil), signedInReaders(200)},
		"POST /forms/{id}/submissions/{sid}/delete":     {onSubmission("POST", "/delete", url.Values{}), pageManagers(303, 404)},
		"GET /forms/{id}/submissions/{sid}/files/{fid}": {onSubmissionFile(), signedInReaders(200)},

		// Public pages: anyone, signed in or not, whatever their organization.
		"GET /f/{slug}":           {onPublicForm("GET", "", nil), every(200)},
		"POST /f/{slug}":          {onPublicForm("POST", "", url.Values{"feedback": {"Lovely"}}), every(200)},
		"POST /f/{slug}/validate": {onPublicForm("POST", "/validate?field=feedback", url.Values{"feedback": {"x"}}), every(200)},

		// API.
		"GET /api/v1/forms":                           {get("/api/v1/forms"), withAnon(every(200), 401)},
		"POST /api/v1/forms":                          {newFormRequest, creators()},
		"GET /api/v1/forms/{id}":                      {onFormAPI("GET", "", ""), readers(200)},
		"PUT /api/v1/forms/{id}":                      {onFormAPI("PUT", "", `{"name":"Renamed"}`), editors(200)},
		"DELETE /api/v1/forms/{id}":                   {onFormAPI("DELETE", "", ""), editors(204)},
		"GET /api/v1/forms/{id}/submissions":          {onFormAPI("GET", "/submissions", ""), readers(200)},
		"GET /api/v1/forms/{id}/submissions/{sid}":    {onSubmissionAPI("GET"), readers(200)},
		"DELETE /api/v1/forms/{id}/submissions/{sid}": {onSubmissionAPI("DELETE"), editors(204)},
		"POST /api/v1/workflows/{id}/uploads":         {onUpload("/api/v1/workflows/%s/uploads"), editors(202)},
		"GET /workflows/{id}/upload":                  {onUploadPage(), pageManagers(200, 404)},
		"POST /workflows/{id}/upload":                 {onUpload("/workflows/%s/upload"), pageManagers(202, 404)},
	})
}

// signedInCreators: anonymous visitors go to sign-in, viewers may not create, members up may (the outsider in its own
// organization).
func signedInCreators(status int) map[string]int {
	m := signedIn(status)
	m["viewer"] = http.StatusForbidden
	return m
}

// signedInReaders: everyone in organization A; the outsider learns nothing.
func signedInReaders(status int) map[string]int {
	return withOutsider(signedIn(status), http.StatusNotFound)
}

// routeFormFields is the schema of the owner's form in the matrix: one required text field.
var routeFormFields = []store.FormField{{Name: "feedback", Label: "Your feedback", Type: store.FieldText, Required: true}}

// editorValues is a builder post that saves the owner's form as it is.
var editorValues = url.Values{"name": {"Owner's form"}, "order": {"0"}, "fields.0.name": {"feedback"},
	"fields.0.label": {"Your feedback"}, "fields.0.type": {"text"}, "fields.0.required": {"on"}, "op": {"save"}}

// ownersForm creates a published form in organization A as its owner.
func (h *harness) ownersForm(w *world, fields []store.FormField) store.Form {
	h.t.Helper()
	slug := "owners-form-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	f, err := h.st.FormCreate(context.Background(), store.Actor{UserID: httpx.Ptr(w.users["owner"].ID)}, w.orgA.ID,
		store.FormInput{Name: "Owner's form", Slug: slug, Fields: fields, Published: true,
			Settings: store.FormSettings{SuccessMessage: "Thanks!"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func onForm(method, suffix string, values url.Values) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		f := h.ownersForm(w, routeFormFields)
		req := request{Method: method, Path: "/forms/" + f.ID.String() + suffix, Form: values}
		if values != nil && values.Has("order") {
			v := maps.Clone(values)
			v.Set("slug", f.Slug)
			req.Form = v
		}
		return req
	}
}

func onFormAPI(method, suffix, body string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		f := h.ownersForm(w, routeFormFields)
		return request{Method: method, Path: "/api/v1/forms/" + f.ID.String() + suffix, JSON: body}
	}
}

func newFormRequest(*harness, *world) request {
	return request{Method: "POST", Path: "/api/v1/forms", JSON: `{"name":"Contact","fields":[{"name":"email","label":"E-mail","type":"email","required":true}]}`}
}

func onPublicForm(method, suffix string, values url.Values) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		f := h.ownersForm(w, routeFormFields)
		return request{Method: method, Path: "/f/" + f.Slug + suffix, Form: values}
	}
}

// ownersSubmission stores a submission of a new form of the owner's, with the given files.
func (h *harness) ownersSubmission(w *world, fields []store.FormField, data string, files ...store.ReceivedFile) (store.Form, store.FormSubmission) {
	h.t.Helper()
	f := h.ownersForm(w, fields)
	sub, _, err := h.st.FormSubmit(context.Background(), store.NewFormSubmission{FormID: f.ID, Data: json.RawMessage(data), Files: files})
	if err != nil {
		h.t.Fatal(err)
	}
	return f, sub
}

func onSubmission(method, suffix string, values url.Values) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		f, sub := h.ownersSubmission(w, routeFormFields, `{"feedback":"Lovely"}`)
		return request{Method: method, Path: "/forms/" + f.ID.String() + "/submissions/" + sub.ID.String() + suffix, Form: values}
	}
}

func onSubmissionAPI(method string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		f, sub := h.ownersSubmission(w, routeFormFields, `{"feedback":"Lovely"}`)
		return request{Method: method, Path: "/api/v1/forms/" + f.ID.String() + "/submissions/" + sub.ID.String()}
	}
}

// onSubmissionFile stores a file in the harness's storage and a submission carrying it.
func onSubmissionFile() func(*harness, *world) request {
	return func(h *harness, w *world) request {
		obj, err := h.srv.deps.Files.PutObject(context.Background(), "notes.txt", "text/plain", strings.NewReader("hello"))
		if err != nil {
			h.t.Fatal(err)
		}
		id := uuid.New()
		fields := []store.FormField{{Name: "notes", Label: "Notes", Type: store.FieldFile}}
		f, sub := h.ownersSubmission(w, fields, `{"notes":{"upload_id":"`+id.String()+`","filename":"notes.txt"}}`,
			store.ReceivedFile{ID: id, Field: "notes", StorageKey: obj.Key, Filename: "notes.txt", ContentType: "text/plain",
				Size: obj.Size, SHA256: obj.SHA256})
		return request{Method: "GET", Path: "/forms/" + f.ID.String() + "/submissions/" + sub.ID.String() + "/files/" + id.String()}
	}
}

// uploadFlow is a workflow that starts from a file upload of small text files.
const uploadFlow = `{"nodes":[
 {"id":"upload","type":"trigger.file_upload","config":{"accept":["text/plain","text/csv"],"max_bytes":4096}},
 {"id":"shape","type":"transform.data","config":{"jq":"{name: .filename}"}}],
 "edges":[{"from":"upload","to":"shape"}]}`

// ownersUploadWorkflow creates and activates an upload-triggered workflow in organization A as its owner.
func (h *harness) ownersUploadWorkflow(w *world, definition string) store.Workflow {
	h.t.Helper()
	ctx := context.Background()
	wf, err := h.st.WorkflowCreate(ctx, store.Actor{}, store.NewWorkflow{OrganizationID: w.orgA.ID,
		Name: "Owner's uploads", Definition: json.RawMessage(definition), AuthorID: httpx.Ptr(w.users["owner"].ID)})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.WorkflowSetActive(ctx, store.Actor{}, w.orgA.ID, wf.ID, true, nil); err != nil {
		h.t.Fatal(err)
	}
	return wf
}

// multipartBody builds a multipart/form-data body with one file part, returning it and its Content-Type.
func multipartBody(field, filename, contentType string, content []byte, values map[string]string) (string, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range values {
		_ = mw.WriteField(k, v)
	}
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+filename+`"`)
	hdr.Set("Content-Type", contentType)
	part, _ := mw.CreatePart(hdr)
	_, _ = part.Write(content)
	_ = mw.Close()
	return b.String(), mw.FormDataContentType()
}

// onUpload posts a small text file to the owner's upload workflow; pathFormat takes the workflow id.
func onUpload(pathFormat string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		wf := h.ownersUploadWorkflow(w, uploadFlow)
		body, ctype := multipartBody("file", "rows.csv", "text/csv", []byte("a,b\n1,2\n"), nil)
		// The harness sends a string body as JSON; the header below, applied after, makes it the multipart it is.
		return request{Method: "POST", Path: strings.Replace(pathFormat, "%s", wf.ID.String(), 1), JSON: body,
			Header: http.Header{"Content-Type": {ctype}}}
	}
}

func onUploadPage() func(*harness, *world) request {
	return func(h *harness, w *world) request {
		wf := h.ownersUploadWorkflow(w, uploadFlow)
		return request{Method: "GET", Path: "/workflows/" + wf.ID.String() + "/upload"}
	}
}
