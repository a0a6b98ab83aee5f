package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"
	"github.com/go-rod/rod/lib/proto"

	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

// TestBuildAndWatchAWorkflowInTheBrowser is the whole story of the canvas, as a person lives it in Chromium: sign
// up, connect a mail server, build webhook → transform → if → e-mail by dragging nodes from the palette and
// connecting their ports, configure each in the side panel, save, test-run from the canvas, activate, fire the
// webhook, and watch the execution page colour each node as it runs — the e-mail node is held in flight by the
// SMTP server, so the page must turn it green live, without a reload. Screenshots of the canvas and the execution
// page in both themes go to test-artifacts/.
func TestBuildAndWatchAWorkflowInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.startWorkers()
	// The mail server holds each message until the test lets it through, so a running e-mail node can be seen.
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	smtp := mailtest.Start(t, mailtest.Options{Hold: hold})
	letOneMailThrough := func() {
		t.Helper()
		select {
		case hold <- struct{}{}:
		case <-time.After(browserTimeout):
			t.Fatal("no e-mail reached the mail server")
		}
	}

	b := h.newBrowser(t)
	b.setViewport(1440, 900)
	// The scenario validates a broken condition on purpose; Chromium logs every 4xx answer, and this one is expected.
	b.tolerate(regexp.MustCompile(`^console \(network\): .* status of 422 .*/ui/api/v1/workflows/validate$`))

	// Sign up: the organization and its owner come from the form.
	b.open("/signup")
	email := newEmail()
	b.fill("#name", "Ada Builder")
	b.fill("#email", email)
	b.fill("#password", "correct horse battery")
	b.fill("#organization", "Canvas Co")
	b.click(`form[action="/signup"] button[type="submit"]`)
	b.waitUntil(`() => location.pathname === "/"`)

	// A mail server for the e-mail node, through the integrations page.
	host, port, _ := strings.Cut(smtp.Addr, ":")
	b.open("/integrations?kind=smtp")
	b.fill("#name", "Test mail")
	b.fill(`[name="settings.host"]`, host)
	b.fill(`[name="settings.port"]`, port)
	b.choose(`[name="settings.tls"]`, "none")
	b.fill(`[name="settings.from"]`, "bot@example.com")
	b.click(`form[action="/integrations"] button[type="submit"]:not([formmethod])`)
	b.waitUntil(`() => [...document.querySelectorAll("table")].some(t => t.textContent.includes("Test mail"))`)

	// A new workflow starts as a lone webhook trigger on the canvas.
	b.open("/workflows")
	b.fill(`form[action="/workflows"][method="post"] input[name="name"]`, "Big orders")
	b.click(`form[action="/workflows"][method="post"] button[type="submit"]`)
	b.waitUntil(`() => /^\/workflows\/[0-9a-f-]{36}$/.test(location.pathname)`)
	workflowPath := b.eval(`() => location.pathname`).Str()
	b.waitFor(`.react-flow__node[data-id="webhook"]`)
	b.assertNoHorizontalScroll()

	// Make room (zoomed out, the trigger to the top left), then drag three nodes from the palette onto the canvas,
	// down a diagonal; each lands selected with its panel open, which Escape closes.
	b.click(".react-flow__controls-zoomout")
	b.click(".react-flow__controls-zoomout")
	b.dragNodeTo("webhook", 0.15, 0.10)
	for i, typ := range []string{"transform.data", "condition.if", "action.email"} {
		b.dragToCanvas(`[data-palette-type="`+typ+`"]`, 0.40+0.2*float64(i), 0.30+0.22*float64(i))
		b.press(input.Escape)
	}
	for _, id := range []string{"data_1", "if_1", "email_1"} {
		b.waitFor(`.react-flow__node[data-id="` + id + `"]`)
	}

	// Connect ports: webhook → data_1 → if_1 —true→ email_1.
	b.connect("webhook", "out", "data_1")
	b.connect("data_1", "out", "if_1")
	b.connect("if_1", "true", "email_1")
	if n := b.eval(`() => document.querySelectorAll(".react-flow__edge").length`).Int(); n != 3 {
		t.Fatalf("the canvas shows %d edges, want 3", n)
	}
	b.click(`[data-action="fit"]`)

	// Configure each node in the side panel. A bad condition is caught by Validate at its field first.
	b.selectNode("data_1")
	b.fill(`[name="config.jq"]`, `{total: .body.total, email: .body.email}`)
	b.selectNode("if_1")
	b.fill(`[name="config.condition"]`, `input.total >`)
	b.click(`[data-action="validate"]`)
	b.waitFor(`.react-flow__node[data-id="if_1"] [data-invalid="true"], .react-flow__node[data-id="if_1"][data-invalid="true"]`)
	b.waitFor(`[data-field-error="config.condition"]`)
	b.fill(`[name="config.condition"]`, `input.total > 100`)
	b.selectNode("email_1")
	b.choose(`[name="config.integration_id"]`, "Test mail")
	b.fill(`[name="config.to"]`, `{{ nodes.data_1.output.email }}`)
	b.fill(`[name="config.subject"]`, `Big order of {{ nodes.data_1.output.total }}`)
	b.fill(`[name="config.text"]`, `Thank you!`)

	b.click(`[data-action="save"]`)
	b.waitUntil(`() => document.querySelector("[data-editor-version]")?.textContent.includes("2")`)

	// A test run from the canvas with typed sample data. The mail server holds the e-mail, so the run is seen
	// running first; once the mail server takes the message, the canvas shows every node green. (Pure nodes' runs
	// are written with the execution's next write, by design: here, its end.)
	b.click(`[data-action="test-run"]`)
	b.fill(`[name="sample"]`, `{"total": 250, "email": "buyer@example.com"}`)
	b.click(`[data-action="run-test"]`)
	b.waitFor(`[data-run-status="running"]`)
	if b.eval(`() => document.querySelector('.react-flow__node[data-id="email_1"] [data-node-status="succeeded"]') !== null`).Bool() {
		t.Fatal("the e-mail node shows succeeded while its message is held")
	}
	letOneMailThrough()
	for _, id := range []string{"webhook", "data_1", "if_1", "email_1"} {
		b.waitFor(`.react-flow__node[data-id="` + id + `"] [data-node-status="succeeded"]`)
	}
	b.waitFor(`[data-run-status="succeeded"]`)
	smtp.WaitFor(t, func(m mailtest.Received) bool { return strings.Contains(string(m.Data), "Big order of 250") })
	b.screenshot("canvas-after-test-run")

	// Activate, then fire the webhook with a signed call, as an outside system would.
	b.click(`[data-action="activate"]`)
	b.waitFor(`[data-action="deactivate"]`)
	b.settle() // the details under the canvas refresh after the activation
	hookURL := b.eval(`() => document.querySelector("#webhook-url")?.value ?? ""`).Str()
	secret := b.eval(`() => document.querySelector("#webhook-secret")?.value ?? ""`).Str()
	if hookURL == "" || secret == "" {
		b.open(workflowPath) // the details under the canvas show the webhook once it exists
		hookURL = b.eval(`() => document.querySelector("#webhook-url").value`).Str()
		secret = b.eval(`() => document.querySelector("#webhook-secret").value`).Str()
	}
	u, err := url.Parse(hookURL)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"total": 420, "email": "big@example.com"}`)
	status, answer := post(t, h.ts.URL+u.Path, body, signed(secret, time.Now(), body))
	if status != http.StatusAccepted {
		t.Fatalf("webhook = %d %s", status, answer)
	}
	var accepted struct {
		ExecutionID string `json:"execution_id"`
	}
	if err := json.Unmarshal([]byte(answer), &accepted); err != nil {
		t.Fatal(err)
	}

	// The execution page shows the run going on while the e-mail is held; once the mail server takes the message,
	// the same document turns every node green, fed by server-sent events.
	executionPath := "/executions/" + accepted.ExecutionID
	b.open(executionPath)
	b.eval(`() => { window.sameDocument = true }`)
	b.waitFor(`.timeline[data-status="running"]`)
	if b.eval(`() => document.querySelector('[data-node-id="email_1"][data-status="succeeded"]') !== null`).Bool() {
		t.Fatal("the e-mail node shows succeeded while its message is held")
	}
	letOneMailThrough()
	for _, id := range []string{"webhook", "data_1", "if_1", "email_1"} {
		b.waitFor(`[data-node-id="` + id + `"][data-status="succeeded"]`)
	}
	if !b.eval(`() => window.sameDocument === true`).Bool() {
		t.Fatal("the execution page reloaded instead of updating live")
	}
	smtp.WaitFor(t, func(m mailtest.Received) bool { return strings.Contains(string(m.Data), "Big order of 420") })
	b.assertClean()

	b.screenshotThemes(workflowPath, "canvas", `.react-flow__node[data-id="email_1"]`)
	b.screenshotThemes(executionPath, "execution", `[data-node-id="email_1"][data-status="succeeded"]`)
	b.assertClean()
}

// fill replaces the value of the field matching selector, typing as a person would so the page sees input events.
func (b *browserSession) fill(selector, value string) {
	b.t.Helper()
	el := b.waitFor(selector)
	b.step("fill "+selector, func(*rod.Page) error {
		if err := el.SelectAllText(); err != nil {
			return err
		}
		return el.Input(value)
	})
}

// choose picks the option of the select matching selector whose value or text is choice.
func (b *browserSession) choose(selector, choice string) {
	b.t.Helper()
	el := b.waitFor(selector)
	b.step("choose "+choice+" in "+selector, func(*rod.Page) error {
		if err := el.Select([]string{choice}, true, rod.SelectorTypeText); err == nil {
			return nil
		}
		_, err := el.Eval(`function (v) { this.value = v; this.dispatchEvent(new Event("change", {bubbles: true})) }`, choice)
		return err
	})
}

// center is the middle of the element matching selector, in the window's coordinates.
func (b *browserSession) center(selector string) proto.Point {
	b.t.Helper()
	el := b.waitFor(selector)
	var pt proto.Point
	b.step("locate "+selector, func(*rod.Page) error {
		if err := el.ScrollIntoView(); err != nil {
			return err
		}
		shape, err := el.Shape()
		if err != nil {
			return err
		}
		box := shape.Box()
		pt = proto.Point{X: box.X + box.Width/2, Y: box.Y + box.Height/2}
		return nil
	})
	return pt
}

// drag presses the mouse at from, moves it in steps to to, and releases it there.
func (b *browserSession) drag(what string, from, to proto.Point) {
	b.t.Helper()
	b.step("drag "+what, func(p *rod.Page) error {
		if err := p.Mouse.MoveTo(from); err != nil {
			return err
		}
		if err := p.Mouse.Down(proto.InputMouseButtonLeft, 1); err != nil {
			return err
		}
		if err := p.Mouse.MoveLinear(to, 12); err != nil {
			return err
		}
		return p.Mouse.Up(proto.InputMouseButtonLeft, 1)
	})
}

// dragToCanvas drags a palette item onto the canvas, dropping it at the given fractions of the canvas's size.
func (b *browserSession) dragToCanvas(item string, fx, fy float64) {
	b.t.Helper()
	b.drag(item, b.center(item), b.paneAt(fx, fy))
}

// paneAt is the point at the given fractions of the canvas's width and height, in the window's coordinates.
func (b *browserSession) paneAt(fx, fy float64) proto.Point {
	b.t.Helper()
	pane := b.waitFor(".react-flow__pane")
	var at proto.Point
	b.step("locate the canvas", func(*rod.Page) error {
		shape, err := pane.Shape()
		if err != nil {
			return err
		}
		box := shape.Box()
		at = proto.Point{X: box.X + box.Width*fx, Y: box.Y + box.Height*fy}
		return nil
	})
	return at
}

// dragNodeTo moves a node of the canvas to the given fractions of the canvas's size.
func (b *browserSession) dragNodeTo(id string, fx, fy float64) {
	b.t.Helper()
	b.drag("node "+id, b.center(`.react-flow__node[data-id="`+id+`"]`), b.paneAt(fx, fy))
}

// press presses and releases a key in the page.
func (b *browserSession) press(key input.Key) {
	b.t.Helper()
	b.step("press a key", func(p *rod.Page) error { return p.Keyboard.Press(key) })
}

// connect drags from a node's output port to another node's input.
func (b *browserSession) connect(from, port, to string) {
	b.t.Helper()
	source := `.react-flow__handle.source[data-nodeid="` + from + `"][data-handleid="` + port + `"]`
	target := `.react-flow__handle.target[data-nodeid="` + to + `"]`
	b.drag(from+"."+port+" → "+to, b.center(source), b.center(target))
	b.waitFor(`.react-flow__edge[data-id], .react-flow__edge`)
	b.waitUntil(`(from, to) => [...document.querySelectorAll(".react-flow__edge")].some(e =>
		(e.getAttribute("data-testid") || e.getAttribute("aria-label") || e.id || "").includes(from) &&
		(e.getAttribute("data-testid") || e.getAttribute("aria-label") || e.id || "").includes(to))`, from, to)
}

// selectNode clicks a node's title on the canvas, opening its side panel: first it closes the open panel and fits
// the view (clickNodeWhenStill).
func (b *browserSession) selectNode(id string) {
	b.t.Helper()
	b.press(input.Escape)
	b.click(`[data-action="fit"]`)
	b.clickNodeWhenStill(id)
	b.waitFor(`[name="name"]`)
}

// clickNodeWhenStill clicks a node once the view has stopped moving and nothing (the minimap, an animation) covers
// the spot it clicks.
func (b *browserSession) clickNodeWhenStill(id string) {
	b.t.Helper()
	spot := `(id) => {
		const node = document.querySelector('.react-flow__node[data-id="' + id + '"]');
		const r = node.getBoundingClientRect();
		const x = r.x + r.width * 0.4, y = r.y + r.height * 0.3;
		return node.contains(document.elementFromPoint(x, y)) ? {x, y} : null;
	}`
	// Fit pans and zooms in an animation: wait until the viewport has stopped moving (the same transform at two
	// successive checks), or the click lands where the node was a frame ago.
	b.eval(`() => { window.cmLastViewport = undefined; }`)
	b.waitUntil(`(id) => {
		const t = document.querySelector('.react-flow__viewport').style.transform;
		const still = window.cmLastViewport === t;
		window.cmLastViewport = t;
		return still && (`+spot+`)(id) !== null;
	}`, id)
	at := b.eval(spot, id)
	b.step("click node "+id, func(p *rod.Page) error {
		if err := p.Mouse.MoveTo(proto.Point{X: at.Get("x").Num(), Y: at.Get("y").Num()}); err != nil {
			return err
		}
		return p.Mouse.Click(proto.InputMouseButtonLeft, 1)
	})
}

// screenshotThemes opens path in the dark and then the light theme, as remembered from the theme toggle, waits for
// ready to show, and saves a screenshot of each.
func (b *browserSession) screenshotThemes(path, name, ready string) {
	b.t.Helper()
	for _, theme := range []string{"dark", "light"} {
		b.setStoredTheme(theme)
		b.open(path)
		b.waitUntil(`(theme) => document.documentElement.dataset.theme === theme`, theme)
		b.waitFor(ready)
		b.screenshot(name + "-" + theme)
	}
}
