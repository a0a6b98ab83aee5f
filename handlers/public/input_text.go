package public

import (
	"net/url"
	"strings"

	"github.com/concertmaster/concertmaster/platform/validate"
)

// isJSONMediaType reports whether a body of this media type is read as JSON.
func isJSONMediaType(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// checkHookBody checks a webhook body the way hookTriggerData reads it: JSON as a trigger document, a form's
// decoded fields as text, anything else as text.
func checkHookBody(mediaType string, body []byte) error {
	switch {
	case len(body) == 0:
		return nil
	case isJSONMediaType(mediaType):
		return validate.JSONText("body", body, validate.MaxTriggerDepth)
	case mediaType == "application/x-www-form-urlencoded":
		values, _ := url.ParseQuery(string(body)) // a malformed form is hookTriggerData's to refuse
		return validate.Values("body", values)
	}
	return validate.Text("body", string(body))
}
