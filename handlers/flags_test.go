package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/platform/service"
	"github.com/concertmaster/concertmaster/sql/store"
)

// withFlags gives the server and its use cases a started feature-flag provider over the harness's database, in
// production mode.
func withFlags() harnessOption {
	return func(d *Deps, h *harness) {
		c, err := flags.NewCatalogue(flags.Builtin())
		if err != nil {
			h.t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := flags.NewProvider(c, flags.Production, h.st, service.NewArchetype(slog.New(slog.DiscardHandler)))
		if err := p.Start(ctx); err != nil {
			h.t.Fatal(err)
		}
		f, err := flags.New(ctx, p)
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = f.Close(context.Background()); cancel(); p.Stop() })
		d.Flags, h.app.Flags = f, f
	}
}

// withDevelopment runs the server in development mode (APP_ENV=development).
func withDevelopment() harnessOption {
	return func(d *Deps, _ *harness) { d.Development = true }
}

// TestNodeTypesFlaggedOffLeaveThePalette: the canvas's palette (GET node-types, under /api/v1 and /ui/api/v1) of
// an organization where node.action.database is off lacks action.database, and a save naming it is refused with
// the node and the flag named; the other organization keeps it.
func TestNodeTypesFlaggedOffLeaveThePalette(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFlags())
	w := h.newWorld()
	ctx := context.Background()
	if err := h.st.FeatureFlagOverrideSet(ctx, store.SystemActor, flags.NodeActionDatabase, w.orgA.ID,
		json.RawMessage(`false`), "no database access"); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.deps.Flags.Provider().Reload(ctx); err != nil {
		t.Fatal(err)
	}
	palette := func(req request) []string {
		resp := h.do(req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", req.Path, resp.StatusCode, resp.body)
		}
		var out struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		}
		resp.json(t, &out)
		var names []string
		for _, it := range out.Items {
			names = append(names, it.Name)
		}
		return names
	}
	owner, outsider := w.users["owner"], w.users["outsider"]
	if p := palette(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(owner, w.orgA.ID)}); slices.Contains(p, "action.database") || len(p) == 0 {
		t.Errorf("API palette of the flagged-off organization: %v", p)
	}
	if p := palette(request{Method: "GET", Path: "/ui/api/v1/node-types", Cookie: h.sessionCookie(owner, w.orgA.ID)}); slices.Contains(p, "action.database") {
		t.Errorf("canvas palette of the flagged-off organization: %v", p)
	}
	if p := palette(request{Method: "GET", Path: "/api/v1/node-types", Bearer: h.accessToken(outsider, w.orgB.ID)}); !slices.Contains(p, "action.database") {
		t.Errorf("the other organization's palette lacks action.database: %v", p)
	}
	def := `{"definition":{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}},` +
		`{"id":"db","type":"action.database","config":{"integration_id":"00000000-0000-0000-0000-000000000001","query":"select 1"}}],` +
		`"edges":[{"from":"hook","to":"db"}]}}`
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/validate", JSON: def, Bearer: h.accessToken(owner, w.orgA.ID)})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"node_id":"db"`) ||
		!strings.Contains(resp.body, flags.NodeActionDatabase) {
		t.Errorf("validating action.database where it is off: %d %s", resp.StatusCode, resp.body)
	}
}

// TestDevelopmentBannerInBothThemes: development mode shows its banner on every page, signed in or not, readable
// in the light and the dark theme; production shows none.
func TestDevelopmentBannerInBothThemes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDevelopment())
	w := h.newWorld()
	b := h.newBrowser(t)
	for _, theme := range []string{"light", "dark"} {
		b.setColorScheme(theme)
		for _, path := range []string{"/login", "/workflows"} {
			if path == "/workflows" {
				b.signIn(w.users["member"], w.orgA.ID)
			}
			b.open(path)
			banner := b.waitFor("[data-dev-banner]")
			if !strings.Contains(banner.MustText(), "Development mode") || !banner.MustVisible() {
				t.Errorf("%s, %s theme: banner %q not shown", path, theme, banner.MustText())
			}
			colors := b.eval(`() => { const s = getComputedStyle(document.querySelector("[data-dev-banner]"));
				return [s.color, s.backgroundColor, document.documentElement.dataset.theme || ""]; }`).Arr()
			if colors[0].Str() == colors[1].Str() || colors[2].Str() != theme {
				t.Errorf("%s, %s theme: banner colour %s on %s (theme %q)", path, theme, colors[0].Str(), colors[1].Str(), colors[2].Str())
			}
			b.screenshot("dev-banner-" + theme + strings.ReplaceAll(path, "/", "-"))
		}
	}
	b.assertClean()

	prod := newHarness(t)
	if resp := prod.do(request{Method: "GET", Path: "/login"}); strings.Contains(resp.body, "data-dev-banner") {
		t.Error("production shows the development banner")
	}
}
