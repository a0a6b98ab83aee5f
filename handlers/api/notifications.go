package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The notifications API: channels, rules and the caller's in-app notifications, an adapter over app.Notifications
// as the pages (pages/notifications.go) are. The use cases authorize before anything is written; bodies are small
// and bounded by DecodeJSON.

// notificationRoutes registers the notifications API.
func (s *Handlers) notificationRoutes(rt *httpx.Router) {
	s.api(rt, "GET /api/v1/notification-channels", s.apiChannelList)
	s.api(rt, "POST /api/v1/notification-channels", s.apiChannelCreate)
	s.api(rt, "GET /api/v1/notification-channels/{id}", s.apiChannelGet)
	s.api(rt, "PUT /api/v1/notification-channels/{id}", s.apiChannelUpdate)
	s.api(rt, "DELETE /api/v1/notification-channels/{id}", s.apiChannelDelete)
	s.api(rt, "POST /api/v1/notification-channels/{id}/test", s.apiChannelTest)
	s.api(rt, "GET /api/v1/notification-rules", s.apiRuleList)
	s.api(rt, "POST /api/v1/notification-rules", s.apiRuleCreate)
	s.api(rt, "GET /api/v1/notification-rules/{id}", s.apiRuleGet)
	s.api(rt, "PUT /api/v1/notification-rules/{id}", s.apiRuleUpdate)
	s.api(rt, "DELETE /api/v1/notification-rules/{id}", s.apiRuleDelete)
	s.api(rt, "GET /api/v1/notifications", s.apiNotificationList)
	s.api(rt, "POST /api/v1/notifications/read-all", s.apiNotificationRead)
	s.api(rt, "POST /api/v1/notifications/{id}/read", s.apiNotificationRead)
}

// channelList is the answer of GET /api/v1/notification-channels.
type channelList struct {
	Items []store.NotificationChannel `json:"items"`
}

// channelSaved is a saved channel; signing_secret is a new webhook channel's, shown this once.
type channelSaved struct {
	Channel       store.NotificationChannel `json:"channel"`
	SigningSecret string                    `json:"signing_secret,omitempty"`
}

// channelDetail is a channel with its latest deliveries.
type channelDetail struct {
	Channel    store.NotificationChannel `json:"channel"`
	Deliveries []store.OutgoingMessage   `json:"deliveries"`
}

// ruleList is the answer of GET /api/v1/notification-rules.
type ruleList struct {
	Items []store.NotificationRule `json:"items"`
}

// ruleCreate is the body of POST /api/v1/notification-rules: a rule of one workflow (workflow_id) or of the
// organization.
type ruleCreate struct {
	WorkflowID *uuid.UUID `json:"workflow_id,omitempty"`
	app.RuleInput
}

// notificationList is the caller's bell.
type notificationList struct {
	Items  []store.UserNotification `json:"items"`
	Unread int                      `json:"unread"`
}

func (s *Handlers) apiChannelList(w http.ResponseWriter, r *http.Request) {
	items, err := s.deps.App.Notifications.Channels(r.Context(), s.Caller(r))
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, channelList{Items: items})
}

// channelManager refuses a caller who may not manage channels before its body is read.
func (s *Handlers) channelManager(w http.ResponseWriter, r *http.Request) bool {
	if err := httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.Problem(w, r, err)
		return false
	}
	return true
}

func (s *Handlers) apiChannelCreate(w http.ResponseWriter, r *http.Request) {
	if !s.channelManager(w, r) {
		return
	}
	var in app.ChannelInput
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	saved, err := s.deps.App.Notifications.SaveChannel(r.Context(), s.Caller(r), nil, in)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/notification-channels/"+saved.Channel.ID.String())
	httpx.Respond(w, http.StatusCreated, channelSaved{Channel: saved.Channel, SigningSecret: saved.SigningSecret})
}

func (s *Handlers) apiChannelGet(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var d app.ChannelDetail
	if err == nil {
		d, err = s.deps.App.Notifications.Channel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if d.Deliveries == nil {
		d.Deliveries = []store.OutgoingMessage{}
	}
	httpx.Respond(w, http.StatusOK, channelDetail{Channel: d.Channel, Deliveries: d.Deliveries})
}

func (s *Handlers) apiChannelUpdate(w http.ResponseWriter, r *http.Request) {
	if !s.channelManager(w, r) {
		return
	}
	id, err := httpx.PathID(r, "id")
	var in app.ChannelInput
	if err == nil {
		err = httpx.DecodeJSON(w, r, &in)
	}
	var saved app.SavedChannel
	if err == nil {
		saved, err = s.deps.App.Notifications.SaveChannel(r.Context(), s.Caller(r), &id, in)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, channelSaved{Channel: saved.Channel})
}

func (s *Handlers) apiChannelDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Notifications.DeleteChannel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Handlers) apiChannelTest(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var m store.OutgoingMessage
	if err == nil {
		m, err = s.deps.App.Notifications.TestChannel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusAccepted, m)
}

func (s *Handlers) apiRuleList(w http.ResponseWriter, r *http.Request) {
	var workflow *uuid.UUID
	if v := r.URL.Query().Get("workflow_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			s.Problem(w, r, fault.Fields("workflow_id is not valid", fault.FieldError{Field: "workflow_id", Message: "is not a valid id"}))
			return
		}
		workflow = &id
	}
	items, err := s.deps.App.Notifications.Rules(r.Context(), s.Caller(r), workflow)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, ruleList{Items: items})
}

func (s *Handlers) apiRuleCreate(w http.ResponseWriter, r *http.Request) {
	var in ruleCreate
	if err := httpx.DecodeJSON(w, r, &in); err != nil {
		s.Problem(w, r, err)
		return
	}
	rule, err := s.deps.App.Notifications.CreateRule(r.Context(), s.Caller(r), in.WorkflowID, in.RuleInput)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/notification-rules/"+rule.ID.String())
	httpx.Respond(w, http.StatusCreated, rule)
}

func (s *Handlers) apiRuleGet(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var rule store.NotificationRule
	if err == nil {
		rule, err = s.deps.App.Notifications.Rule(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, rule)
}

func (s *Handlers) apiRuleUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	var in app.RuleInput
	if err == nil {
		err = httpx.DecodeJSON(w, r, &in)
	}
	var rule store.NotificationRule
	if err == nil {
		rule, err = s.deps.App.Notifications.UpdateRule(r.Context(), s.Caller(r), id, in)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	httpx.Respond(w, http.StatusOK, rule)
}

func (s *Handlers) apiRuleDelete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Notifications.DeleteRule(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Handlers) apiNotificationList(w http.ResponseWriter, r *http.Request) {
	inbox, err := s.deps.App.Notifications.Inbox(r.Context(), s.Caller(r), 100)
	if err != nil {
		s.Problem(w, r, err)
		return
	}
	if inbox.Items == nil {
		inbox.Items = []store.UserNotification{}
	}
	httpx.Respond(w, http.StatusOK, notificationList{Items: inbox.Items, Unread: inbox.Unread})
}

// apiNotificationRead is POST /api/v1/notifications/{id}/read and POST /api/v1/notifications/read-all.
func (s *Handlers) apiNotificationRead(w http.ResponseWriter, r *http.Request) {
	var id *uuid.UUID
	if r.PathValue("id") != "" {
		parsed, err := httpx.PathID(r, "id")
		if err != nil {
			s.Problem(w, r, err)
			return
		}
		id = &parsed
	}
	if err := s.deps.App.Notifications.MarkRead(r.Context(), s.Caller(r), id); err != nil {
		s.Problem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
