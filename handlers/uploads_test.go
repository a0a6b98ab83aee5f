package handlers

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

// withFileStorage puts the server's files in dir, so a test can look at what is (and is not) left there.
func withFileStorage(dir string) harnessOption {
	return func(d *Deps, h *harness) {
		files, err := storage.NewLocal(dir, storage.LocalOptions{MaxBytes: 1 << 30})
		if err != nil {
			h.t.Fatal(err)
		}
		d.Files = files
		h.t.Cleanup(func() { _ = files.Close() })
	}
}

// storedFiles lists the regular files under dir: complete files and any temporary file left behind.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, strings.TrimPrefix(path, dir))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// countingReader counts the bytes the HTTP client took from a request body: how much of it the server read, give
// or take what the connection's buffers hold.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// zeros is an endless source of zero bytes: a large file that costs no memory.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// hugeUpload posts a multipart body whose file part (named field) starts with head and runs on to size bytes,
// generated as it is sent, and reports the answer and how many bytes of the body the client handed over.
func (h *harness) hugeUpload(path, field, filename, contentType string, head []byte, size int64, extra http.Header) (int, string, int64) {
	h.t.Helper()
	var pre bytes.Buffer
	mw := multipart.NewWriter(&pre)
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+filename+`"`)
	hdr.Set("Content-Type", contentType)
	if _, err := mw.CreatePart(hdr); err != nil {
		h.t.Fatal(err)
	}
	body := &countingReader{r: io.MultiReader(&pre, bytes.NewReader(head), io.LimitReader(zeros{}, size-int64(len(head))),
		strings.NewReader("\r\n--"+mw.Boundary()+"--\r\n"))}
	req, err := http.NewRequest("POST", h.ts.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("the server did not answer an oversized upload: %v (after %d bytes)", err, body.n.Load())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), body.n.Load()
}

// pdfHead is the start of a PDF: its signature is what the sniffer goes by.
var pdfHead = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")

// pngHead is the start of a PNG.
var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")

const cvForm = `{"name":"Jobs","slug":"%s","published":true,"fields":[
	{"name":"name","label":"Name","type":"text","required":true},
	{"name":"cv","label":"CV","type":"file","required":true,"accept":["application/pdf"],"max_bytes":262144}]}`

// maxOverread is how far past a limit the client may get before the server's refusal stops it: the bytes in
// flight in the loopback connection's socket buffers (several MB with Linux's autotuning), far below the size
// of the bodies sent.
const maxOverread = 24 << 20

func TestFormFileFieldsStreamToStorageWithinLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, withFileStorage(dir))
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	slug := "jobs-" + strings.ToLower(w.orgA.ID.String()[:8])
	f := h.createForm(member, fmt.Sprintf(cvForm, slug))
	h.formWorkflow(member, f.ID, true)

	page := h.do(request{Method: "GET", Path: "/f/" + slug}).doc(t)
	if enc, _ := page.Find("form.public-form-fields").Attr("enctype"); enc != "multipart/form-data" {
		t.Errorf("a form with a file field posts as %q", enc)
	}
	if accept, _ := page.Find(`input[type="file"][name="cv"]`).Attr("accept"); accept != "application/pdf" {
		t.Errorf("file input accepts %q", accept)
	}

	submit := func(values map[string]string, file []byte, claimed, ip string) response {
		body, ctype := multipartBody("cv", "cv.pdf", claimed, file, values)
		return h.do(request{Method: "POST", Path: "/f/" + slug, JSON: body,
			Header: http.Header{"Content-Type": {ctype}, "X-Forwarded-For": {ip}}})
	}
	pdf := append(append([]byte{}, pdfHead...), bytes.Repeat([]byte("0123456789"), 1000)...)

	// A PNG sent as a PDF is refused by what its bytes are, and nothing is kept.
	resp := submit(map[string]string{"name": "Ada", httpx.HoneypotField: ""}, pngHead, "application/pdf", "192.0.2.1")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.doc(t).Find("#f-cv-error").Text(), "image/png") {
		t.Fatalf("png as pdf: %d %s", resp.StatusCode, resp.body)
	}
	if files := storedFiles(t, dir); len(files) != 0 {
		t.Fatalf("a refused file was kept: %v", files)
	}

	// A good file with a missing field: 422, and the stored file is deleted again.
	resp = submit(map[string]string{httpx.HoneypotField: ""}, pdf, "application/pdf", "192.0.2.2")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.doc(t).Find("#f-name-error").Text(), "required") {
		t.Fatalf("missing name: %d %s", resp.StatusCode, resp.body)
	}
	if files := storedFiles(t, dir); len(files) != 0 || h.countRows("SELECT count(*) FROM uploads") != 0 {
		t.Fatalf("a refused submission kept its file: %v", files)
	}

	// A valid one: the file is stored, its row names the submission, and the workflow's trigger data holds it.
	resp = submit(map[string]string{"name": "Ada", httpx.HoneypotField: ""}, pdf, "application/pdf", "192.0.2.3")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("valid: %d %s", resp.StatusCode, resp.body)
	}
	if files := storedFiles(t, dir); len(files) != 1 {
		t.Fatalf("stored files: %v", files)
	}
	var source, ctype, filename, key string
	var size int64
	var subXmin, upXmin, execXmin string
	err := h.pool.QueryRow(context.Background(), `SELECT u.source, u.content_type, u.filename, u.size_bytes, u.storage_key,
		s.xmin::text, u.xmin::text, e.xmin::text
		FROM uploads u JOIN form_submissions s ON s.id = u.form_submission_id
		JOIN form_submission_executions l ON l.submission_id = s.id JOIN workflow_executions e ON e.id = l.execution_id`).
		Scan(&source, &ctype, &filename, &size, &key, &subXmin, &upXmin, &execXmin)
	if err != nil {
		t.Fatal(err)
	}
	if source != "form" || ctype != "application/pdf" || filename != "cv.pdf" || size != int64(len(pdf)) {
		t.Errorf("upload row: %s %s %s %d", source, ctype, filename, size)
	}
	if subXmin != upXmin || upXmin != execXmin {
		t.Errorf("submission, file row and execution in different transactions: %s %s %s", subXmin, upXmin, execXmin)
	}
	var trigger string
	if err := h.pool.QueryRow(context.Background(), "SELECT trigger_data::text FROM workflow_executions").Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(trigger, `"ref": "`+key+`"`) || !strings.Contains(trigger, `"field": "cv"`) || !strings.Contains(trigger, `"filename": "cv.pdf"`) {
		t.Errorf("trigger data %s", trigger)
	}

	// A file over its field's limit: refused with 413 while it streams in. The server stops reading soon after the
	// limit (far before the end of the 64 MB body), and nothing of it is left in storage.
	status, body, sent := h.hugeUpload("/f/"+slug, "cv", "big.pdf", "application/pdf", pdfHead, 64<<20,
		http.Header{"X-Forwarded-For": {"192.0.2.4"}})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 256 KB") {
		t.Fatalf("oversized file: %d %.300s", status, body)
	}
	t.Logf("the client handed over %d bytes of a 64 MB body; the field's limit is 256 KB", sent)
	if sent > 262144+maxOverread {
		t.Errorf("the server read on to %d bytes past a limit of 256 KB", sent)
	}
	if files := storedFiles(t, dir); len(files) != 1 {
		t.Errorf("an oversized file left files behind: %v", files)
	}
	if n := h.countRows("SELECT count(*) FROM form_submissions"); n != 1 {
		t.Errorf("%d submissions", n)
	}

	// The file is downloadable by the organization from the submission's page, as an attachment.
	viewer := h.sessionCookie(w.users["viewer"], w.orgA.ID)
	var subID, uploadID string
	if err := h.pool.QueryRow(context.Background(), "SELECT form_submission_id::text, id::text FROM uploads").Scan(&subID, &uploadID); err != nil {
		t.Fatal(err)
	}
	dl := h.do(request{Method: "GET", Path: "/forms/" + f.ID + "/submissions/" + subID + "/files/" + uploadID, Cookie: viewer})
	if dl.StatusCode != http.StatusOK || dl.body != string(pdf) || !strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d %q", dl.StatusCode, dl.Header.Get("Content-Disposition"))
	}
	// Deleting the submission deletes its file.
	if resp := h.do(request{Method: "DELETE", Path: "/api/v1/forms/" + f.ID + "/submissions/" + subID, Bearer: member}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.body)
	}
	if files := storedFiles(t, dir); len(files) != 0 {
		t.Errorf("a deleted submission's file is still stored: %v", files)
	}
}

func TestWorkflowUploadsStartAnExecution(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHarness(t, withFileStorage(dir))
	h.startWorkers()
	w := h.newWorld()
	admin := h.accessToken(w.users["admin"], w.orgA.ID)
	wf := h.ownersUploadWorkflow(w, uploadFlow)
	path := "/api/v1/workflows/" + wf.ID.String() + "/uploads"
	upload := func(filename, ctype string, content []byte) response {
		body, mtype := multipartBody("file", filename, ctype, content, map[string]string{"note": "first"})
		return h.do(request{Method: "POST", Path: path, Bearer: admin, JSON: body, Header: http.Header{"Content-Type": {mtype}}})
	}

	csv := []byte("sku,qty\nA-1,3\nB-2,5\n")
	resp := upload("stock.csv", "text/csv", csv)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, resp.body)
	}
	var out struct {
		ExecutionID string `json:"execution_id"`
		UploadID    string `json:"upload_id"`
	}
	resp.json(t, &out)
	// Both rows take created_at from now(), which is the start of their transaction: equal, they were written by
	// one. (Not xmin: the workers update the execution row as it runs.)
	var source, key, trigger string
	var upCreated, execCreated time.Time
	var shaBytes []byte
	err := h.pool.QueryRow(context.Background(), `SELECT u.source, u.storage_key, u.sha256, u.created_at, e.created_at,
		e.trigger_data::text FROM uploads u JOIN workflow_executions e ON e.id = u.execution_id
		WHERE u.id = $1 AND e.id = $2 AND u.workflow_id = e.workflow_id AND e.trigger_kind = 'file_upload'`,
		out.UploadID, out.ExecutionID).Scan(&source, &key, &shaBytes, &upCreated, &execCreated, &trigger)
	if err != nil {
		t.Fatalf("upload row and execution: %v", err)
	}
	if source != "upload" || !upCreated.Equal(execCreated) {
		t.Errorf("source %s; file row and execution written at %s and %s, not in one transaction", source, upCreated, execCreated)
	}
	for _, want := range []string{`"ref": "` + key + `"`, `"size": ` + fmt.Sprint(len(csv)), `"sha256": "` + hex.EncodeToString(shaBytes) + `"`,
		`"filename": "stock.csv"`, `"content_type": "text/csv"`, `"upload_id": "` + out.UploadID + `"`} {
		if !strings.Contains(trigger, want) {
			t.Errorf("trigger data %s lacks %s", trigger, want)
		}
	}
	if n := h.countRows("SELECT count(*) FROM river_job WHERE kind = 'execute' AND args->>'execution_id' = $1", out.ExecutionID); n != 1 {
		t.Errorf("%d jobs for the execution", n)
	}
	h.waitExecution(admin, out.ExecutionID, "succeeded")
	if h.auditCount("workflow.upload") != 1 {
		t.Errorf("the upload is not audited")
	}

	// Refused: bytes of another type than the trigger accepts, and a file over its max_bytes (4096) — the latter
	// while it streams, leaving nothing behind.
	resp = upload("photo.csv", "text/csv", pngHead)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.body, `"field":"file"`) || !strings.Contains(resp.body, "image/png") {
		t.Errorf("png as csv: %d %s", resp.StatusCode, resp.body)
	}
	status, body, sent := h.hugeUpload(path, "file", "huge.csv", "text/csv", bytes.Repeat([]byte("a,b\n"), 200), 32<<20,
		http.Header{"Authorization": {"Bearer " + admin}})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 4 KB") {
		t.Errorf("oversized upload: %d %s", status, body)
	}
	if sent > 4096+maxOverread {
		t.Errorf("the server read on to %d bytes past a limit of 4096", sent)
	}
	if files := storedFiles(t, dir); len(files) != 1 {
		t.Errorf("refused uploads left files: %v", files)
	}

	// The page does the same for people, with CSRF protection; a workflow without an upload trigger takes none.
	cookie := h.sessionCookie(w.users["admin"], w.orgA.ID)
	body2, mtype := multipartBody("file", "more.csv", "text/csv", csv, nil)
	page := h.do(request{Method: "POST", Path: "/workflows/" + wf.ID.String() + "/upload", Cookie: cookie, JSON: body2,
		Header: http.Header{"Content-Type": {mtype}}})
	if page.StatusCode != http.StatusAccepted || !strings.Contains(page.body, "more.csv was stored and started") {
		t.Errorf("upload page: %d %s", page.StatusCode, page.body)
	}
	forged := h.do(request{Method: "POST", Path: "/workflows/" + wf.ID.String() + "/upload", Cookie: cookie, JSON: body2,
		Header: http.Header{"Content-Type": {mtype}, "Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}})
	if forged.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site upload: %d", forged.StatusCode)
	}
	hook := h.ownersWorkflow(w)
	if resp := h.do(request{Method: "GET", Path: "/workflows/" + hook.ID.String() + "/upload", Cookie: cookie}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(resp.body, "does not start from a file upload") {
		t.Errorf("webhook workflow's upload page: %d %s", resp.StatusCode, resp.body)
	}
	if _, err := h.st.WorkflowSetActive(context.Background(), store.Actor{}, w.orgA.ID, wf.ID, false, nil); err != nil {
		t.Fatal(err)
	}
	if resp := upload("late.csv", "text/csv", csv); resp.StatusCode != http.StatusConflict {
		t.Errorf("upload to an inactive workflow: %d %s", resp.StatusCode, resp.body)
	}
}

// TestExecutionProgressWhileABatchLoopRuns uploads a 50-row CSV to a workflow that parses it in batches of 10 and
// calls an HTTP server per batch, and holds batch 2's call: meanwhile the execution in the REST API is running and
// its progress says 20 of 50 rows, 2 of 5 batches, for the loop node; once the call is answered the execution
// succeeds with 50 of 50. Another organization's member cannot read it.
func TestExecutionProgressWhileABatchLoopRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withFileStorage(t.TempDir()))
	h.startWorkers()
	w := h.newWorld()
	held, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body struct{ Batch any }
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		if fmt.Sprint(body.Batch) == "2" {
			close(held)
			<-release
		}
		_, _ = rw.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	wf := h.ownersUploadWorkflow(w, fmt.Sprintf(`{"nodes":[
		{"id":"upload","type":"trigger.file_upload","config":{"accept":["text/csv"],"max_bytes":4096}},
		{"id":"parse","type":"transform.parse","config":{"file":"trigger","batch_size":10}},
		{"id":"loop","type":"condition.loop","config":{"items":"input"}},
		{"id":"post","type":"action.http","config":{"method":"POST","url":%q,"body":{"batch":"{{ item.batch }}"}}}],
		"edges":[{"from":"upload","to":"parse"},{"from":"parse","to":"loop"},{"from":"loop","port":"body","to":"post"}]}`,
		srv.URL+"/batches"))
	var csv strings.Builder
	csv.WriteString("sku,qty\n")
	for i := range 50 {
		fmt.Fprintf(&csv, "S-%d,%d\n", i, i)
	}
	body, mtype := multipartBody("file", "stock.csv", "text/csv", []byte(csv.String()), nil)
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID.String() + "/uploads",
		Bearer: h.accessToken(w.users["admin"], w.orgA.ID), JSON: body, Header: http.Header{"Content-Type": {mtype}}})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, resp.body)
	}
	var accepted struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &accepted)
	path := "/api/v1/executions/" + accepted.ExecutionID
	viewer := h.accessToken(w.users["viewer"], w.orgA.ID)
	type execution struct {
		Status   string
		Progress *engine.Progress
	}
	read := func() execution {
		t.Helper()
		resp := h.do(request{Method: "GET", Path: path, Bearer: viewer})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.body)
		}
		var e execution
		resp.json(t, &e)
		return e
	}
	select {
	case <-held:
	case <-time.After(time.Minute):
		t.Fatalf("batch 2's call did not come within a minute: %+v", read())
	}
	want := engine.Progress{NodeID: "loop", Done: 20, Total: 50, Unit: "rows", BatchesDone: 2, Batches: 5}
	if e := read(); e.Status != "running" || e.Progress == nil || *e.Progress != want {
		t.Errorf("while batch 2 runs: %s, progress %+v, want %+v", e.Status, e.Progress, want)
	}
	if resp := h.do(request{Method: "GET", Path: path, Bearer: h.accessToken(w.users["outsider"], w.orgB.ID)}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another organization read the execution: %d", resp.StatusCode)
	}
	releaseOnce.Do(func() { close(release) })
	deadline := time.Now().Add(time.Minute)
	e := read()
	for e.Status == "running" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		e = read()
	}
	want.Done, want.BatchesDone = 50, 5
	if e.Status != "succeeded" || e.Progress == nil || *e.Progress != want {
		t.Errorf("at the end: %s, progress %+v, want %+v", e.Status, e.Progress, want)
	}
}
