package api

import (
	"net/http"

	"github.com/google/uuid"
)

// The descriptions of the forms, submissions and uploads routes (forms_api.go, uploads.go), kept apart from those
// files so that describing them needed no edit there. As in openapi_routes.go, the types below spell out the map
// literals those handlers answer; the contract test validates the real answers against them.

// formPage is the answer of GET /api/v1/forms; NextCursor is "" on the last page.
type formPage struct {
	Items      []formJSON `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// submissionPage is the answer of GET /api/v1/forms/{id}/submissions; NextCursor is "" on the last page.
type submissionPage struct {
	Items      []submissionJSON `json:"items"`
	NextCursor string           `json:"next_cursor"`
}

// uploadAccepted is the answer of POST /api/v1/workflows/{id}/uploads.
type uploadAccepted struct {
	ExecutionID uuid.UUID `json:"execution_id"`
	UploadID    uuid.UUID `json:"upload_id"`
}

// uploadForm is the multipart body of an upload: one part named file.
type uploadForm struct {
	File binaryBody `json:"file"`
}

const tagForms = "Forms"

// formRouteDescriptions describes the forms, submissions and uploads routes.
func formRouteDescriptions() map[string]apiRoute {
	const st403, st404, st409, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
		http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	return map[string]apiRoute{
		"GET /api/v1/forms": {Tag: tagForms, Summary: "List forms",
			Params: []apiParam{searchParam("the name and description (the name weighs more)"),
				query("published", false, "Only published (true) or unpublished (false) forms."), cursorParam, limitParam},
			Responses: with(ok(formPage{}, "A page of forms, newest first."), st403, st422)},
		"POST /api/v1/forms": {Tag: tagForms, Summary: "Create a form",
			Description: "An invalid field list gets 422 naming every bad field by its path (\"fields.2.pattern\").",
			Body:        formInputJSON{}, Responses: with(created(formJSON{}, "The form."), st403, st409, st422)},
		"GET /api/v1/forms/{id}": {Tag: tagForms, Summary: "A form",
			Responses: with(ok(formJSON{}, "The form."), st403, st404)},
		"PUT /api/v1/forms/{id}": {Tag: tagForms, Summary: "Update a form",
			Description: "Changes what the body carries and keeps the rest.",
			Body:        formInputJSON{}, Responses: with(ok(formJSON{}, "The form."), st403, st404, st409, st422)},
		"DELETE /api/v1/forms/{id}": {Tag: tagForms, Summary: "Delete a form, its submissions and their files",
			Responses: with(noContent("Deleted."), st403, st404)},
		"GET /api/v1/forms/{id}/submissions": {Tag: tagForms, Summary: "List a form's submissions",
			Params: []apiParam{query("q", "", "Words the submitted data contains."),
				query("from", "", "From this date (YYYY-MM-DD), inclusive."),
				query("to", "", "Up to this date (YYYY-MM-DD), inclusive."), cursorParam, limitParam},
			Responses: with(ok(submissionPage{}, "A page of submissions, newest first."), st403, st404, st422)},
		"GET /api/v1/forms/{id}/submissions/{sid}": {Tag: tagForms, Summary: "A submission with its files and executions",
			Responses: with(ok(submissionJSON{}, "The submission."), st403, st404)},
		"DELETE /api/v1/forms/{id}/submissions/{sid}": {Tag: tagForms, Summary: "Delete a submission and its files",
			Responses: with(noContent("Deleted."), st403, st404)},
		"POST /api/v1/workflows/{id}/uploads": {Tag: tagWorkflows, Summary: "Upload a file to start a workflow",
			Description: "For a workflow whose trigger is trigger.file_upload: multipart/form-data with a part named file. 202 once the file and the execution are committed.",
			Body:        uploadForm{}, BodyContentType: "multipart/form-data",
			Responses: with(accepted(uploadAccepted{}, "Stored and queued."), st403, st404, st409)},
	}
}
