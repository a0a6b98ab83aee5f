package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/concertmaster/concertmaster/handlers/admin"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// The job monitor's routes: no actor of the matrix is an instance administrator, so everyone signed in is refused
// (the owner of organization A too) and anonymous visitors go to sign in. Instance administrators are tested below.
func init() {
	refused := withAnon(every(http.StatusForbidden), http.StatusSeeOther)
	maps.Copy(routeCases, map[string]routeCase{
		"GET /admin/jobs":  {get("/admin/jobs"), refused},
		"GET /admin/jobs/": {get("/admin/jobs/api/jobs?state=available"), refused},
		"POST /admin/jobs/api/": {func(*harness, *world) request {
			return request{Method: "POST", Path: "/admin/jobs/api/jobs/cancel", JSON: `{"ids":["1"]}`}
		}, refused},
		"PUT /admin/jobs/api/": {func(*harness, *world) request {
			return request{Method: "PUT", Path: "/admin/jobs/api/queues/executions/pause", JSON: `{}`}
		}, refused},
		"PATCH /admin/jobs/api/": {func(*harness, *world) request {
			return request{Method: "PATCH", Path: "/admin/jobs/api/queues/executions", JSON: `{"concurrency":null}`}
		}, refused},
	})
}

// adminJobsProbeArgs is a job kind of these tests alone, so the UI's list shows exactly what a test inserted.
type adminJobsProbeArgs struct {
	Note string `json:"note"`
}

func (adminJobsProbeArgs) Kind() string { return "admin_jobs_probe" }

// withAdminJobsUI gives the server River's UI over the test database, as cmd/concertmaster does, and puts an
// insert-only River client for the test in *client.
func withAdminJobsUI(client **river.Client[pgx.Tx]) harnessOption {
	return func(d *Deps, h *harness) {
		c := h.st.Jobs()
		ui, err := admin.NewJobsUI(c, d.Logger)
		if err != nil {
			h.t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		h.t.Cleanup(cancel)
		if err := ui.Start(ctx); err != nil {
			h.t.Fatal(err)
		}
		d.JobsUI, *client = ui, c
	}
}

// adminJobsInstanceAdmin creates an instance administrator (owner of an organization of their own) and returns a
// session cookie for them.
func adminJobsInstanceAdmin(h *harness) *http.Cookie {
	h.t.Helper()
	u, org, err := h.st.UserCreateWithOrganization(context.Background(), store.NewUser{
		Email: "ops-" + uuid.NewString()[:8] + "@ops.example", Name: "Ops", PasswordHash: testPasswordHash(),
		InstanceAdmin: true, OrganizationName: "Ops " + uuid.NewString()[:8], Role: store.RoleOwner,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.sessionCookie(u, org.ID)
}

func adminJobsInsert(t *testing.T, client *river.Client[pgx.Tx], note string) *rivertype.JobRow {
	t.Helper()
	res, err := client.Insert(context.Background(), adminJobsProbeArgs{Note: note}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

// adminJobsList is River UI's job list as its API answers it.
type adminJobsList struct {
	Data []struct {
		ID    json.Number `json:"id"`
		Kind  string      `json:"kind"`
		State string      `json:"state"`
	} `json:"data"`
}

func TestAdminJobsInstanceAdminGetsRiverUI(t *testing.T) {
	t.Parallel()
	var client *river.Client[pgx.Tx]
	h := newHarness(t, withAdminJobsUI(&client))
	admin := adminJobsInstanceAdmin(h)

	t.Run("the bare prefix moves to the UI's root", func(t *testing.T) {
		resp := h.do(request{Method: "GET", Path: "/admin/jobs", Cookie: admin})
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/admin/jobs/" {
			t.Fatalf("GET /admin/jobs = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("the page, under the prefix and a CSP that only adds inline styles", func(t *testing.T) {
		resp := h.do(request{Method: "GET", Path: "/admin/jobs/", Cookie: admin, Header: http.Header{"Accept": {"text/html"}}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /admin/jobs/ = %d\n%.400s", resp.StatusCode, resp.body)
		}
		doc := resp.doc(t)
		if doc.Find("title").Text() != "River" || doc.Find("div#root").Length() != 1 {
			t.Fatalf("not River UI's page:\n%.600s", resp.body)
		}
		var config struct{ APIURL, Base string }
		if err := json.Unmarshal([]byte(doc.Find("script#config__json").Text()), &config); err != nil ||
			config.APIURL != "/admin/jobs/api" || config.Base != "/admin/jobs" {
			t.Errorf("UI config %+v (%v), want its API and base under /admin/jobs", config, err)
		}
		script, _ := doc.Find(`script[type="module"]`).Attr("src")
		style, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href")
		for _, asset := range []string{script, style} {
			if !strings.HasPrefix(asset, "/admin/jobs/assets/") {
				t.Fatalf("asset %q is not under /admin/jobs/assets/", asset)
			}
			if a := h.do(request{Method: "GET", Path: asset, Cookie: admin}); a.StatusCode != http.StatusOK || len(a.body) < 1000 {
				t.Errorf("GET %s = %d, %d bytes", asset, a.StatusCode, len(a.body))
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if csp != strings.Replace(httpx.ContentSecurityPolicy, "style-src 'self'", "style-src 'self' 'unsafe-inline'", 1) || !strings.Contains(csp, "style-src 'self' 'unsafe-inline';") ||
			!strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self';") {
			t.Errorf("CSP %q", csp)
		}
		if strings.Contains(httpx.ContentSecurityPolicy, "unsafe-inline") {
			t.Error("the application's own CSP allows inline content")
		}
	})

	t.Run("the JSON API lists a real job, and cancels it with an audit entry", func(t *testing.T) {
		job := adminJobsInsert(t, client, "listed")
		resp := h.do(request{Method: "GET", Path: "/admin/jobs/api/jobs?state=available&kinds=admin_jobs_probe", Cookie: admin})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("job list = %d\n%.400s", resp.StatusCode, resp.body)
		}
		var list adminJobsList
		resp.json(t, &list)
		found := false
		for _, j := range list.Data {
			found = found || (j.ID.String() == fmt.Sprint(job.ID) && j.Kind == "admin_jobs_probe" && j.State == "available")
		}
		if !found {
			t.Fatalf("job %d is not listed: %s", job.ID, resp.body)
		}

		id := fmt.Sprint(job.ID)
		resp = h.do(request{Method: "POST", Path: "/admin/jobs/api/jobs/cancel", Cookie: admin, JSON: `{"ids":["` + id + `"]}`,
			Header: http.Header{"Origin": {h.ts.URL}, "Sec-Fetch-Site": {"same-origin"}}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("cancel = %d\n%.400s", resp.StatusCode, resp.body)
		}
		if got, err := client.JobGet(context.Background(), job.ID); err != nil || got.State != rivertype.JobStateCancelled {
			t.Fatalf("job after cancel: %+v, %v", got, err)
		}
		var n int
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'jobs.cancel'
			AND target_type = 'river_job' AND target_id = $1 AND organization_id IS NULL AND actor_user_id IS NOT NULL`, id).Scan(&n); err != nil || n != 1 {
			t.Errorf("audit entries of the cancel: %d, %v", n, err)
		}
	})

	t.Run("a refused change is not audited", func(t *testing.T) {
		before := h.auditCount("jobs.retry")
		resp := h.do(request{Method: "POST", Path: "/admin/jobs/api/jobs/retry", Cookie: admin, JSON: `{"ids":["999999999"]}`})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("retry of no job = %d\n%.300s", resp.StatusCode, resp.body)
		}
		if h.auditCount("jobs.retry") != before {
			t.Error("a failed retry was audited")
		}
	})

	t.Run("a cross-origin change is refused", func(t *testing.T) {
		job := adminJobsInsert(t, client, "kept")
		resp := h.do(request{Method: "POST", Path: "/admin/jobs/api/jobs/delete", Cookie: admin,
			JSON:   fmt.Sprintf(`{"ids":["%d"]}`, job.ID),
			Header: http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin delete = %d", resp.StatusCode)
		}
		if got, err := client.JobGet(context.Background(), job.ID); err != nil || got.State != rivertype.JobStateAvailable {
			t.Errorf("job after a refused delete: %+v, %v", got, err)
		}
	})
}

func TestAdminJobsRefusesEveryoneElse(t *testing.T) {
	t.Parallel()
	var client *river.Client[pgx.Tx]
	h := newHarness(t, withAdminJobsUI(&client))
	w := h.newWorld()
	owner := h.sessionCookie(w.users["owner"], w.orgA.ID)

	for _, path := range []string{"/admin/jobs/", "/admin/jobs/jobs", "/admin/jobs/api/jobs?state=available"} {
		resp := h.do(request{Method: "GET", Path: path, Cookie: owner})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("owner GET %s = %d %s, want our 403 page", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Content-Security-Policy") != httpx.ContentSecurityPolicy {
			t.Errorf("owner GET %s got the job monitor's CSP", path)
		}
		resp = h.do(request{Method: "GET", Path: path})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("anonymous GET %s = %d → %q", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	job := adminJobsInsert(t, client, "not theirs")
	resp := h.do(request{Method: "POST", Path: "/admin/jobs/api/jobs/delete", Cookie: owner, JSON: fmt.Sprintf(`{"ids":["%d"]}`, job.ID)})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("owner delete = %d", resp.StatusCode)
	}
	if _, err := client.JobGet(context.Background(), job.ID); err != nil {
		t.Errorf("the owner deleted a job: %v", err)
	}
}

func TestAdminJobsUnavailableWithoutRiverUI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	resp := h.do(request{Method: "GET", Path: "/admin/jobs/", Cookie: adminJobsInstanceAdmin(h)})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(resp.body, "job monitor is not available") {
		t.Errorf("without River UI = %d\n%.300s", resp.StatusCode, resp.body)
	}
}

// riverUIEvalProbe is the one CSP violation River's UI causes, and it is harmless: zod's probe
// `try { Function("") } catch { … }` in the UI's main bundle, which falls back to zod's eval-free path when refused.
// 'unsafe-eval' stays out of the policy.
var riverUIEvalProbe = regexp.MustCompile(`^script-src(-elem)? blocked eval at .*/admin/jobs/assets/main-[\w-]+\.js:\d+$`)

// TestAdminJobsBrowser opens the job monitor in headless Chromium as an instance administrator: the job list
// renders with a job inserted here, no other Content-Security-Policy violation is reported, and every request the
// page makes stays on the application's origin.
func TestAdminJobsBrowser(t *testing.T) {
	t.Parallel()
	var client *river.Client[pgx.Tx]
	h := newHarness(t, withAdminJobsUI(&client))
	admin := adminJobsInstanceAdmin(h)
	adminJobsInsert(t, client, "browser-"+uuid.NewString()[:8])

	b := h.newBrowser(t)
	b.tolerate(riverUIEvalProbe)
	b.setCookie(admin)
	b.open("/admin/jobs/jobs?state=available")
	b.waitUntil(`() => document.body.innerText.includes("admin_jobs_probe")`)
	if path := b.location(); !strings.HasPrefix(path, "/admin/jobs/") {
		t.Errorf("the UI moved to %s, outside /admin/jobs/", path)
	}
	b.assertClean()
}
