package handlers

import (
	"bufio"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/concertmaster/concertmaster/platform/service"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The role matrix of the notification pages, merged into routeCases: channels and the organization's rules are
// for admins and owners; a workflow's rules for its editors; every member has a bell of their own.
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"GET /notifications":                   {get("/notifications"), signedIn(200)},
		"GET /notifications/events":            {get("/notifications/events?once=1"), signedIn(200)},
		"POST /notifications/read-all":         {form("POST", "/notifications/read-all", url.Values{}), signedIn(200)},
		"POST /notifications/{id}/read":        {form("POST", "/notifications/"+uuid.NewString()+"/read", url.Values{}), signedIn(404)},
		"GET /settings/notifications":          {get("/settings/notifications"), signedIn(200)},
		"GET /settings/notifications/channels": {get("/settings/notifications/channels"), signedIn(200)},
		"POST /settings/notifications/channels": {form("POST", "/settings/notifications/channels",
			url.Values{"name": {"Ops"}, "kind": {"email"}, "to": {"ops@example.com"}}), pageManagers(200, 200)},
		"GET /settings/notifications/channels/{id}":         {onChannelPage("GET", ""), pageReaders(200)},
		"POST /settings/notifications/channels/{id}/test":   {onChannelPage("POST", "/test"), pageManagers(200, 404)},
		"POST /settings/notifications/channels/{id}/delete": {onChannelPage("POST", "/delete"), pageManagers(200, 404)},
		"POST /settings/notifications/rules": {func(h *harness, w *world) request {
			ch := h.ownersChannel(w)
			return request{Method: "POST", Path: "/settings/notifications/rules",
				Form: url.Values{"event": {"failed"}, "channel_ids": {ch.String()}}}
		}, withOutsider(pageManagers(200, 200), 422)},
		"GET /workflows/{id}/notifications": {onWorkflowPage("GET", "/notifications"), pageReaders(200)},
		"POST /workflows/{id}/notifications/rules": {func(h *harness, w *world) request {
			ch := h.ownersChannel(w)
			req := onWorkflowPage("POST", "/notifications/rules")(h, w)
			req.Form = url.Values{"event": {"failed"}, "channel_ids": {ch.String()}}
			return req
		}, pageEditors(200)},
		"POST /notifications/rules/{id}/delete": {func(h *harness, w *world) request {
			ch := h.ownersChannel(w)
			rule, err := h.srv.deps.App.Notifications.CreateRule(context.Background(), h.ownerCaller(w), nil,
				app.RuleInput{Event: "failed", ChannelIDs: []uuid.UUID{ch}})
			if err != nil {
				h.t.Fatal(err)
			}
			return request{Method: "POST", Path: "/notifications/rules/" + rule.ID.String() + "/delete", Form: url.Values{}}
		}, pageManagers(200, 404)},

		// The API: the same matrix, over Bearer tokens.
		"GET /api/v1/notification-channels": {get("/api/v1/notification-channels"), withAnon(every(200), 401)},
		"POST /api/v1/notification-channels": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/notification-channels", JSON: `{"name":"Ops","kind":"webhook","url":"https://hooks.example.com/x"}`}
		}, integrationManagers(201, 201)},
		"GET /api/v1/notification-channels/{id}":       {onChannel("GET", "", ""), readersOf(200)},
		"PUT /api/v1/notification-channels/{id}":       {onChannel("PUT", "", `{"name":"Renamed","to":["a@example.com"]}`), integrationManagers(200, 404)},
		"DELETE /api/v1/notification-channels/{id}":    {onChannel("DELETE", "", ""), integrationManagers(204, 404)},
		"POST /api/v1/notification-channels/{id}/test": {onChannel("POST", "/test", ""), integrationManagers(202, 404)},
		"GET /api/v1/notification-rules":               {get("/api/v1/notification-rules"), withAnon(every(200), 401)},
		"POST /api/v1/notification-rules": {func(h *harness, w *world) request {
			return request{Method: "POST", Path: "/api/v1/notification-rules",
				JSON: `{"event":"failed","channel_ids":["` + h.ownersChannel(w).String() + `"]}`}
		}, withOutsider(integrationManagers(201, 201), 422)},
		"GET /api/v1/notification-rules/{id}": {onRule("GET", ""), readersOf(200)},
		"PUT /api/v1/notification-rules/{id}": {func(h *harness, w *world) request {
			req := onRule("PUT", "")(h, w)
			req.JSON = `{"event":"failed","cooldown_seconds":300,"channel_ids":["` + h.ownersChannel(w).String() + `"]}`
			return req
		}, integrationManagers(200, 404)},
		"DELETE /api/v1/notification-rules/{id}": {onRule("DELETE", ""), integrationManagers(204, 404)},
		"GET /api/v1/notifications":              {get("/api/v1/notifications"), withAnon(every(200), 401)},
		"POST /api/v1/notifications/read-all":    {form("POST", "/api/v1/notifications/read-all", nil), withAnon(every(204), 401)},
		"POST /api/v1/notifications/{id}/read":   {form("POST", "/api/v1/notifications/"+uuid.NewString()+"/read", nil), withAnon(every(404), 401)},
	})
}

func onChannel(method, suffix, body string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		return request{Method: method, Path: "/api/v1/notification-channels/" + h.ownersChannel(w).String() + suffix, JSON: body}
	}
}

// onRule makes an organization rule of organization A and calls a route of it.
func onRule(method, suffix string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		rule, err := h.srv.deps.App.Notifications.CreateRule(context.Background(), h.ownerCaller(w), nil,
			app.RuleInput{Event: "failed", ChannelIDs: []uuid.UUID{h.ownersChannel(w)}})
		if err != nil {
			h.t.Fatal(err)
		}
		return request{Method: method, Path: "/api/v1/notification-rules/" + rule.ID.String() + suffix}
	}
}

// ownerCaller is organization A's owner as a use case's caller.
func (h *harness) ownerCaller(w *world) app.Caller {
	u := w.users["owner"]
	return app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: w.orgA.ID, Role: authz.RoleOwner, Session: true},
		Actor: store.Actor{UserID: &u.ID}, UserName: u.Name, OrgName: w.orgA.Name}
}

// ownersChannel creates an e-mail channel in organization A.
func (h *harness) ownersChannel(w *world) uuid.UUID {
	h.t.Helper()
	ch, err := h.srv.deps.App.Notifications.SaveChannel(context.Background(), h.ownerCaller(w), nil,
		app.ChannelInput{Name: "Ops " + uuid.NewString()[:8], Kind: "email", To: []string{"ops@example.com"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return ch.Channel.ID
}

func onChannelPage(method, suffix string) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		req := request{Method: method, Path: "/settings/notifications/channels/" + h.ownersChannel(w).String() + suffix}
		if method == "POST" {
			req.Form = url.Values{}
		}
		return req
	}
}

// TestBellStreamSendsTheCount reads the bell's event stream as a browser would: the first event carries the count.
func TestBellStreamSendsTheCount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	r, _ := http.NewRequest("GET", h.ts.URL+"/notifications/events", nil)
	r.AddCookie(h.sessionCookie(w.users["viewer"], w.orgA.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(r.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() && sc.Text() != "" {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 2 || lines[0] != "event: bell" || !strings.Contains(lines[1], `data-unread="0"`) {
		t.Fatalf("first event %q", lines)
	}
}

// TestBellCountsLiveInTheBrowser opens a page as organization A's owner and as organization B's owner, lets a
// workflow of A fail with an organization rule to an in-app channel, and runs the evaluator: A's bell shows the count
// without a reload (NOTIFY → relay → SSE); B's stays empty.
func TestBellCountsLiveInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(time.Now())
	eval := h.st.NewNotificationEvaluator(&service.Archetype{Logger: slog.New(slog.DiscardHandler), Clock: clock},
		store.NotificationEvaluatorConfig{Lag: time.Millisecond})
	if err := eval.Round(ctx); err != nil { // the cursor starts now
		t.Fatal(err)
	}
	bell, err := h.srv.deps.App.Notifications.SaveChannel(ctx, h.ownerCaller(w), nil, app.ChannelInput{Name: "Bell", Kind: "in_app"})
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	if _, err := h.srv.deps.App.Notifications.CreateRule(ctx, h.ownerCaller(w), nil, app.RuleInput{Event: "failed",
		GroupWindowSeconds: &zero, ChannelIDs: []uuid.UUID{bell.Channel.ID}}); err != nil {
		t.Fatal(err)
	}

	a, b := h.newBrowser(t), h.newBrowser(t)
	a.signIn(w.users["owner"], w.orgA.ID)
	b.signIn(w.users["outsider"], w.orgB.ID)
	a.open("/workflows")
	b.open("/workflows")
	a.waitFor(`#bell-count [data-unread="0"]`)
	h.ownersExecution(w, store.StatusFailed)
	clock.Advance(10 * time.Minute) // past the execution's end, however long the pages took to open
	if err := eval.Round(ctx); err != nil {
		t.Fatal(err)
	}
	a.waitFor(`#bell-count [data-unread="1"]`)
	a.screenshot("bell-one-unread")
	if got := b.eval(`() => document.querySelector("#bell-count [data-unread]").dataset.unread`).Str(); got != "0" {
		t.Errorf("organization B's bell shows %s", got)
	}
	a.open("/notifications")
	a.waitFor(`.notification.unread`)
	a.click(`form[action="/notifications/read-all"] button`)
	a.waitFor(`#content h1`)
	a.waitUntil(`() => document.querySelector(".notification.unread") === null`)
	a.assertClean()
	b.assertClean()
}
