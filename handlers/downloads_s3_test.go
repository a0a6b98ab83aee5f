package handlers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
	"github.com/concertmaster/concertmaster/sql/store"
)

// withS3Storage keeps the server's files in a bucket of weed.
func withS3Storage(weed *storagetest.Weed) harnessOption {
	return func(d *Deps, h *harness) {
		files, err := storage.NewS3(context.Background(), weed.Config("files/"), storage.S3Options{MaxBytes: 1 << 30})
		if err != nil {
			h.t.Fatal(err)
		}
		d.Files = files
		h.t.Cleanup(func() { _ = files.Close() })
	}
}

// TestDownloadsFromS3 downloads an exported file kept in a real SeaweedFS: streamed through the application by
// default, and with ?presign=1 as a redirect to a short-lived link of the store that serves the same bytes as an
// attachment. Authorization comes first either way: an outsider gets neither the file nor a link.
func TestDownloadsFromS3(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	h := newHarness(t, withS3Storage(weed))
	c := loadContract(t, h)
	const pattern = "GET /api/v1/executions/{id}/files/{fileID}"
	op, _ := c.operation(pattern)
	if !slices.ContainsFunc(asSlice(op["parameters"]), func(p any) bool {
		return p.(map[string]any)["name"] == "presign" && p.(map[string]any)["in"] == "query"
	}) {
		t.Errorf("the document does not describe %s's presign parameter", pattern)
	}
	w := h.newWorld()
	ctx := context.Background()
	e := h.ownersExecution(w, "succeeded")
	const content = "sku,qty\nA-1,2\n"
	obj, err := h.srv.deps.Files.PutObject(ctx, "report.csv", "text/csv", strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.st.ExportCreate(ctx, actions.ExportedFile{OrganizationID: w.orgA.ID, WorkflowID: &e.WorkflowID,
		ExecutionID: &e.ID, StorageKey: obj.Key, Filename: "report.csv", ContentType: "text/csv", Size: obj.Size,
		SHA256: obj.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)
	path := "/api/v1/executions/" + e.ID.String() + "/files/" + id.String()

	resp := h.do(request{Method: "GET", Path: path, Bearer: viewer})
	c.validate(t, pattern, resp)
	if resp.StatusCode != http.StatusOK || resp.body != content || !strings.Contains(resp.Header.Get("Content-Disposition"), "report.csv") {
		t.Fatalf("proxied download: %d %q %v", resp.StatusCode, resp.body, resp.Header)
	}

	resp = h.do(request{Method: "GET", Path: path + "?presign=1", Bearer: viewer})
	c.validate(t, pattern, resp)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Host != weed.Endpoint ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("presigned download: %d %v", resp.StatusCode, resp.Header)
	}
	if exp := loc.Query().Get("X-Amz-Expires"); exp != "60" {
		t.Errorf("the link lives %q seconds, want 60", exp)
	}
	if strings.Contains(loc.String(), weed.SecretKey) {
		t.Error("the link holds the secret key")
	}
	got, err := http.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != http.StatusOK || string(body) != content || got.Header.Get("Content-Type") != "text/csv" ||
		!strings.HasPrefix(got.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(got.Header.Get("Content-Disposition"), "report.csv") {
		t.Errorf("the store's answer to the link: %d %q %v", got.StatusCode, body, got.Header)
	}

	// The page route for a signed-in browser redirects the same way.
	page := h.do(request{Method: "GET", Path: "/executions/" + e.ID.String() + "/files/" + id.String() + "?presign=1",
		Cookie: h.sessionCookie(w.users["viewer"], w.orgA.ID)})
	if page.StatusCode != http.StatusFound || !strings.HasPrefix(page.Header.Get("Location"), "http://"+weed.Endpoint+"/") {
		t.Errorf("page presign: %d %v", page.StatusCode, page.Header)
	}
	// A stranger's HTML, sent through a form, goes out through the link as plain bytes, as it would through the
	// application.
	html, err := h.srv.deps.Files.PutObject(ctx, "page.html", "text/html", strings.NewReader("<script>alert(1)</script>"))
	if err != nil {
		t.Fatal(err)
	}
	fid := uuid.New()
	f, sub := h.ownersSubmission(w, []store.FormField{{Name: "doc", Label: "Doc", Type: store.FieldFile}},
		`{"doc":{"upload_id":"`+fid.String()+`","filename":"page.html"}}`, store.ReceivedFile{ID: fid, Field: "doc",
			StorageKey: html.Key, Filename: "page.html", ContentType: "text/html", Size: html.Size, SHA256: html.SHA256})
	sresp := h.do(request{Method: "GET", Path: "/forms/" + f.ID.String() + "/submissions/" + sub.ID.String() + "/files/" +
		fid.String() + "?presign=1", Cookie: h.sessionCookie(w.users["viewer"], w.orgA.ID)})
	if sresp.StatusCode != http.StatusFound {
		t.Fatalf("submission file presign: %d %v", sresp.StatusCode, sresp.Header)
	}
	if got, err := http.Get(sresp.Header.Get("Location")); err != nil {
		t.Fatal(err)
	} else {
		got.Body.Close()
		if got.StatusCode != http.StatusOK || got.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(got.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("the store's answer for a form's HTML file: %d %v", got.StatusCode, got.Header)
		}
	}

	for _, p := range []string{path, path + "?presign=1"} {
		if resp := h.do(request{Method: "GET", Path: p, Bearer: outsider}); resp.StatusCode != http.StatusNotFound ||
			resp.Header.Get("Location") != "" || strings.Contains(resp.body, content) {
			t.Errorf("outsider %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
	resp = h.do(request{Method: "GET", Path: path + "?presign=maybe", Bearer: viewer})
	c.validate(t, pattern, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, "presign") {
		t.Errorf("bad presign: %d %s", resp.StatusCode, resp.body)
	}
	// A file swept from the store is the application's 404, not a link to the store's error.
	if err := h.srv.deps.Files.Delete(ctx, obj.Key); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "?presign=1"} {
		if resp := h.do(request{Method: "GET", Path: p, Bearer: viewer}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("swept file %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
}
