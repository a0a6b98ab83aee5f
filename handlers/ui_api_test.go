package handlers

import (
	"bufio"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/handlers/api"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The canvas's routes answer as their API twins do, to the same people: each mirrored route takes its API case with
// the path moved under /ui/api/v1 (the matrix test sends a session cookie there instead of a token).
func init() {
	maps.Copy(routeCases, map[string]routeCase{
		"POST /api/v1/workflows/validate": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/api/v1/workflows/validate", JSON: `{"definition":` + apiFlow + `}`}
		}, withAnon(every(200), 401)},
		"GET /ui/api/v1/executions/{id}/events": {uiPath(func(h *harness, w *world) request {
			req := onExecution("/events", store.StatusSucceeded, "")(h, w)
			req.Method = "GET"
			return req
		}), readers(200)},
	})
	for _, pattern := range api.CanvasAPIRoutes() {
		rc, ok := routeCases[pattern]
		if !ok {
			panic("no route case for " + pattern + " to mirror under " + api.UIAPIPrefix)
		}
		method, path, _ := strings.Cut(pattern, " ")
		routeCases[method+" "+api.UIAPIPrefix+strings.TrimPrefix(path, "/api/v1")] = routeCase{uiPath(rc.build), rc.want}
	}
}

// uiPath moves an API request under /ui/api/v1.
func uiPath(build func(*harness, *world) request) func(*harness, *world) request {
	return func(h *harness, w *world) request {
		req := build(h, w)
		req.Path = api.UIAPIPrefix + strings.TrimPrefix(req.Path, "/api/v1")
		return req
	}
}

func TestCanvasAPITakesTheSessionCookieOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)
	admin := h.sessionCookie(w.users["admin"], w.orgA.ID)
	path := api.UIAPIPrefix + "/workflows/" + wf.ID.String()

	var got api.WorkflowJSON
	h.do(request{Method: "GET", Path: path, Cookie: owner}).json(t, &got)
	if got.ID != wf.ID || got.Definition == nil || !strings.Contains(string(*got.Definition), `"big"`) {
		t.Fatalf("GET = %+v", got)
	}

	t.Run("anonymous callers get a 401 problem, not the sign-in page", func(t *testing.T) {
		resp := h.do(request{Method: "GET", Path: path})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("anonymous = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("a Bearer token does not open the cookie routes", func(t *testing.T) {
		resp := h.do(request{Method: "GET", Path: path, Bearer: h.accessToken(w.users["owner"], w.orgA.ID)})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Bearer = %d", resp.StatusCode)
		}
	})
	t.Run("a cross-site save is refused and changes nothing", func(t *testing.T) {
		resp := h.do(request{Method: "PUT", Path: path, Cookie: owner, JSON: `{"version":1,"definition":` + apiFlow + `}`,
			Header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site PUT = %d", resp.StatusCode)
		}
		var now api.WorkflowJSON
		h.do(request{Method: "GET", Path: path, Cookie: owner}).json(t, &now)
		if now.Version != 1 {
			t.Fatalf("version after a refused save = %d", now.Version)
		}
	})
	t.Run("validate names the node and the field of each problem", func(t *testing.T) {
		bad := strings.Replace(apiFlow, `"input.total > 100"`, `"input.total >"`, 1)
		resp := h.do(request{Method: "POST", Path: api.UIAPIPrefix + "/workflows/validate", Cookie: owner,
			JSON: `{"definition":` + bad + `}`})
		var p httpx.ProblemBody
		resp.json(t, &p)
		if resp.StatusCode != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].NodeID != "big" ||
			p.Errors[0].Field != "config.condition" {
			t.Fatalf("validate = %d %+v", resp.StatusCode, p)
		}
		resp = h.do(request{Method: "POST", Path: api.UIAPIPrefix + "/workflows/validate", Cookie: owner,
			JSON: `{"definition":` + apiFlow + `}`})
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(resp.body) != `{"valid":true}` {
			t.Fatalf("valid definition = %d %s", resp.StatusCode, resp.body)
		}
	})
	t.Run("a stale save is a conflict naming who saved in between", func(t *testing.T) {
		body := `{"version":1,"definition":` + apiFlow + `}`
		if resp := h.do(request{Method: "PUT", Path: path, Cookie: admin, JSON: body}); resp.StatusCode != http.StatusOK {
			t.Fatalf("first save = %d %s", resp.StatusCode, resp.body)
		}
		resp := h.do(request{Method: "PUT", Path: path, Cookie: owner, JSON: body})
		var p httpx.ProblemBody
		resp.json(t, &p)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(p.Detail, w.users["admin"].Name) {
			t.Fatalf("stale save = %d %+v", resp.StatusCode, p)
		}
	})
}

func TestCanvasTestRunStreamsTheExecution(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	w := h.newWorld()
	wf := h.ownersWorkflow(w)
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)

	var run api.ExecutionAccepted
	resp := h.do(request{Method: "POST", Path: api.UIAPIPrefix + "/workflows/" + wf.ID.String() + "/run", Cookie: owner,
		JSON: `{"total":150}`})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run = %d %s", resp.StatusCode, resp.body)
	}
	resp.json(t, &run)

	req, err := http.NewRequest("GET", h.ts.URL+api.UIAPIPrefix+"/executions/"+run.ExecutionID.String()+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(owner)
	client := &http.Client{Timeout: 30 * time.Second}
	stream, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || stream.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events = %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	// Read events until "end": the stream closes itself once the execution is final.
	var last api.ExecutionJSON
	var event, ended string
	lines := bufio.NewScanner(stream.Body)
	lines.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "execution":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &last); err != nil {
				t.Fatalf("execution event: %v", err)
			}
		case strings.HasPrefix(line, "data: ") && event == "end":
			ended = strings.TrimPrefix(line, "data: ")
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	if ended != store.StatusSucceeded || last.Status != store.StatusSucceeded || last.ID != run.ExecutionID {
		t.Fatalf("stream ended %q with the execution %s %s", ended, last.ID, last.Status)
	}
	statuses := map[string]string{}
	for _, n := range last.Nodes {
		statuses[n.NodeID] = n.Status
	}
	if statuses["hook"] != "succeeded" || statuses["shape"] != "succeeded" || statuses["big"] != "succeeded" {
		t.Fatalf("node runs in the last event: %v", statuses)
	}
	if !strings.Contains(string(last.Trigger), `"total":150`) {
		t.Fatalf("trigger = %s", last.Trigger)
	}
}
