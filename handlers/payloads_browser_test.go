package handlers

import (
	"net/http"
	"strings"
	"testing"
)

// TestLargePayloadsOnTheExecutionPageInTheBrowser opens an execution whose trigger data and node outputs live in
// the file storage, in both themes at a phone's and a desktop's width: the trigger shows its size and the start
// of its text, cut, without widening the page; a node's output opens to its preview; and the "Load full" link
// serves the whole value to the signed-in member.
func TestLargePayloadsOnTheExecutionPageInTheBrowser(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.st.UsePayloads(h.srv.deps.Files, 1024)
	h.startWorkers()
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)

	// One unbroken 3,000-character word: the preview must wrap or scroll inside its box, not widen the page.
	_, execID := h.runPayloadFlow(t, member, strings.Repeat("z", 3000))

	b := h.newBrowser(t)
	b.signIn(w.users["member"], w.orgA.ID)
	for _, theme := range []string{"light", "dark"} {
		for _, width := range []int{390, 1440} {
			b.setColorScheme(theme)
			b.setViewport(width, 900)
			b.open("/executions/" + execID)
			b.waitFor("section .payload")
			// Every node's output is offloaded; open them all, as someone reading the run would.
			b.eval(`() => document.querySelectorAll("details").forEach((d) => { if (d.querySelector(".payload")) d.open = true; })`)
			r := b.eval(`() => {
				const trigger = document.querySelector("section .payload");
				const outputs = Array.from(document.querySelectorAll("details .payload"));
				const pre = trigger.querySelector("pre");
				return {
					size: trigger.querySelector("p").textContent,
					preview: pre.textContent.length,
					previewVisible: pre.getBoundingClientRect().height > 0,
					outputs: outputs.length,
					outputVisible: outputs.length > 0 && outputs[0].getBoundingClientRect().height > 0,
					link: trigger.querySelector("a").getAttribute("href"),
					linkText: trigger.querySelector("a").textContent,
				};
			}`)
			if !strings.Contains(r.Get("size").Str(), "KB") || !strings.Contains(r.Get("linkText").Str(), "KB") {
				t.Errorf("%s %d px: the trigger's size is not shown: %v", theme, width, r)
			}
			if n := r.Get("preview").Int(); n == 0 || n > 1100 || !r.Get("previewVisible").Bool() {
				t.Errorf("%s %d px: the trigger's preview is %d characters (visible %v); want the start, cut", theme, width, n, r.Get("previewVisible").Bool())
			}
			if r.Get("outputs").Int() < 3 || !r.Get("outputVisible").Bool() {
				t.Errorf("%s %d px: node outputs' previews: %v", theme, width, r)
			}
			b.assertNoHorizontalScroll()
			b.assertLabelled()
			b.assertClean()

			// The link serves the whole value to this member's session.
			full := b.eval(`async (href) => { const r = await fetch(href); const t = await r.text(); return {status: r.status, length: t.length, whole: t.includes("z".repeat(3000))}; }`,
				r.Get("link").Str())
			if full.Get("status").Int() != http.StatusOK || !full.Get("whole").Bool() {
				t.Errorf("%s %d px: Load full answered %v", theme, width, full)
			}
		}
	}
}
