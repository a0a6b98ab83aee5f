package httpx

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/logging"
	"github.com/concertmaster/concertmaster/views"
)

// IsFragmentRequest reports whether the request came from htmx and wants only the page's content (main#content),
// not the whole document. Boosted requests (full navigations through htmx) get the whole page.
func IsFragmentRequest(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true"
}

// Render is the one way a page answers: the content alone for an htmx request, inside the layout otherwise. title
// names the page; the layout's navigation is loaded only when it is drawn. The views name /static/ files through
// the context's asset URLs.
func (k *Kit) Render(w http.ResponseWriter, r *http.Request, status int, title string, content templ.Component) {
	var c templ.Component = content
	if !IsFragmentRequest(r) {
		c = views.Layout(k.frame(r, title), content)
	}
	w.Header().Add("Vary", "HX-Request")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(views.WithAssetURL(r.Context(), k.assets.url), w); err != nil {
		logging.From(r.Context(), k.cfg.Logger).Error("render page", "error", err)
	}
}

// frame builds the layout's view model: the signed-in user, their organizations and the active section.
func (k *Kit) frame(r *http.Request, title string) views.Frame {
	f := views.Frame{Title: title, Section: sectionOf(r.URL.Path), Development: k.cfg.Development, Path: r.URL.Path}
	id := IdentityFrom(r.Context())
	if id == nil {
		return f
	}
	u := &views.FrameUser{Name: id.User.Name, Email: id.User.Email, OrgID: id.Org.ID.String(), OrgName: id.Org.Name,
		Role: string(id.Principal.Role), InstanceAdmin: id.Principal.InstanceAdmin,
		CanViewAudit: authz.Authorize(id.Principal, authz.AuditView, authz.Org(id.Org.ID)) == nil}
	orgs, err := k.cfg.Store.UserOrganizations(r.Context(), id.Principal.UserID)
	if err != nil {
		logging.From(r.Context(), k.cfg.Logger).Error("load organizations for the switcher", "error", err)
	}
	for _, o := range orgs {
		u.Orgs = append(u.Orgs, views.OrgChoice{ID: o.ID.String(), Name: o.Name, Role: string(o.Role),
			Active: o.ID == id.Org.ID})
	}
	if u.UnreadNotifications, err = k.cfg.Store.UserNotificationUnread(r.Context(), id.Org.ID, id.Principal.UserID); err != nil {
		logging.From(r.Context(), k.cfg.Logger).Error("count unread notifications for the bell", "error", err)
	}
	f.User = u
	return f
}

func sectionOf(path string) string {
	switch {
	case path == "/":
		return "dashboard"
	case strings.HasPrefix(path, "/settings/"), path == "/profile":
		return "settings"
	}
	if first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/"); first != "" {
		return first
	}
	return ""
}

// Redirect sends the browser to target after a successful form post: a 303 for a plain form, an HX-Redirect for
// htmx (which then loads target as a full page).
func (k *Kit) Redirect(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// StatusOf maps a fault code to its HTTP status: the one table of it.
func StatusOf(code fault.Code) int {
	switch code {
	case fault.Invalid:
		return http.StatusUnprocessableEntity
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.RateLimited:
		return http.StatusTooManyRequests
	case fault.TooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	case fault.InsufficientStorage:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// Classify turns any error into a fault, logging the internal ones (with their cause, which is never shown) and
// setting Retry-After on rate limits.
func (k *Kit) Classify(w http.ResponseWriter, r *http.Request, err error) *fault.Error {
	e := fault.As(err)
	if e.Code == fault.Internal {
		logging.From(r.Context(), k.cfg.Logger).Error("request failed", "error", err)
		e = &fault.Error{Code: fault.Internal, Message: "Something went wrong on our side; it has been logged."}
	}
	if wait, ok := fault.RetryAfter(err); ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())))
	}
	return e
}

// ProblemBody is an RFC 9457 problem document; errors names the bad fields.
type ProblemBody struct {
	Type      string             `json:"type"`
	Title     string             `json:"title"`
	Status    int                `json:"status"`
	Detail    string             `json:"detail,omitempty"`
	Code      fault.Code         `json:"code"`
	Errors    []fault.FieldError `json:"errors,omitempty"`
	RequestID string             `json:"request_id,omitempty"`
}

// Problem answers an API request with err as application/problem+json.
func (k *Kit) Problem(w http.ResponseWriter, r *http.Request, err error) {
	e := k.Classify(w, r, err)
	status := StatusOf(e.Code)
	WriteJSON(w, status, "application/problem+json", ProblemBody{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: e.Message, Code: e.Code,
		Errors: e.Fields, RequestID: RequestID(r.Context()),
	})
}

// PageError answers a page request with err: sign-in for Unauthorized, an error page otherwise.
func (k *Kit) PageError(w http.ResponseWriter, r *http.Request, err error) {
	e := k.Classify(w, r, err)
	if e.Code == fault.Unauthorized {
		k.RedirectToLogin(w, r)
		return
	}
	status := StatusOf(e.Code)
	title := http.StatusText(status)
	msg := e.Message
	if e.Code == fault.NotFound {
		title, msg = "Not found", "There is nothing here, or it is not yours to see."
	}
	k.Render(w, r, status, title, views.Error(views.ErrorPage{Status: status, Title: title, Message: msg}))
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Respond writes a successful API answer.
func Respond(w http.ResponseWriter, status int, v any) {
	WriteJSON(w, status, "application/json", v)
}

// OrJSONNull is raw, or JSON null when empty: a stored output that was never written.
func OrJSONNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}
