package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/sql/store"
)

const tagNotifications = "Notifications"

// notificationRouteDescriptions describes the notification channels, rules and in-app notifications routes
// (notifications.go).
func notificationRouteDescriptions() map[string]apiRoute {
	const st403, st404, st409, st422 = http.StatusForbidden, http.StatusNotFound, http.StatusConflict,
		http.StatusUnprocessableEntity
	with := func(success apiResponse, errs ...int) []apiResponse {
		return append([]apiResponse{success}, problems(errs...)...)
	}
	return map[string]apiRoute{
		"GET /api/v1/notification-channels": {Tag: tagNotifications, Summary: "List notification channels",
			Description: "Where alerts go. Destination URLs and signing secrets are sealed and never shown; config shows the recipients, the host or the roles.",
			Responses:   with(ok(channelList{}, "Channels."), st403)},
		"POST /api/v1/notification-channels": {Tag: tagNotifications, Summary: "Add a notification channel (admins and owners)",
			Description: "kind email takes to (and optionally an SMTP integration_id); webhook, slack and teams take url; in_app optionally roles. A webhook channel's signing_secret is answered this once.",
			Body:        app.ChannelInput{}, Responses: with(created(channelSaved{}, "The channel."), st403, st409, st422)},
		"GET /api/v1/notification-channels/{id}": {Tag: tagNotifications, Summary: "A channel with its latest deliveries",
			Responses: with(ok(channelDetail{}, "The channel and its 50 latest outgoing messages with their status."), st403, st404)},
		"PUT /api/v1/notification-channels/{id}": {Tag: tagNotifications, Summary: "Update a channel (admins and owners)",
			Description: "The kind never changes; an empty url keeps the stored one.",
			Body:        app.ChannelInput{}, Responses: with(ok(channelSaved{}, "The channel."), st403, st404, st409, st422)},
		"DELETE /api/v1/notification-channels/{id}": {Tag: tagNotifications, Summary: "Delete a channel (admins and owners)",
			Responses: []apiResponse{noContent("Deleted."), problems(st403)[0], problems(st404)[0]}},
		"POST /api/v1/notification-channels/{id}/test": {Tag: tagNotifications, Summary: "Send a test message",
			Description: "Queued like any message; its delivery status shows in the channel's deliveries.",
			Responses:   with(accepted(store.OutgoingMessage{}, "The queued message."), st403, st404, st422)},
		"GET /api/v1/notification-rules": {Tag: tagNotifications, Summary: "List notification rules",
			Params:    []apiParam{query("workflow_id", uuid.UUID{}, "A workflow's rules; without it, the organization's own.")},
			Responses: with(ok(ruleList{}, "Rules."), st403, st404, st422)},
		"POST /api/v1/notification-rules": {Tag: tagNotifications, Summary: "Add a notification rule",
			Description: "With workflow_id, a rule of that workflow (its editors); without, of the organization (admins and owners). A workflow's rule for an event replaces the organization's for that event on that workflow.",
			Body:        ruleCreate{}, Responses: with(created(store.NotificationRule{}, "The rule."), st403, st404, st422)},
		"GET /api/v1/notification-rules/{id}": {Tag: tagNotifications, Summary: "A notification rule",
			Responses: with(ok(store.NotificationRule{}, "The rule."), st403, st404)},
		"PUT /api/v1/notification-rules/{id}": {Tag: tagNotifications, Summary: "Replace a rule's settings",
			Body: app.RuleInput{}, Responses: with(ok(store.NotificationRule{}, "The rule."), st403, st404, st422)},
		"DELETE /api/v1/notification-rules/{id}": {Tag: tagNotifications, Summary: "Delete a rule",
			Responses: []apiResponse{noContent("Deleted."), problems(st403)[0], problems(st404)[0]}},
		"GET /api/v1/notifications": {Tag: tagNotifications, Summary: "The caller's in-app notifications",
			Responses: with(ok(notificationList{}, "The latest 100, newest first, and the unread count."), st403)},
		"POST /api/v1/notifications/{id}/read": {Tag: tagNotifications, Summary: "Mark one notification read",
			Responses: []apiResponse{noContent("Marked."), problems(st403)[0], problems(st404)[0]}},
		"POST /api/v1/notifications/read-all": {Tag: tagNotifications, Summary: "Mark every notification read",
			Responses: []apiResponse{noContent("Marked."), problems(st403)[0]}},
	}
}
