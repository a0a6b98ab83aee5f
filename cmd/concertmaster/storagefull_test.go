package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
)

// TestUploadsOnAFullDiskAreRefused runs serve with DATA_DIR on a 1 MiB tmpfs the test fills to the last page: an
// upload to a workflow, a public form's file and a file export node are each refused (507 for the two uploads, a
// failed node saying the disk is full for the export), with no file, temporary file or uploads row left behind;
// once the space is freed, the same requests pass.
func TestUploadsOnAFullDiskAreRefused(t *testing.T) {
	t.Parallel()
	disk := storagetest.SmallDisk(t, 1<<20)
	dbURL := migratedDatabase(t)
	env := map[string]string{"DATABASE_URL": dbURL, "LISTEN_ADDR": "127.0.0.1:0", "SECRET_KEY": testSecretKey,
		"DATA_DIR": disk, "LOG_LEVEL": "error"}
	createUser(t, env, "files@example.com")
	base := startServe(t, env)
	api := signInAPI(t, base, "files@example.com")
	pool := connectPool(t, dbURL)

	uploadWF := api.activeWorkflow(t, "uploads", `{"nodes":[
		{"id":"in","type":"trigger.file_upload","config":{"max_bytes":1048576}},
		{"id":"name","type":"transform.data","config":{"jq":"{name: .filename}"}}],
		"edges":[{"from":"in","to":"name"}]}`)
	exportWF := api.activeWorkflow(t, "export", `{"nodes":[
		{"id":"hook","type":"trigger.webhook","config":{"auth":"none"}},
		{"id":"rows","type":"transform.data","config":{"jq":"[range(0; 2000) | {n: ., text: \"some text to take space\"}]"}},
		{"id":"file","type":"action.file_export","config":{"format":"csv","filename":"rows.csv"}}],
		"edges":[{"from":"hook","to":"rows"},{"from":"rows","to":"file"}]}`)
	api.call(t, "POST", "/api/v1/forms", map[string]any{"name": "CV", "slug": "cv", "published": true,
		"fields": []map[string]any{{"name": "cv", "label": "Your CV", "type": "file", "required": true}}}, http.StatusCreated)
	payload := bytes.Repeat([]byte("a line of a text file\n"), 4000) // 88 KB

	steps := []struct {
		name string
		// try makes the request and returns its status, and what it said.
		try  func() (int, string)
		want int
	}{
		{"upload to a workflow", func() (int, string) {
			return api.upload(t, "/api/v1/workflows/"+uploadWF+"/uploads", "file", payload)
		}, http.StatusAccepted},
		{"a form's file field", func() (int, string) {
			return postMultipart(t, base+"/f/cv", "", "cv", payload)
		}, http.StatusOK},
		{"a file export node", func() (int, string) {
			return runExport(t, api, pool, exportWF)
		}, http.StatusOK},
	}
	filler := storagetest.Fill(t, disk)
	for _, s := range steps {
		status, said := s.try()
		t.Logf("%s on a full disk: %d %.300s", s.name, status, said)
		if status != http.StatusInsufficientStorage || !strings.Contains(said, "no space left") {
			t.Errorf("%s on a full disk: %d %q, want 507 saying there is no space left", s.name, status, said)
		}
	}
	var rows int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM uploads`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("uploads rows after the refusals: %d %v, want none", rows, err)
	}
	if left := filesUnder(t, disk); len(left) != 1 {
		t.Errorf("files on the full disk besides the filler: %v", left)
	}
	os.Remove(filler)
	for _, s := range steps {
		if status, said := s.try(); status != s.want {
			t.Errorf("%s once space was freed: %d %q, want %d", s.name, status, said, s.want)
		}
	}
}

// runExport triggers the export workflow and waits for its end; a failed file node counts as 507, with its
// error, so that the steps read alike.
func runExport(t *testing.T, api *apiClient, pool *pgxpool.Pool, workflowID string) (int, string) {
	t.Helper()
	id := triggerHook(t, api, workflowID)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var status, nodeErr string
		err := pool.QueryRow(context.Background(), `SELECT e.status, coalesce(n.error, '')
			FROM workflow_executions e LEFT JOIN node_executions n ON n.execution_id = e.id AND n.node_id = 'file'
			WHERE e.id = $1`, id).Scan(&status, &nodeErr)
		if err != nil {
			t.Fatal(err)
		}
		switch status {
		case "succeeded":
			return http.StatusOK, ""
		case "failed":
			return http.StatusInsufficientStorage, nodeErr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("execution %s did not finish", id)
	return 0, ""
}

// triggerHook calls the webhook of a workflow whose trigger takes calls without authentication, and returns the
// execution it started.
func triggerHook(t *testing.T, api *apiClient, workflowID string) uuid.UUID {
	t.Helper()
	return callHook(t, api.base+hookPath(t, api, workflowID))
}

// hookPath is the path of a workflow's webhook.
func hookPath(t *testing.T, api *apiClient, workflowID string) string {
	t.Helper()
	var hook struct {
		URL string `json:"url"`
	}
	api.decode(t, api.call(t, "GET", "/api/v1/workflows/"+workflowID+"/webhook", nil, http.StatusOK), &hook)
	u, err := url.Parse(hook.URL) // made from BASE_URL, which the test's server may not set
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// callHook calls a webhook that takes calls without authentication, and returns the execution it started.
func callHook(t *testing.T, hookURL string) uuid.UUID {
	t.Helper()
	resp, err := http.Post(hookURL, "application/json", strings.NewReader(`{"total": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var accepted struct {
		ExecutionID uuid.UUID `json:"execution_id"`
	}
	if err := json.Unmarshal(body, &accepted); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", resp.StatusCode, body)
	}
	return accepted.ExecutionID
}

// filesUnder lists the regular files under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// createUser creates an owner with the password "correct horse" and an organization of their own.
func createUser(t *testing.T, env map[string]string, email string) {
	t.Helper()
	if err := run(context.Background(), []string{"user", "create", "--email", email, "--password", "correct horse",
		"--name", "Tester", "--org", "Org of " + email}, envFrom(env), io.Discard, nil); err != nil {
		t.Fatal(err)
	}
}

// apiClient calls the API with a bearer token, through hc (http.DefaultClient when nil).
type apiClient struct {
	base, token string
	hc          *http.Client
}

// signInAPI takes an access token for a user createUser made.
func signInAPI(t *testing.T, base, email string) *apiClient {
	return signInAPIVia(t, base, email, nil)
}

// signInAPIVia is signInAPI through an HTTP client of the test's.
func signInAPIVia(t *testing.T, base, email string, hc *http.Client) *apiClient {
	t.Helper()
	c := &apiClient{base: base, hc: hc}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.decode(t, c.call(t, "POST", "/api/v1/auth/token", map[string]string{"email": email, "password": "correct horse"},
		http.StatusOK), &tok)
	c.token = tok.AccessToken
	return c
}

// call sends body as JSON and fails the test unless the answer has status want.
func (c *apiClient) call(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, out)
	}
	return out
}

func (c *apiClient) decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// activeWorkflow creates and activates a workflow and returns its id.
func (c *apiClient) activeWorkflow(t *testing.T, name, definition string) string {
	t.Helper()
	var wf struct {
		ID string `json:"id"`
	}
	c.decode(t, c.call(t, "POST", "/api/v1/workflows", map[string]any{"name": name,
		"definition": json.RawMessage(definition)}, http.StatusCreated), &wf)
	c.call(t, "POST", "/api/v1/workflows/"+wf.ID+"/activate", nil, http.StatusOK)
	return wf.ID
}

// upload posts one file as the multipart part field, with the client's token.
func (c *apiClient) upload(t *testing.T, path, field string, data []byte) (int, string) {
	t.Helper()
	return postMultipart(t, c.base+path, c.token, field, data)
}

// postMultipart posts one file (notes.txt) as the part field, with a bearer token when one is given, and returns
// the status and the body.
func postMultipart(t *testing.T, u, token, field string, data []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile(field, "notes.txt")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", u, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
