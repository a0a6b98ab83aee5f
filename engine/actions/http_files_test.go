package actions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/engine"
	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/engine/queue"
	"github.com/concertmaster/concertmaster/platform/mail/mailtest"
)

// TestHTTPDownloadsIntoStorage downloads answers as files through a real server: the file is the organization's,
// parses like an upload, and an answer over max_bytes leaves nothing behind.
func TestHTTPDownloadsIntoStorage(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	csv := "sku;qty\nA-1;3\nB-2;5\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stock.csv":
			w.Header().Set("Content-Type", "text/csv")
			w.Header().Set("Content-Disposition", `attachment; filename="../../stock today.csv"`)
			fmt.Fprint(w, csv)
		case "/big.bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(make([]byte, 5000))
		default:
			http.Error(w, "gone", http.StatusGone)
		}
	}))
	t.Cleanup(srv.Close)
	f := env.factory(t, nil)
	svc := f.ForExecution(ctx, queue.Execution{ID: env.executionID, OrganizationID: env.org.ID, WorkflowID: env.workflowID})

	_, runs, _ := runChain(t, svc, `{}`,
		node{id: "get", typ: "action.http", cfg: `{"url":"` + srv.URL + `/stock.csv","response":{"format":"file"}}`},
		node{id: "parse", typ: "transform.parse", cfg: `{"file":"input.file","types":{"qty":"integer"}}`})
	file, _ := output(t, runs["get"])["file"].(map[string]any)
	if file["filename"] != "stock today.csv" || file["size"] != float64(len(csv)) || file["content_type"] != "text/csv" ||
		file["upload_id"] == nil || len(file["sha256"].(string)) != 64 {
		t.Errorf("downloaded file %v", file)
	}
	items, _ := json.Marshal(output(t, runs["parse"])["items"])
	if string(items) != `[{"qty":3,"sku":"A-1"},{"qty":5,"sku":"B-2"}]` {
		t.Errorf("parsed download %s", items)
	}
	_, body, err := svc.Storage.Open(ctx, file["ref"].(string))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(body)
	body.Close()
	if string(data) != csv {
		t.Errorf("stored %q", data)
	}
	if _, _, err := f.Services(env.other.ID, uuid.Nil, uuid.Nil).Storage.Open(ctx, file["ref"].(string)); err == nil {
		t.Error("another organization opened the download")
	}

	// The download attaches to an e-mail as it is, through a real SMTP server.
	mailSrv := mailtest.Start(t, mailtest.Options{})
	host, port := hostPort(t, "smtp://"+mailSrv.Addr)
	smtpID := env.integration(t, actions.KindSMTP, fmt.Sprintf(`{"host":%q,"port":%d,"tls":"none","from":"bot@example.com"}`, host, port), 0, 0)
	_, runs, _ = runChain(t, svc, `{}`,
		node{id: "get", typ: "action.http", cfg: `{"url":"` + srv.URL + `/stock.csv","response":{"format":"file"}}`},
		node{id: "mail", typ: "action.email", cfg: fmt.Sprintf(`{"integration_id":%q,"to":"ops@example.com","subject":"Stock",
			"text":"Attached.","attachments":[{"from_node":"get"}]}`, smtpID)})
	output(t, runs["mail"])
	files, types := mailSrv.WaitFor(t, func(mailtest.Received) bool { return true }).Attachments(t)
	if string(files["stock today.csv"]) != csv || !strings.HasPrefix(types["stock today.csv"], "text/csv") {
		t.Errorf("attachments %v %v", files, types)
	}

	before := env.countUploads(t)
	_, runs, _ = runChain(t, svc, `{}`, node{id: "get", typ: "action.http",
		cfg: `{"url":"` + srv.URL + `/big.bin","response":{"format":"file","max_bytes":4096}}`, retry: &engine.RetryPolicy{MaxAttempts: 3}})
	if r := runs["get"]; r.Status != engine.NodeFailed || r.Attempt != 1 || !strings.Contains(r.Error, "larger than 4096 bytes") {
		t.Errorf("oversized download: %s after %d attempts: %s", r.Status, r.Attempt, r.Error)
	}
	_, runs, _ = runChain(t, svc, `{}`, node{id: "get", typ: "action.http",
		cfg: `{"url":"` + srv.URL + `/gone","response":{"format":"file"}}`})
	if r := runs["get"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "410 Gone: gone") {
		t.Errorf("error answer: %s: %s", r.Status, r.Error)
	}
	if after := env.countUploads(t); after != before {
		t.Errorf("failed downloads left %d files", after-before)
	}
}

// TestHTTPUploadsAStoredFile sends a stored file as multipart/form-data to a real server, which reads it with the
// standard library's multipart parser; files of other organizations are refused.
func TestHTTPUploadsAStoredFile(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ctx := context.Background()
	type received struct {
		fields                   map[string][]string
		filename, ctype, content string
	}
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fh := r.MultipartForm.File["report"]
		if len(fh) != 1 {
			http.Error(w, "no report", http.StatusBadRequest)
			return
		}
		fr, _ := fh[0].Open()
		content, _ := io.ReadAll(fr)
		got <- received{fields: r.MultipartForm.Value, filename: fh[0].Filename, ctype: fh[0].Header.Get("Content-Type"), content: string(content)}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	f := env.factory(t, nil)
	svc := f.ForExecution(ctx, queue.Execution{ID: env.executionID, OrganizationID: env.org.ID, WorkflowID: env.workflowID})
	stored, err := svc.Storage.Put(ctx, engine.NewFile{Name: "report.csv", ContentType: "text/csv"}, strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := f.Services(env.other.ID, uuid.Nil, uuid.Nil).Storage.Put(ctx, engine.NewFile{Name: "x.csv"}, strings.NewReader("secret"))
	if err != nil {
		t.Fatal(err)
	}

	trigger, _ := json.Marshal(map[string]any{"body": map[string]any{"file": map[string]any{"ref": stored.Ref}, "theirs": theirs.Ref}})
	_, runs, _ := runChain(t, svc, string(trigger), node{id: "post", typ: "action.http", cfg: `{"method":"POST","url":"` + srv.URL +
		`/in","body":{"note":"{{ 1 + 1 }}","tags":["a","b"]},"upload":{"file":"trigger.body.file","field":"report","filename":"q{{ 3 }}.csv"}}`})
	if out := output(t, runs["post"]); out["status"] != 200.0 {
		t.Errorf("output %v", out)
	}
	r := <-got
	if r.filename != "q3.csv" || r.ctype != "text/csv" || r.content != "a,b\n1,2\n" ||
		strings.Join(r.fields["note"], ",") != "2" || strings.Join(r.fields["tags"], ",") != "a,b" {
		t.Errorf("server received %+v", r)
	}

	_, runs, _ = runChain(t, svc, string(trigger), node{id: "post", typ: "action.http",
		cfg: `{"method":"POST","url":"` + srv.URL + `/in","upload":{"file":"trigger.body.theirs"}}`})
	if r := runs["post"]; r.Status != engine.NodeFailed || !strings.Contains(r.Error, "no such file in this organization") {
		t.Errorf("another organization's file: %s: %s", r.Status, r.Error)
	}
	if len(got) != 0 {
		t.Error("a refused upload reached the server")
	}
}

// countUploads counts the files recorded in every organization.
func (e *testEnv) countUploads(t *testing.T) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM uploads").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
