package pages

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
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

// notificationRoutes registers the bell, the notifications page, channels and rules.
func (s *Handlers) notificationRoutes(rt *httpx.Router) {
	rt.Page("GET /notifications", s.notificationsPage)
	rt.Page("GET /notifications/events", s.bellEvents)
	rt.Page("POST /notifications/read-all", s.markNotificationsRead)
	rt.Page("POST /notifications/{id}/read", s.markNotificationsRead)
	rt.Page("GET /settings/notifications", s.orgRulesPage)
	rt.Page("POST /settings/notifications/rules", s.createRulePage)
	rt.Page("GET /workflows/{id}/notifications", s.workflowRulesPage)
	rt.Page("POST /workflows/{id}/notifications/rules", s.createRulePage)
	rt.Page("POST /notifications/rules/{id}/delete", s.deleteRulePage)
	rt.Page("GET /settings/notifications/channels", s.channelsPage)
	rt.Page("POST /settings/notifications/channels", s.createChannelPage)
	rt.Page("GET /settings/notifications/channels/{id}", s.channelPage)
	rt.Page("POST /settings/notifications/channels/{id}/test", s.testChannelPage)
	rt.Page("POST /settings/notifications/channels/{id}/delete", s.deleteChannelPage)
}

// notificationsPage is GET /notifications: the caller's in-app notifications.
func (s *Handlers) notificationsPage(w http.ResponseWriter, r *http.Request) {
	inbox, err := s.deps.App.Notifications.Inbox(r.Context(), s.Caller(r), 100)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.NotificationsPage{Unread: inbox.Unread}
	for _, n := range inbox.Items {
		page.Items = append(page.Items, views.NotificationItem{ID: n.ID.String(), Title: app.AlertTitle(n.Alert),
			Detail: n.Alert.Detail, Link: app.AlertLink("", n.Alert), At: views.Stamp(n.At), Unread: n.ReadAt == nil})
	}
	s.Render(w, r, http.StatusOK, "Notifications", views.Notifications(page))
}

// markNotificationsRead is POST /notifications/{id}/read and POST /notifications/read-all.
func (s *Handlers) markNotificationsRead(w http.ResponseWriter, r *http.Request) {
	var id *uuid.UUID
	if r.PathValue("id") != "" {
		parsed, err := httpx.PathID(r, "id")
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		id = &parsed
	}
	if err := s.deps.App.Notifications.MarkRead(r.Context(), s.Caller(r), id); err != nil {
		s.PageError(w, r, err)
		return
	}
	s.notificationsPage(w, r)
}

// bellResync is how often an idle bell stream re-reads the count: a NOTIFY missed while the relay reconnected is
// shown within this long, and the comment keeps proxies from closing the stream.
const bellResync = 15 * time.Second

// bellEvents is GET /notifications/events: the bell's count as server-sent "bell" events, at once and after each
// change announced for the caller (NOTIFY on store.BellChannel), on whichever instance the browser reached. With
// ?once=1 it sends the current count and ends (scripts, tests).
func (s *Handlers) bellEvents(w http.ResponseWriter, r *http.Request) {
	ctx, c := r.Context(), s.Caller(r)
	user := c.Principal.UserID
	changes, unsubscribe := s.deps.Events.Subscribe(func(e store.ExecutionEvent) bool {
		if !e.Bell {
			return false
		}
		for _, u := range e.BellUsers {
			if u == user {
				return true
			}
		}
		return len(e.BellUsers) == 0
	}, 4)
	defer unsubscribe()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ticker := time.NewTicker(bellResync)
	defer ticker.Stop()
	last := -1
	for {
		unread, err := s.deps.App.Notifications.Unread(ctx, c)
		if err != nil {
			if ctx.Err() == nil {
				logging.From(ctx, s.deps.Logger).Warn("bell stream ended", "error", err)
			}
			return
		}
		if err := writeBell(w, r, unread, unread != last); err != nil || rc.Flush() != nil {
			return
		}
		last = unread
		if r.URL.Query().Get("once") != "" {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-ticker.C:
		}
	}
}

// writeBell sends the count as a "bell" event when it changed, else a comment.
func writeBell(w io.Writer, r *http.Request, unread int, changed bool) error {
	if !changed {
		_, err := io.WriteString(w, ": heartbeat\n\n")
		return err
	}
	var buf bytes.Buffer
	if err := views.BellCount(unread).Render(r.Context(), &buf); err != nil {
		return err
	}
	_, err := io.WriteString(w, "event: bell\ndata: "+strings.ReplaceAll(buf.String(), "\n", "")+"\n\n")
	return err
}

// channelRow is a channel as the pages list it.
func channelRow(ch store.NotificationChannel) views.ChannelRow {
	var cfg struct {
		To    []string `json:"to"`
		Host  string   `json:"host"`
		Roles []string `json:"roles"`
	}
	_ = json.Unmarshal(ch.Config, &cfg)
	dest := cfg.Host
	switch ch.Kind {
	case app.ChannelEmail:
		dest = strings.Join(cfg.To, ", ")
	case app.ChannelInApp:
		dest = "the bell of every member"
		if len(cfg.Roles) > 0 {
			dest = "the bell of " + strings.Join(cfg.Roles, ", ") + "s"
		}
	}
	return views.ChannelRow{ID: ch.ID.String(), Name: ch.Name, Kind: ch.Kind, Destination: dest, Created: views.Stamp(ch.CreatedAt)}
}

func (s *Handlers) canManageNotifications(r *http.Request) bool {
	return httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)) == nil
}

// channelsPage is GET /settings/notifications/channels.
func (s *Handlers) channelsPage(w http.ResponseWriter, r *http.Request) {
	s.renderChannels(w, r, http.StatusOK, views.ChannelsPage{})
}

func (s *Handlers) renderChannels(w http.ResponseWriter, r *http.Request, status int, page views.ChannelsPage) {
	channels, err := s.deps.App.Notifications.Channels(r.Context(), s.Caller(r))
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page.CanManage = s.canManageNotifications(r)
	for _, ch := range channels {
		page.Items = append(page.Items, channelRow(ch))
	}
	s.Render(w, r, status, "Notification channels", views.Channels(page))
}

// createChannelPage is POST /settings/notifications/channels. The URL is never typed back into a failed form: it
// may be a credential.
func (s *Handlers) createChannelPage(w http.ResponseWriter, r *http.Request) {
	if err := httpx.Authorize(r, authz.IntegrationsManage, authz.Org(httpx.PrincipalFrom(r.Context()).OrgID)); err != nil {
		s.PageError(w, r, err) // before reading the form
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	values := map[string]string{"name": r.PostFormValue("name"), "kind": r.PostFormValue("kind"), "to": r.PostFormValue("to")}
	in := app.ChannelInput{Name: values["name"], Kind: values["kind"], URL: r.PostFormValue("url"), Roles: r.PostForm["roles"]}
	for _, to := range strings.Split(values["to"], ",") {
		if strings.TrimSpace(to) != "" && in.Kind == app.ChannelEmail {
			in.To = append(in.To, strings.TrimSpace(to))
		}
	}
	saved, err := s.deps.App.Notifications.SaveChannel(r.Context(), s.Caller(r), nil, in)
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid && fault.CodeOf(err) != fault.Conflict {
			s.PageError(w, r, err)
			return
		}
		s.renderChannels(w, r, http.StatusUnprocessableEntity, views.ChannelsPage{Form: httpx.FormState(values, toField(err))})
		return
	}
	s.renderChannels(w, r, http.StatusOK, views.ChannelsPage{Secret: saved.SigningSecret,
		Form: views.Form{Notice: "Channel added. Send it a test from its page."}})
}

// toField folds the per-address errors ("to[2]") onto the form's one recipients field.
func toField(err error) error {
	e := fault.As(err)
	if e.Code != fault.Invalid {
		return err
	}
	fields := make([]fault.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = f
		if strings.HasPrefix(f.Field, "to[") {
			fields[i].Field = "to"
		}
	}
	return fault.Fields(e.Message, fields...)
}

// channelPage is GET /settings/notifications/channels/{id}.
func (s *Handlers) channelPage(w http.ResponseWriter, r *http.Request) {
	s.renderChannel(w, r, "")
}

func (s *Handlers) renderChannel(w http.ResponseWriter, r *http.Request, notice string) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	d, err := s.deps.App.Notifications.Channel(r.Context(), s.Caller(r), id)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.ChannelPage{Channel: channelRow(d.Channel), CanManage: s.canManageNotifications(r), Notice: notice}
	for _, m := range d.Deliveries {
		what := "alert"
		if m.Kind == "channel_test" {
			what = "test"
		}
		page.Deliveries = append(page.Deliveries, views.MessageRow{Kind: what, Status: m.Status, Attempts: m.Attempts,
			LastError: m.LastError, At: views.Stamp(m.CreatedAt)})
	}
	s.Render(w, r, http.StatusOK, d.Channel.Name, views.Channel(page))
}

// testChannelPage is POST /settings/notifications/channels/{id}/test.
func (s *Handlers) testChannelPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		_, err = s.deps.App.Notifications.TestChannel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderChannel(w, r, "Test message queued: its delivery shows below.")
}

// deleteChannelPage is POST /settings/notifications/channels/{id}/delete.
func (s *Handlers) deleteChannelPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err == nil {
		err = s.deps.App.Notifications.DeleteChannel(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderChannels(w, r, http.StatusOK, views.ChannelsPage{Form: views.Form{Notice: "Channel deleted."}})
}

// orgRulesPage is GET /settings/notifications: the organization's rules.
func (s *Handlers) orgRulesPage(w http.ResponseWriter, r *http.Request) {
	s.renderRules(w, r, nil, http.StatusOK, views.Form{})
}

// workflowRulesPage is GET /workflows/{id}/notifications: one workflow's rules.
func (s *Handlers) workflowRulesPage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderRules(w, r, &id, http.StatusOK, views.Form{})
}

func (s *Handlers) renderRules(w http.ResponseWriter, r *http.Request, workflow *uuid.UUID, status int, form views.Form) {
	c := s.Caller(r)
	rules, err := s.deps.App.Notifications.Rules(r.Context(), c, workflow)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	channels, err := s.deps.App.Notifications.Channels(r.Context(), c)
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	page := views.RulesPage{Title: "Notification rules", Action: "/settings/notifications/rules", Scope: "organization",
		CanManage: s.canManageNotifications(r), Form: form}
	if workflow != nil {
		wf, err := s.deps.App.Workflows.Get(r.Context(), c, *workflow)
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		page.Title, page.Scope = "Notifications of “"+wf.Workflow.Name+"”", "workflow"
		page.Action = "/workflows/" + workflow.String() + "/notifications/rules"
		_, canEdit := s.deps.App.Workflows.Authorized(r.Context(), c, *workflow, authz.WorkflowEdit)
		page.CanManage = canEdit == nil
	}
	names := map[uuid.UUID]string{}
	for _, ch := range channels {
		names[ch.ID] = ch.Name
		page.Channels = append(page.Channels, channelRow(ch))
	}
	for _, rule := range rules {
		page.Items = append(page.Items, ruleRow(rule, names))
	}
	s.Render(w, r, status, page.Title, views.Rules(page))
}

func ruleRow(rule store.NotificationRule, names map[uuid.UUID]string) views.RuleRow {
	var chans []string
	for _, id := range rule.ChannelIDs {
		chans = append(chans, names[id])
	}
	summary := "group " + strconv.Itoa(rule.GroupWindowSeconds) + " s"
	if rule.ThresholdSeconds > 0 {
		summary += " · " + strconv.Itoa(rule.ThresholdSeconds) + " s"
	}
	if rule.ThresholdCount > 0 {
		summary += " · count " + strconv.Itoa(rule.ThresholdCount)
	}
	if rule.ThresholdPercent > 0 {
		summary += " · " + strconv.Itoa(rule.ThresholdPercent) + "%"
	}
	if rule.CooldownSeconds > 0 {
		summary += " · cooldown " + strconv.Itoa(rule.CooldownSeconds) + " s"
	}
	if rule.Digest {
		summary += " · daily digest"
	}
	return views.RuleRow{ID: rule.ID.String(), Event: rule.Event, Summary: summary, Channels: strings.Join(chans, ", "),
		Enabled: rule.Enabled}
}

// createRulePage is POST /settings/notifications/rules and POST /workflows/{id}/notifications/rules.
func (s *Handlers) createRulePage(w http.ResponseWriter, r *http.Request) {
	var workflow *uuid.UUID
	if r.PathValue("id") != "" {
		id, err := httpx.PathID(r, "id")
		if err != nil {
			s.PageError(w, r, err)
			return
		}
		workflow = &id
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.PageError(w, r, err)
		return
	}
	in, values, perr := ruleForm(r)
	var err error = perr
	if err == nil {
		_, err = s.deps.App.Notifications.CreateRule(r.Context(), s.Caller(r), workflow, in)
	}
	if err != nil {
		if fault.CodeOf(err) != fault.Invalid {
			s.PageError(w, r, err)
			return
		}
		s.renderRules(w, r, workflow, http.StatusUnprocessableEntity, httpx.FormState(values, err))
		return
	}
	s.renderRules(w, r, workflow, http.StatusOK, views.Form{Notice: "Rule added."})
}

// ruleForm reads the rule form; a number that is not one names its field.
func ruleForm(r *http.Request) (app.RuleInput, map[string]string, error) {
	values := map[string]string{}
	for _, k := range []string{"event", "threshold_seconds", "threshold_count", "threshold_percent",
		"group_window_seconds", "cooldown_seconds", "digest", "no_recovery", "disabled"} {
		values[k] = r.PostFormValue(k)
	}
	in := app.RuleInput{Event: values["event"], Digest: values["digest"] == "true"}
	var bad []fault.FieldError
	num := func(field string) int {
		v := strings.TrimSpace(values[field])
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = append(bad, fault.FieldError{Field: field, Message: "must be a whole number"})
		}
		return n
	}
	in.ThresholdSeconds, in.ThresholdCount, in.ThresholdPercent = num("threshold_seconds"), num("threshold_count"), num("threshold_percent")
	in.CooldownSeconds = num("cooldown_seconds")
	if values["group_window_seconds"] != "" {
		g := num("group_window_seconds")
		in.GroupWindowSeconds = &g
	}
	recovery, enabled := values["no_recovery"] != "true", values["disabled"] != "true"
	in.NotifyRecovery, in.Enabled = &recovery, &enabled
	for _, v := range r.PostForm["channel_ids"] {
		id, err := uuid.Parse(v)
		if err != nil {
			bad = append(bad, fault.FieldError{Field: "channel_ids", Message: "is not a channel"})
			continue
		}
		in.ChannelIDs = append(in.ChannelIDs, id)
	}
	if len(bad) > 0 {
		return in, values, fault.Fields("some fields need attention", bad...)
	}
	return in, values, nil
}

// deleteRulePage is POST /notifications/rules/{id}/delete; it answers with the page the rule was on.
func (s *Handlers) deleteRulePage(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, "id")
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	rule, err := s.deps.App.Notifications.Rule(r.Context(), s.Caller(r), id)
	if err == nil {
		err = s.deps.App.Notifications.DeleteRule(r.Context(), s.Caller(r), id)
	}
	if err != nil {
		s.PageError(w, r, err)
		return
	}
	s.renderRules(w, r, rule.WorkflowID, http.StatusOK, views.Form{Notice: "Rule deleted."})
}
