package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
)

// TestTwoServeProcessesShareAnS3Bucket runs the real binary twice (serve, web and workers) on one database and one
// bucket of a real SeaweedFS, each with a DATA_DIR of its own: a file uploaded through A is downloaded through B,
// streamed and as a presigned link, and neither process kept anything on its disk.
func TestTwoServeProcessesShareAnS3Bucket(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	bin := buildBinary(t)
	dbURL := migratedDatabase(t)
	common := map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": testSecretKey, "LOG_LEVEL": "info",
		"STORAGE_URL": weed.URL("cluster"), "AWS_ACCESS_KEY_ID": weed.AccessKey, "AWS_SECRET_ACCESS_KEY": weed.SecretKey}
	createUser(t, common, "shared@example.com")
	start := func(name string) (base, dataDir string) {
		env := map[string]string{"LISTEN_ADDR": "127.0.0.1:" + freePort(t), "DATA_DIR": t.TempDir()}
		for k, v := range common {
			env[k] = v
		}
		startProcess(t, name, bin, env, `"msg":"serving"`, "serve")
		return "http://" + env["LISTEN_ADDR"], env["DATA_DIR"]
	}
	baseA, dirA := start("serve A")
	baseB, dirB := start("serve B")

	apiA := signInAPI(t, baseA, "shared@example.com")
	wf := apiA.activeWorkflow(t, "uploads", `{"nodes":[
		{"id":"in","type":"trigger.file_upload","config":{"max_bytes":1048576}},
		{"id":"name","type":"transform.data","config":{"jq":"{name: .filename}"}}],
		"edges":[{"from":"in","to":"name"}]}`)
	payload := strings.Repeat("a line shared by two processes\n", 3000)
	if status, said := apiA.upload(t, "/api/v1/workflows/"+wf+"/uploads", "file", []byte(payload)); status != http.StatusAccepted {
		t.Fatalf("upload through A: %d %s", status, said)
	}
	pool := connectPool(t, dbURL)
	var fileID, execID, key string
	if err := pool.QueryRow(context.Background(), `SELECT id::text, execution_id::text, storage_key FROM uploads`).
		Scan(&fileID, &execID, &key); err != nil {
		t.Fatal(err)
	}
	if got := weed.Stored(t, "cluster/"); len(got) != 1 || got[0] != "cluster/"+key[:2]+"/"+key {
		t.Errorf("the bucket holds %v, want the one upload", got)
	}

	apiB := signInAPI(t, baseB, "shared@example.com")
	path := "/api/v1/executions/" + execID + "/files/" + fileID
	resp := getWithToken(t, apiB.base+path, apiB.token)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != payload {
		t.Fatalf("download through B: %d, %d bytes of %d", resp.StatusCode, len(body), len(payload))
	}
	resp = getWithToken(t, apiB.base+path+"?presign=1", apiB.token)
	resp.Body.Close()
	link := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(link, "http://"+weed.Endpoint+"/") {
		t.Fatalf("presigned download through B: %d %q", resp.StatusCode, link)
	}
	direct, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(direct.Body)
	direct.Body.Close()
	if direct.StatusCode != http.StatusOK || string(body) != payload {
		t.Errorf("the presigned link: %d, %d bytes", direct.StatusCode, len(body))
	}
	for _, dir := range []string{dirA, dirB} {
		if left := filesUnder(t, dir); len(left) != 0 {
			t.Errorf("a process kept files on its disk: %v", left)
		}
	}

	// A wrong key stops serve at start, naming STORAGE_URL, rather than at its first upload.
	wrong := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()}
	for k, v := range common {
		wrong[k] = v
	}
	wrong["AWS_SECRET_ACCESS_KEY"] = "not-the-key"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = run(ctx, []string{"serve"}, envFrom(wrong), io.Discard, func(string) { t.Error("serve started with a wrong key") })
	if err == nil || !strings.Contains(err.Error(), "STORAGE_URL") || strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("serve with a wrong key: %v", err)
	}
}

// getWithToken GETs u with a bearer token, not following redirects.
func getWithToken(t *testing.T, u, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp
}
