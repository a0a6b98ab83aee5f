package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/sql/store"
)

// TestSearchThroughTheAPIAndThePages: every list that takes q answers ranked, organization-scoped matches through
// the API and its page, refuses a too long search naming q, and answers hostile text without an error.
func TestSearchThroughTheAPIAndThePages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	ctx := context.Background()
	viewer, outsider := w.users["viewer"], w.users["outsider"]
	token := h.accessToken(viewer, w.orgA.ID)
	for _, org := range []uuid.UUID{w.orgA.ID, w.orgB.ID} {
		wf, err := h.st.WorkflowCreate(ctx, store.SystemActor, store.NewWorkflow{OrganizationID: org,
			Name: "Refund approvals", Definition: json.RawMessage(`{"nodes":[{"id":"hook","type":"trigger.webhook","config":{}}],"edges":[]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.pool.Exec(ctx, `INSERT INTO workflow_executions
			(organization_id, workflow_id, workflow_version_id, version, status, trigger_kind, error)
			SELECT organization_id, workflow_id, id, number, 'failed', 'manual', 'action.http: upstream refused the refund'
			FROM workflow_versions WHERE workflow_id = $1`, wf.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.pool.Exec(ctx, `INSERT INTO integrations (id, organization_id, name, kind, config)
			VALUES ($1, $2, 'Refunds gateway', 'http', '{}')`, uuid.New(), org); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/api/v1/workflows?q=refu", "/api/v1/executions?q=refused", "/api/v1/integrations?q=gate"} {
		resp := h.do(request{Method: "GET", Path: path, Bearer: token})
		var page struct {
			Items []struct {
				ID             string `json:"id"`
				OrganizationID string `json:"organization_id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(resp.body), &page); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.body)
		}
		if len(page.Items) != 1 || page.NextCursor != "" {
			t.Errorf("%s: want one match and no next page, got %s", path, resp.body)
		}
	}
	long := url.QueryEscape(strings.Repeat("x", 201))
	for _, path := range []string{"/api/v1/workflows", "/api/v1/executions", "/api/v1/integrations", "/api/v1/forms"} {
		resp := h.do(request{Method: "GET", Path: path + "?q=" + long, Bearer: token})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"q"`) {
			t.Errorf("%s with a 201-character q: %d %s", path, resp.StatusCode, resp.body)
		}
		for _, q := range []string{`"`, `'):* & !(`, `-`, `or or`, `日本`, `\`} {
			if resp := h.do(request{Method: "GET", Path: path + "?q=" + url.QueryEscape(q), Bearer: token}); resp.StatusCode != http.StatusOK {
				t.Errorf("%s?q=%s: %d %s", path, q, resp.StatusCode, resp.body)
			}
		}
	}
	// The pages: the search box keeps the words, and only the organization's own rows show.
	for _, tc := range []struct{ path, rows string }{
		{"/workflows?q=refund", "table.workflows tbody tr"},
		{"/executions?q=upstream+refu", "table tbody tr"},
		{"/integrations?q=refunds", "table.integrations tbody tr"},
	} {
		resp := h.pageAs(viewer, w.orgA.ID, "GET", tc.path, nil)
		doc := resp.doc(t)
		if resp.StatusCode != http.StatusOK || doc.Find(tc.rows).Length() != 1 {
			t.Errorf("%s: %d, %d rows", tc.path, resp.StatusCode, doc.Find(tc.rows).Length())
		}
		if v, _ := doc.Find(`input[name="q"]`).Attr("value"); v == "" {
			t.Errorf("%s: the search box lost the words", tc.path)
		}
		if doc.Find(`a[rel="next"]`).Length() != 0 {
			t.Errorf("%s: a search offers an older page", tc.path)
		}
	}
	doc := h.pageAs(outsider, w.orgB.ID, "GET", "/integrations?q=nothing+like+it", nil).doc(t)
	if !strings.Contains(doc.Find(".empty").Text(), "No integrations match") {
		t.Errorf("an empty search result: %q", doc.Text())
	}
}
