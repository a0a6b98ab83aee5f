package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The 200 MB file of TestA200MBUploadStreamsThroughServeAndSurvivesSIGKILL: rows orders in batches of batchRows.
const (
	bigFileRows      = 4_000_000
	bigFileBatchRows = 20_000
	bigFileBatches   = bigFileRows / bigFileBatchRows
	// bigFileKillAt is the batch whose side effect is under way when the first process is killed.
	bigFileKillAt = bigFileBatches / 2
	// bigFileMaxRSS is the bound on each serve process's peak resident memory (VmHWM).
	bigFileMaxRSS = 250 << 20
)

var bigFileRegions = []string{"north", "south", "east"}

// generatedCSV streams rows orders (each with a quoted note holding a comma and a line break) without holding
// them: the test's 200 MB file never exists in memory, on disk outside the server's storage, nor in the repository.
type generatedCSV struct {
	next, rows int
	buf        []byte
}

func (g *generatedCSV) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.next <= g.rows {
		if g.next == 0 {
			g.buf = append(g.buf, "id,region,note,amount\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "%d,%s,\"note %d with, comma\nand line\",%d\n", g.next,
				bigFileRegions[g.next%3], g.next, g.next%17)
		}
		g.next++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// batchReceiver is the side effect of the big file's workflow: an HTTP server the loop's body calls once per batch.
// It counts the calls of each batch and the idempotency keys they carried, and holds the first call of batch
// holdBatch unanswered until its caller goes away, so that the test can kill the process in the middle of it.
type batchReceiver struct {
	*httptest.Server
	holdBatch int
	// held is closed when the call of holdBatch arrives.
	held chan struct{}

	mu    sync.Mutex
	calls map[int]int
	keys  map[int]map[string]bool
	bad   []string
}

func newBatchReceiver(t *testing.T, holdBatch int) *batchReceiver {
	r := &batchReceiver{holdBatch: holdBatch, held: make(chan struct{}), calls: map[int]int{}, keys: map[int]map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Batch any `json:"batch"` // a number, or the number as text
		}
		raw, _ := io.ReadAll(req.Body)
		err := json.Unmarshal(raw, &body)
		var k int
		if err == nil {
			k, err = strconv.Atoi(fmt.Sprint(body.Batch))
		}
		key := req.Header.Get("Idempotency-Key")
		r.mu.Lock()
		if err != nil || key == "" {
			r.bad = append(r.bad, fmt.Sprintf("%s (key %q)", raw, key))
			r.mu.Unlock()
			http.Error(w, "bad call", http.StatusBadRequest)
			return
		}
		r.calls[k]++
		if r.keys[k] == nil {
			r.keys[k] = map[string]bool{}
		}
		r.keys[k][key] = true
		first := r.calls[k] == 1
		r.mu.Unlock()
		if k == r.holdBatch && first {
			close(r.held)
			<-req.Context().Done() // the process that called is killed meanwhile
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// TestA200MBUploadStreamsThroughServeAndSurvivesSIGKILL is the end-to-end test of files as data: a generated
// 200 MB CSV (4 million rows) is uploaded to a real `concertmaster serve` through the API, and its workflow parses
// it in batches of 20,000 rows → loops over them (aggregate the batch, then call an HTTP server with it) →
// aggregates the batches' results. When batch 100's call is under way, batches 0–99 checkpointed, the process is
// SIGKILLed; a second serve process takes the execution over and finishes it. Every batch's call reached the
// server under one idempotency key, the batches finished before the kill exactly once (batch 100's call is made
// again, as an HTTP action interrupted by a crash is, under the same key), the total is right, and neither
// process's peak resident memory (VmHWM) reached 250 MB. It takes a minute or two; skipped under -short.
func TestA200MBUploadStreamsThroughServeAndSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads and parses a 200 MB file through two serve processes")
	}
	t.Parallel()
	bin := buildBinary(t)
	dbURL := migratedDatabase(t)
	receiver := newBatchReceiver(t, bigFileKillAt)
	env := map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": testSecretKey, "LOG_LEVEL": "info",
		"DATA_DIR": t.TempDir(), "FILE_MAX_BYTES": strconv.Itoa(512 << 20), "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
		"WORKER_RESCUE_AFTER": "1s"}
	createUser(t, env, "bigfile@example.com")
	start := func(name string) (*process, string) {
		env["LISTEN_ADDR"] = "127.0.0.1:" + freePort(t)
		p := startProcess(t, name, bin, env, `"msg":"serving"`, "serve")
		return p, "http://" + env["LISTEN_ADDR"]
	}
	first, base := start("serve")
	api := signInAPI(t, base, "bigfile@example.com")
	wf := api.activeWorkflow(t, "orders", fmt.Sprintf(`{"nodes":[
		{"id":"in","type":"trigger.file_upload","config":{"max_bytes":%d,"accept":["text/csv"]}},
		{"id":"parse","type":"transform.parse","config":{"file":"trigger","types":{"amount":"integer"},"batch_size":%d}},
		{"id":"loop","type":"condition.loop","config":{"items":"input","max_iterations":100000}},
		{"id":"part","type":"transform.aggregate","config":{"items":"input.items","group_by":["region"],
			"aggregations":[{"op":"count","as":"rows"},{"op":"sum","field":"amount","as":"amount"}]}},
		{"id":"post","type":"action.http","config":{"method":"POST","url":%q,"body":{"batch":"{{ item.batch }}"}}},
		{"id":"keep","type":"transform.data","config":{"jq":"$nodes.part.output"}},
		{"id":"flat","type":"transform.data","config":{"jq":"[.[][]]"}},
		{"id":"total","type":"transform.aggregate","config":{"group_by":["region"],
			"aggregations":[{"op":"sum","field":"rows","as":"rows"},{"op":"sum","field":"amount","as":"amount"}]}}],
		"edges":[{"from":"in","to":"parse"},{"from":"parse","to":"loop"},{"from":"loop","port":"body","to":"part"},
			{"from":"part","to":"post"},{"from":"post","to":"keep"},
			{"from":"loop","port":"done","to":"flat"},{"from":"flat","to":"total"}]}`,
		400<<20, bigFileBatchRows, receiver.URL+"/batches"))

	execID, size := uploadGenerated(t, api, "/api/v1/workflows/"+wf+"/uploads", "orders.csv", &generatedCSV{rows: bigFileRows})
	if size < 200_000_000 {
		t.Fatalf("the generated file is %d bytes", size)
	}
	pool := connectPool(t, dbURL)
	select {
	case <-receiver.held:
	case <-first.done:
		t.Fatalf("serve ended before batch %d:\n%s", bigFileKillAt, lastLines(first.output(), 40))
	case <-time.After(10 * time.Minute):
		t.Fatalf("batch %d was not reached within 10 minutes; checkpoints: %d\n%s", bigFileKillAt,
			countCheckpoints(t, pool, execID), lastLines(first.output(), 40))
	}
	if n := countCheckpoints(t, pool, execID); n != bigFileKillAt {
		t.Fatalf("%d batches checkpointed while batch %d's call is under way, want %d", n, bigFileKillAt, bigFileKillAt)
	}
	rss := peakRSS(strconv.Itoa(first.cmd.Process.Pid))
	first.kill(syscall.SIGKILL)
	var killedAt time.Time
	if err := pool.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&killedAt); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed serve at batch %d of %d; its peak resident memory was %d MB for a %d MB file",
		bigFileKillAt, bigFileBatches, rss>>20, size>>20)
	if rss == 0 || rss >= bigFileMaxRSS {
		t.Errorf("the first serve process peaked at %d MB resident, want under %d MB", rss>>20, bigFileMaxRSS>>20)
	}

	second, _ := start("serve (again)")
	status := waitFinished(t, pool, execID, second, 10*time.Minute)
	rss = peakRSS(strconv.Itoa(second.cmd.Process.Pid))
	t.Logf("the second serve process finished the execution (%s) with a peak resident memory of %d MB", status, rss>>20)
	if rss == 0 || rss >= bigFileMaxRSS {
		t.Errorf("the second serve process peaked at %d MB resident, want under %d MB", rss>>20, bigFileMaxRSS>>20)
	}
	if status != "succeeded" {
		var errText string
		_ = pool.QueryRow(context.Background(), `SELECT coalesce(error, '') FROM workflow_executions WHERE id = $1`, execID).Scan(&errText)
		t.Fatalf("the execution %s: %s\n%s", status, errText, lastLines(second.output(), 40))
	}

	receiver.mu.Lock()
	for k := range bigFileBatches {
		want := 1
		if k == bigFileKillAt {
			want = 2 // the call the kill interrupted, made again
		}
		if receiver.calls[k] != want || len(receiver.keys[k]) != 1 {
			t.Errorf("batch %d: %d calls under %d keys, want %d under one", k, receiver.calls[k], len(receiver.keys[k]), want)
		}
	}
	if len(receiver.calls) != bigFileBatches || len(receiver.bad) > 0 {
		t.Errorf("calls for %d batches, want %d; bad calls: %v", len(receiver.calls), bigFileBatches, head(receiver.bad))
	}
	receiver.mu.Unlock()
	if n := countCheckpoints(t, pool, execID); n != bigFileBatches {
		t.Errorf("%d checkpoints, want one per batch (%d)", n, bigFileBatches)
	}
	// The runs of the batches finished before the kill are the records the first process wrote, untouched since.
	var rewritten int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM node_executions
		WHERE execution_id = $1 AND item_index < $2 AND updated_at > $3`, execID, bigFileKillAt, killedAt).Scan(&rewritten); err != nil || rewritten != 0 {
		t.Errorf("%d runs of batches 0–%d were recorded again after the kill (%v)", rewritten, bigFileKillAt-1, err)
	}

	var raw []byte
	if err := pool.QueryRow(context.Background(), `SELECT output FROM node_executions WHERE execution_id = $1 AND node_id = 'total'`,
		execID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var total []struct {
		Region       string
		Rows, Amount int64
	}
	if err := json.Unmarshal(raw, &total); err != nil {
		t.Fatalf("total %s: %v", raw, err)
	}
	want := map[string][2]int64{}
	for i := 1; i <= bigFileRows; i++ {
		w := want[bigFileRegions[i%3]]
		want[bigFileRegions[i%3]] = [2]int64{w[0] + 1, w[1] + int64(i%17)}
	}
	got := map[string][2]int64{}
	for _, g := range total {
		got[g.Region] = [2]int64{g.Rows, g.Amount}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("total %v, want %v", got, want)
	}
}

// uploadGenerated streams file to an upload endpoint as the multipart part "file", without holding it, and returns
// the execution the upload started and the file's size.
func uploadGenerated(t *testing.T, api *apiClient, path, name string, file io.Reader) (uuid.UUID, int64) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var size int64
	go func() {
		fw, err := mw.CreateFormFile("file", name)
		if err == nil {
			size, err = io.Copy(fw, file)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", api.base+path, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+api.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var accepted struct {
		ExecutionID uuid.UUID `json:"execution_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &accepted) != nil {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	return accepted.ExecutionID, size
}

// countCheckpoints counts the batches of an execution's loop that have their checkpoint.
func countCheckpoints(t *testing.T, pool *pgxpool.Pool, execID uuid.UUID) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM node_executions
		WHERE execution_id = $1 AND port = 'batch' AND status = 'succeeded'`, execID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFinished waits until an execution has a final status, or p ends, or the deadline passes.
func waitFinished(t *testing.T, pool *pgxpool.Pool, execID uuid.UUID, p *process, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var status string
		if err := pool.QueryRow(context.Background(), `SELECT status FROM workflow_executions WHERE id = $1`, execID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		switch status {
		case "succeeded", "failed", "canceled":
			return status
		}
		select {
		case <-p.done:
			t.Fatalf("%s ended with the execution %s:\n%s", p.name, status, lastLines(p.output(), 40))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the execution is still %s after %s (%d checkpoints):\n%s", status, within,
				countCheckpoints(t, pool, execID), lastLines(p.output(), 40))
		}
	}
}
