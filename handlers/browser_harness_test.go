package handlers

// The browser harness: headless Chromium (go-rod) driving the real server of a harness. One Chromium serves the
// whole test binary; each test gets a fresh incognito context (no shared cookies or storage), closed when it ends.
//
// A scenario test reads like this:
//
//	h := newHarness(t)
//	w := h.newWorld()
//	b := h.newBrowser(t)                          // records requests, console errors and CSP violations
//	b.signIn(w.users["owner"], w.orgA.ID)         // a real session cookie, as signing in would set
//	b.setViewport(1440, 900)
//	b.open("/workflows/" + id)                    // navigates and waits for the load event
//	b.waitFor(".react-flow__node")                // waits (bounded) for a selector
//	b.click(`button[data-action="save"]`)
//	b.waitUntil(`() => document.querySelector(".saved") !== null`)
//	b.screenshot("saved")                         // ../test-artifacts/<test>/saved.png
//	b.assertClean()                               // no off-origin request, console error or CSP violation
//
// Every wait is bounded by browserTimeout; nothing sleeps. The Chromium binary comes from TEST_CHROMIUM, else
// /usr/bin/chromium (`make test` installs it through deploy/dev/browser-env.sh); without one the tests fail.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/proto"
	"github.com/go-rod/rod/lib/utils"
	"github.com/google/uuid"
	"github.com/ysmood/gson"

	"github.com/concertmaster/concertmaster/sql/store"
)

// browserTimeout bounds every single browser step (a navigation, a wait, an evaluation). It is generous because
// the race detector slows the server several times over.
const browserTimeout = 20 * time.Second

// chromium is the browser shared by every test of the binary, launched on first use and closed by TestMain.
var chromium struct {
	once     sync.Once
	browser  *rod.Browser
	launcher *launcher.Launcher
	err      error
}

// TestMain closes the shared Chromium once every test has run: launched without leakless, it would otherwise
// outlive the test binary.
func TestMain(m *testing.M) {
	code := m.Run()
	if chromium.browser != nil {
		_ = chromium.browser.Close()
	}
	if chromium.launcher != nil {
		chromium.launcher.Kill()
		chromium.launcher.Cleanup()
	}
	os.Exit(code)
}

// chromiumPath is the browser binary the tests drive.
func chromiumPath() (string, error) {
	if p := os.Getenv("TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("TEST_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	const fallback = "/usr/bin/chromium"
	if _, err := os.Stat(fallback); err != nil {
		return "", fmt.Errorf("no Chromium: set TEST_CHROMIUM to its binary or install it at %s "+
			"(deploy/dev/browser-env.sh does, and `make test` runs it)", fallback)
	}
	return fallback, nil
}

// sharedBrowser returns the binary's Chromium, launching it on first use.
func sharedBrowser(t *testing.T) *rod.Browser {
	t.Helper()
	chromium.once.Do(func() {
		bin, err := chromiumPath()
		if err != nil {
			chromium.err = err
			return
		}
		l := launcher.New().Bin(bin).Headless(true).NoSandbox(true).Leakless(false).
			// Nothing but the test server: no updates, sync, metrics, safe-browsing or translation lookups.
			Set("disable-background-networking").Set("disable-component-update").Set("disable-sync").
			Set("disable-default-apps").Set("disable-domain-reliability").Set("disable-client-side-phishing-detection").
			Set("disable-breakpad").Set("no-first-run").Set("no-default-browser-check").Set("no-pings").
			Set("metrics-recording-only").Set("safebrowsing-disable-auto-update").Set("hide-scrollbars").
			Set("disable-features", "site-per-process", "Translate", "TranslateUI", "OptimizationHints",
				"MediaRouter", "AutofillServerCommunication", "CertificateTransparencyComponentUpdater")
		u, err := l.Launch()
		if err != nil {
			chromium.err = fmt.Errorf("launch %s: %w", bin, err)
			l.Kill()
			return
		}
		chromium.launcher = l
		b := rod.New().ControlURL(u).NoDefaultDevice()
		if err := b.Connect(); err != nil {
			chromium.err = fmt.Errorf("connect to %s: %w", bin, err)
			return
		}
		chromium.browser = b
	})
	if chromium.err != nil {
		t.Fatal(chromium.err)
	}
	return chromium.browser
}

// browserSession is one test's incognito window onto the harness's server. Its methods fail the test on error.
type browserSession struct {
	t      *testing.T
	h      *harness
	ctx    *rod.Browser // the incognito context
	page   *rod.Page
	origin string

	mu        sync.Mutex
	requests  []string
	offOrigin []string
	problems  []string
	// tolerated are the problems and CSP violations known and accepted (see tolerate).
	tolerated []*regexp.Regexp
}

// tolerate stops problems and CSP violations matching re from failing the test. It is for third-party pages'
// known, harmless faults, explained where it is called.
func (b *browserSession) tolerate(re *regexp.Regexp) {
	b.tolerated = append(b.tolerated, re)
}

func (b *browserSession) isTolerated(problem string) bool {
	for _, re := range b.tolerated {
		if re.MatchString(problem) {
			return true
		}
	}
	return false
}

// violationRecorder collects CSP violations as the page sees them (they also reach the console, but this names
// the blocked directive and source exactly).
const violationRecorder = `window.__cmViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cmViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

// newBrowser opens a fresh incognito context with one page on h's server, recording its requests, console errors,
// uncaught exceptions and CSP violations. The default viewport is 1280×800; colour scheme and theme are the
// browser's own (light) until set.
func (h *harness) newBrowser(t *testing.T) *browserSession {
	t.Helper()
	incognito, err := sharedBrowser(t).Incognito()
	if err != nil {
		t.Fatal(err)
	}
	page, err := incognito.Page(proto.TargetCreateTarget{})
	if err != nil {
		_ = incognito.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	page = page.Context(ctx)
	u, _ := url.Parse(h.ts.URL)
	b := &browserSession{t: t, h: h, ctx: incognito, page: page, origin: u.Scheme + "://" + u.Host}
	// Cleanups run last-registered first: the context closes before the server (its SSE streams end with it).
	t.Cleanup(func() {
		cancel()
		_ = incognito.Close()
	})
	go page.EachEvent(
		func(e *proto.NetworkRequestWillBeSent) { b.request(e.Request.URL) },
		func(e *proto.RuntimeConsoleAPICalled) {
			if e.Type == proto.RuntimeConsoleAPICalledTypeError || e.Type == proto.RuntimeConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, a.Value.String()+a.Description)
				}
				b.problem("console." + string(e.Type) + ": " + strings.Join(args, " "))
			}
		},
		func(e *proto.RuntimeExceptionThrown) {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.problem("uncaught exception: " + msg)
		},
		func(e *proto.LogEntryAdded) {
			if e.Entry.Level == proto.LogLogEntryLevelError {
				b.problem(fmt.Sprintf("console (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		},
	)()
	b.step("record CSP violations", func(p *rod.Page) error {
		_, err := p.EvalOnNewDocument(violationRecorder)
		return err
	})
	b.setViewport(1280, 800)
	return b
}

func (b *browserSession) request(raw string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, raw)
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "data" || u.Scheme == "blob" || raw == "about:blank") {
		return
	}
	if err != nil || u.Scheme+"://"+u.Host != b.origin {
		b.offOrigin = append(b.offOrigin, raw)
	}
}

func (b *browserSession) problem(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, msg)
}

// step runs one bounded browser action and fails the test with its name when it errs.
func (b *browserSession) step(what string, f func(p *rod.Page) error) {
	b.t.Helper()
	if err := f(b.page.Timeout(browserTimeout)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not done within %s: %w", browserTimeout, err)
		}
		// What the page looked like when the step failed, to see why.
		if png, shotErr := b.page.Timeout(browserTimeout).Screenshot(true, nil); shotErr == nil {
			if path, dirErr := b.artifactPath("failed"); dirErr == nil && utils.OutputFile(path, png) == nil {
				b.t.Logf("browser: the page when %q failed: %s", what, path)
			}
		}
		b.mu.Lock()
		last := b.requests[max(0, len(b.requests)-8):]
		b.mu.Unlock()
		b.t.Fatalf("browser: %s: %v (the last requests: %v)", what, err, last)
	}
}

// signIn gives the context a real session of u in org, as signing in would.
func (b *browserSession) signIn(u store.User, org uuid.UUID) {
	b.t.Helper()
	b.setCookie(b.h.sessionCookie(u, org))
}

// setCookie gives the context a session cookie minted beforehand (h.sessionCookie), e.g. in a parent test.
func (b *browserSession) setCookie(c *http.Cookie) {
	b.t.Helper()
	if err := b.ctx.SetCookies([]*proto.NetworkCookieParam{{Name: c.Name, Value: c.Value, URL: b.origin + "/",
		HTTPOnly: true, SameSite: proto.NetworkCookieSameSiteLax}}); err != nil {
		b.t.Fatal(err)
	}
}

// setViewport sets the window's CSS size; the next screenshot and layout checks use it.
func (b *browserSession) setViewport(width, height int) {
	b.t.Helper()
	b.step(fmt.Sprintf("viewport %dx%d", width, height), func(p *rod.Page) error {
		// Not Mobile: a mobile viewport zooms out to fit wide content, which would hide the overflow
		// assertNoHorizontalScroll looks for.
		return p.SetViewport(&proto.EmulationSetDeviceMetricsOverride{Width: width, Height: height,
			DeviceScaleFactor: 1})
	})
}

// setColorScheme emulates the system's prefers-color-scheme: "light" or "dark".
func (b *browserSession) setColorScheme(scheme string) {
	b.t.Helper()
	b.step("prefers-color-scheme "+scheme, func(p *rod.Page) error {
		return proto.EmulationSetEmulatedMedia{Features: []*proto.EmulationMediaFeature{
			{Name: "prefers-color-scheme", Value: scheme}}}.Call(p)
	})
}

// themeStorageKey is where static/js/theme.js remembers the person's choice.
const themeStorageKey = "concertmaster.theme"

// setStoredTheme makes every document opened from now on start with this theme choice in localStorage, as if
// picked earlier: "light", "dark" or "system" (no stored choice).
func (b *browserSession) setStoredTheme(choice string) {
	b.t.Helper()
	js := fmt.Sprintf(`try { localStorage.removeItem(%q); } catch (e) {}`, themeStorageKey)
	if choice != "system" {
		js = fmt.Sprintf(`try { localStorage.setItem(%q, %q); } catch (e) {}`, themeStorageKey, choice)
	}
	b.step("stored theme "+choice, func(p *rod.Page) error {
		_, err := p.EvalOnNewDocument(js)
		return err
	})
}

// open navigates to path on the server and waits for the page's load event and then for its requests to settle
// (none in flight for 300 ms; event streams do not count), so what a page fetches as it starts is in.
func (b *browserSession) open(path string) {
	b.t.Helper()
	b.settle()
	b.step("open "+path, func(p *rod.Page) error {
		idle := p.WaitRequestIdle(300*time.Millisecond, nil, nil,
			[]proto.NetworkResourceType{proto.NetworkResourceTypeEventSource, proto.NetworkResourceTypeWebSocket})
		if err := p.Navigate(b.origin + path); err != nil {
			return err
		}
		if err := p.WaitLoad(); err != nil {
			return err
		}
		idle()
		return p.GetContext().Err()
	})
}

// settle waits until the page has no htmx request in flight (htmx marks the element that issued one with the
// class htmx-request). Leaving a page aborts its requests, which htmx reports as console errors: on a busy machine
// a refresh the page started itself (the workflow's details after the canvas saved) can still be running when the
// test moves on, so every navigation first lets the page finish what it started, as a person's next click would.
func (b *browserSession) settle() {
	b.t.Helper()
	b.waitUntil(`() => document.querySelector(".htmx-request") === null`)
}

// waitFor waits for an element matching selector to exist and returns it.
func (b *browserSession) waitFor(selector string) *rod.Element {
	b.t.Helper()
	var el *rod.Element
	b.step("wait for "+selector, func(p *rod.Page) (err error) {
		el, err = p.Element(selector)
		return err
	})
	return el.Timeout(browserTimeout)
}

// waitUntil waits until the JavaScript function js (e.g. `() => document.title === "x"`) returns true.
func (b *browserSession) waitUntil(js string, args ...any) {
	b.t.Helper()
	b.step("wait until "+js, func(p *rod.Page) error { return p.Wait(rod.Eval(js, args...)) })
}

// click waits for selector and clicks it like a person would (scrolled into view, mouse pressed and released).
func (b *browserSession) click(selector string) {
	b.t.Helper()
	el := b.waitFor(selector)
	if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
		b.t.Fatalf("browser: click %s: %v", selector, err)
	}
}

// eval runs the JavaScript function js (e.g. `() => location.pathname`) in the page and returns its value.
func (b *browserSession) eval(js string, args ...any) gson.JSON {
	b.t.Helper()
	var v gson.JSON
	b.step("eval "+js, func(p *rod.Page) error {
		res, err := p.Eval(js, args...)
		if err == nil {
			v = res.Value
		}
		return err
	})
	return v
}

// assertNoHorizontalScroll fails when the page is wider than the window (what scrolls inside its own box is fine).
func (b *browserSession) assertNoHorizontalScroll() {
	b.t.Helper()
	r := b.eval(`() => {
		const doc = document.documentElement, wide = [];
		// Whether a box that clips el sideways holds it: for an absolutely positioned el only from its containing
		// block up (a visually hidden label in a scrolling table escapes an unpositioned wrapper).
		const clipped = (el) => {
			let free = ["absolute", "fixed"].includes(getComputedStyle(el).position);
			for (let a = el.parentElement; a && a !== doc; a = a.parentElement) {
				const style = getComputedStyle(a);
				if (free && style.position !== "static") free = false;
				if (!free && style.overflowX !== "visible") return true;
			}
			return false;
		};
		if (doc.scrollWidth > window.innerWidth) {
			for (const el of document.body.querySelectorAll("*")) {
				const box = el.getBoundingClientRect();
				if (box.right > window.innerWidth + 1 && !clipped(el)) {
					wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
						(typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "") +
						" right=" + Math.round(box.right));
				}
			}
		}
		return {scroll: doc.scrollWidth, width: window.innerWidth, wide: wide.slice(0, 12)};
	}`)
	if r.Get("scroll").Int() > r.Get("width").Int() {
		b.t.Errorf("%s scrolls sideways: %d px wide in a %d px window; overflowing: %v", b.location(),
			r.Get("scroll").Int(), r.Get("width").Int(), r.Get("wide").Arr())
	}
}

// assertOnlyDataScrollsSideways fails for every box that scrolls sideways (its content wider than it, overflow-x
// auto or scroll) unless what it scrolls is data: a table, a code or JSON block, a text box.
func (b *browserSession) assertOnlyDataScrollsSideways() {
	b.t.Helper()
	r := b.eval(`() => {
		const out = [];
		for (const el of document.body.querySelectorAll("*")) {
			const x = getComputedStyle(el).overflowX;
			if ((x !== "auto" && x !== "scroll") || el.scrollWidth <= el.clientWidth + 1) continue;
			if (el.matches("pre, code, textarea, table") || el.querySelector("table, pre, code")) continue;
			out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
				(typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "") +
				" " + el.clientWidth + "/" + el.scrollWidth);
		}
		return out.slice(0, 12);
	}`)
	for _, m := range r.Arr() {
		b.t.Errorf("%s: scrolls sideways though it holds no data table: %s", b.location(), m.Str())
	}
}

// assertLabelled fails for every control without an accessible name (aria-labelledby, aria-label, a <label>, its
// text or value, or a title): inputs, selects, text areas, buttons, links, summaries, elements with a widget role
// and anything else reachable by Tab; hidden inputs have none to give.
func (b *browserSession) assertLabelled() {
	b.t.Helper()
	r := b.eval(`() => {
		const text = (s) => (s || "").replace(/\s+/g, " ").trim();
		const content = (el) => {
			if (el.nodeType === Node.TEXT_NODE) return el.textContent;
			if (el.nodeType !== Node.ELEMENT_NODE || el.getAttribute("aria-hidden") === "true") return "";
			if (el.getAttribute("aria-label")) return el.getAttribute("aria-label");
			if (el.tagName === "IMG") return el.alt || "";
			return Array.from(el.childNodes).map(content).join(" ");
		};
		const name = (el) => {
			const by = el.getAttribute("aria-labelledby");
			if (by) return text(by.split(/\s+/).map((id) => { const l = document.getElementById(id); return l ? content(l) : ""; }).join(" "));
			if (text(el.getAttribute("aria-label"))) return text(el.getAttribute("aria-label"));
			if (el.labels && el.labels.length) {
				const n = text(Array.from(el.labels).map(content).join(" "));
				if (n) return n;
			}
			if (!["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName)) { const n = text(content(el)); if (n) return n; }
			if (el.tagName === "INPUT" && ["submit", "reset", "button"].includes(el.type)) return text(el.value) || el.type;
			return text(el.title);
		};
		const missing = [];
		const controls = "input, select, textarea, button, a[href], summary, [role=button], [role=tab], [role=link], " +
			"[role=menuitem], [role=switch], [role=checkbox], [role=combobox], [tabindex]:not([tabindex='-1'])";
		for (const el of document.querySelectorAll(controls)) {
			if (el.type === "hidden") continue;
			if (!name(el)) missing.push(el.outerHTML.slice(0, 160));
		}
		return missing;
	}`)
	for _, m := range r.Arr() {
		b.t.Errorf("%s: a control without an accessible name: %s", b.location(), m.Str())
	}
}

// requestsEndingWith counts the requests since the last assertClean whose URL ends with suffix.
func (b *browserSession) requestsEndingWith(suffix string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, u := range b.requests {
		if strings.HasSuffix(u, suffix) {
			n++
		}
	}
	return n
}

// assertClean fails on every request that left the server's origin and every console error, uncaught exception
// or CSP violation since the last call, then starts afresh.
func (b *browserSession) assertClean() {
	b.t.Helper()
	violations := b.eval(`() => window.__cmViolations || []`).Arr()
	b.mu.Lock()
	off, problems := b.offOrigin, b.problems
	b.offOrigin, b.problems, b.requests = nil, nil, nil
	b.mu.Unlock()
	where := b.location()
	for _, u := range off {
		b.t.Errorf("%s: a request left the server's origin: %s", where, u)
	}
	for _, p := range problems {
		if !b.isTolerated(p) {
			b.t.Errorf("%s: %s", where, p)
		}
	}
	for _, v := range violations {
		if !b.isTolerated(v.Str()) {
			b.t.Errorf("%s: CSP violation: %s", where, v.Str())
		}
	}
}

// location is the page's path, for messages.
func (b *browserSession) location() string {
	info, err := b.page.Timeout(browserTimeout).Info()
	if err != nil {
		return "(page)"
	}
	return strings.TrimPrefix(info.URL, b.origin)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// screenshot saves the whole page (not only the window) as <repo root>/test-artifacts/<test>/<name>.png, a
// folder git ignores, and returns the path.
func (b *browserSession) screenshot(name string) string {
	b.t.Helper()
	path, err := b.artifactPath(name)
	if err != nil {
		b.t.Fatal(err)
	}
	var png []byte
	b.step("screenshot "+name, func(p *rod.Page) (err error) {
		png, err = p.Screenshot(true, &proto.PageCaptureScreenshot{Format: proto.PageCaptureScreenshotFormatPng})
		return err
	})
	if err := utils.OutputFile(path, png); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// artifactPath is where the test's picture called name goes: <repo root>/test-artifacts/<test>/<name>.png.
func (b *browserSession) artifactPath(name string) (string, error) {
	var parts []string
	for _, p := range strings.Split(b.t.Name(), "/") {
		parts = append(parts, unsafeFileChars.ReplaceAllString(p, "_"))
	}
	dir := filepath.Join(append([]string{"..", "test-artifacts"}, parts...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, unsafeFileChars.ReplaceAllString(name, "_")+".png"), nil
}
