package handlers

import (
	"testing"
)

// readmeViews are the pages the README shows, each opened as a new user of the product would look at it at
// 1440×900: the editor with a node open, its node view, the typed credentials form, the template gallery and the execution list.
// `make screenshots` copies the pictures this test takes into docs/screenshots.
var readmeViews = []struct {
	name string
	path func(ids readmeIDs) string
	// ready is a selector present once the view has drawn what the picture is for.
	ready string
	// clicks are clicked in turn once ready (opening a node, say); shown is then waited for (a JavaScript
	// condition).
	clicks []string
	shown  string
}{
	{name: "editor", path: func(ids readmeIDs) string { return "/workflows/" + ids.workflow }, ready: ".react-flow__node",
		clicks: []string{`.react-flow__node[data-id="big"]`}, shown: nodeBesidePanel},
	{name: "nodeview", path: func(ids readmeIDs) string { return "/workflows/" + ids.workflow }, ready: ".react-flow__node",
		clicks: []string{`.react-flow__node[data-id="big"]`, `[data-action="open-nodeview"]`},
		shown:  `() => document.querySelector("[data-nodeview]") !== null`},
	{name: "credentials", path: func(readmeIDs) string { return "/integrations?kind=http" }, ready: "form input[name=name]"},
	{name: "templates", path: func(readmeIDs) string { return "/workflows/new" }, ready: "main h1"},
	{name: "executions", path: func(readmeIDs) string { return "/executions" }, ready: "main table tbody tr"},
}

// nodeBesidePanel holds once the selected node has been panned clear of the docked config panel.
const nodeBesidePanel = `() => {
	const node = document.querySelector(".react-flow__node.selected"), panel = document.querySelector(".cm-panel");
	return node !== null && panel !== null && node.getBoundingClientRect().right <= panel.getBoundingClientRect().left;
}`

// readmeIDs are the seeded records the views open.
type readmeIDs struct{ workflow string }

// TestReadmeScreenshots opens each view the README pictures, in the light theme at 1440×900, checks that it drew
// without an error, an outside request or a horizontal scroll, and saves its picture under test-artifacts.
func TestReadmeScreenshots(t *testing.T) {
	h := newHarness(t, withFlags())
	h.startWorkers()
	w := h.newWorld()
	pages := seededPages(t, h, w)
	ids := readmeIDs{workflow: pages["GET /workflows/{id}"].path[len("/workflows/"):]}
	for _, v := range readmeViews {
		t.Run(v.name, func(t *testing.T) {
			b := h.newBrowser(t)
			b.signIn(w.users["owner"], w.orgA.ID)
			b.setViewport(1440, 900)
			b.setStoredTheme("light")
			b.open(v.path(ids))
			b.waitFor(v.ready)
			for _, selector := range v.clicks {
				b.waitFor(selector)
				b.click(selector)
			}
			if v.shown != "" {
				b.waitUntil(v.shown)
			}
			b.settle()
			b.assertNoHorizontalScroll()
			b.assertClean()
			b.screenshot(v.name)
		})
	}
}
