package handlers

import (
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/concertmaster/concertmaster/sql/store"
	"github.com/concertmaster/concertmaster/static/statictest"
)

// immutableCache is the Cache-Control of a /static/ URL that names its file's content.
const immutableCache = "public, max-age=31536000, immutable"

// TestPagesNameAssetsByContent checks that every script and stylesheet a page names has a URL that names its
// content (a hashed file name, or a ?v= stamp equal to the file's hash), answered with a year's immutable cache and
// the file's bytes.
func TestPagesNameAssetsByContent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	owner := w.users["owner"]
	e := h.ownersExecution(w, store.StatusQueued)
	form := h.ownersForm(w, nil)
	hashed := map[string]bool{}
	for _, c := range statictest.Manifest(t) {
		for _, f := range append([]string{c.File}, c.CSS...) {
			hashed["dist/"+f] = true
		}
	}
	pages := map[string]string{}
	for _, p := range []string{"/workflows/" + e.WorkflowID.String(), "/executions/" + e.ID.String(), "/forms/" + form.ID.String()} {
		pages[p] = h.pageAs(owner, w.orgA.ID, "GET", p, nil).body
	}
	for _, p := range []string{"/login", "/api/docs"} {
		pages[p] = h.do(request{Method: "GET", Path: p}).body
	}
	seen := map[string]bool{}
	for p, body := range pages {
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		doc.Find("script[src], link[rel=stylesheet]").Each(func(_ int, s *goquery.Selection) {
			ref := s.AttrOr("src", s.AttrOr("href", ""))
			u, err := url.Parse(ref)
			if err != nil || !strings.HasPrefix(u.Path, "/static/") {
				t.Errorf("%s names %q", p, ref)
				return
			}
			name := strings.TrimPrefix(u.Path, "/static/")
			seen[path.Base(name)] = true
			file := statictest.File(t, name)
			if !hashed[name] && u.Query().Get("v") != statictest.Stamp(file) {
				t.Errorf("%s names %s, whose URL does not name its content", p, ref)
			}
			resp := h.do(request{Method: "GET", Path: ref, Header: http.Header{"Accept-Encoding": {"identity"}}})
			if resp.StatusCode != http.StatusOK || resp.body != string(file) || resp.Header.Get("Cache-Control") != immutableCache {
				t.Errorf("%s: %d, Cache-Control %q, %d bytes (want %d)", ref, resp.StatusCode,
					resp.Header.Get("Cache-Control"), len(resp.body), len(file))
			}
		})
	}
	for _, base := range []string{"theme.js", "htmx.min.js", "htmx-ext-sse.min.js", "forms.js", "copy.js", "init.js"} {
		if !seen[base] {
			t.Errorf("no page named %s: %v", base, seen)
		}
	}
	for _, prefix := range []string{"app-", "editor-"} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(seen)), func(k string) bool { return strings.HasPrefix(k, prefix) }) {
			t.Errorf("no page named the built %s* files: %v", prefix, seen)
		}
	}
}
