package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/concertmaster/concertmaster/app/flags"
	"github.com/concertmaster/concertmaster/handlers/httpx"
	"github.com/concertmaster/concertmaster/sql/store"
)

// benchDefinition is DESIGN.md's yardstick workflow: signed webhook → transform → if.
const benchDefinition = `{"nodes":[
	 {"id":"hook","type":"trigger.webhook","config":{}},
	 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total, email: .body.email}"}},
	 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100"}}],
	 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`

const (
	// benchSenders is the closed loop's concurrency: that many clients, each sending its next call when the last
	// was acknowledged.
	benchSenders = 50
	// openLoopRate and openLoopCalls shape the open loop: a paced client that sends on schedule whatever the
	// answers, as real traffic does, so that a slow answer cannot slow the load that measures it.
	openLoopRate  = 1000
	openLoopCalls = 10000
)

// BenchmarkSignedWebhooksEndToEnd measures the real binary, run as separate processes on a real PostgreSQL: one
// `serve` process doing everything, with executions of the (pure) workflow queued for its workers and then on the
// express path, and `serve --no-workers` with two `worker` processes (which always queue). It prints one table,
// a column per run:
//   - closed loop: b.N signed calls from benchSenders clients; executions/s from the first call to the last
//     execution finished (every execution and node run recorded, checked by counting rows), ack p50/p99;
//   - the physical cost per execution of that closed loop: WAL bytes, row versions written per table (inserts,
//     updates and deletes, River's tables included), commits, and each process's CPU time;
//   - open loop: openLoopCalls calls paced at openLoopRate/s, ack and trigger→finished p50/p99;
//   - each process's peak RSS.
func BenchmarkSignedWebhooksEndToEnd(b *testing.B) {
	bin := buildBinary(b)
	var names []string
	var reports [][]benchRow
	for _, run := range []struct {
		name    string
		workers int
		path    string // the engine.execution_path flag's instance value
	}{
		{"one process, queued", 0, flags.ExecutionPathQueue},
		{"one process, express", 0, flags.ExecutionPathExpress},
		{"web + 2 workers", 2, flags.ExecutionPathQueue},
	} {
		b.Run(strings.NewReplacer(" ", "_", ",", "").Replace(run.name), func(b *testing.B) {
			report := runThroughputShape(b, bin, run.workers, run.path)
			b.ReportMetric(report.executionsPerSecond, "executions/s")
			b.ReportMetric(report.closedAck.p50, "ack-p50-ms")
			b.ReportMetric(report.closedAck.p99, "ack-p99-ms")
			if b.N > 1 { // the testing package's first run, of one iteration, only proves the set-up works
				names, reports = append(names, run.name), append(reports, report.rows())
			}
		})
	}
	// Printed rather than logged: a benchmark's log is cut to its first lines.
	fmt.Print(benchTable(names, reports))
}

// throughputReport is one run's figures.
type throughputReport struct {
	executions          int
	executionsPerSecond float64
	closedAck           percentiles
	cost                physicalCost
	processes           []processUsage
	openAck, openFinish percentiles
	openAchievedRate    float64
}

type percentiles struct{ p50, p99 float64 } // milliseconds

// processUsage is what one process of the set used during a phase.
type processUsage struct {
	name         string
	cpu          time.Duration
	peakRSSBytes int64
}

// benchRow is one line of the table.
type benchRow struct{ label, value string }

func (r throughputReport) rows() []benchRow {
	var rows []benchRow
	row := func(label, format string, args ...any) {
		rows = append(rows, benchRow{label, fmt.Sprintf(format, args...)})
	}
	n := float64(r.executions)
	row("executions (closed loop)", "%d", r.executions)
	row("closed loop: executions/s", "%.0f", r.executionsPerSecond)
	row("closed loop: ack p50 / p99 (ms)", "%.1f / %.1f", r.closedAck.p50, r.closedAck.p99)
	row(fmt.Sprintf("open loop %d/s: achieved calls/s", openLoopRate), "%.0f", r.openAchievedRate)
	row(fmt.Sprintf("open loop %d/s: ack p50 / p99 (ms)", openLoopRate), "%.1f / %.1f", r.openAck.p50, r.openAck.p99)
	row(fmt.Sprintf("open loop %d/s: trigger→finished p50 / p99", openLoopRate), "%.1f / %.1f", r.openFinish.p50, r.openFinish.p99)
	var cpu time.Duration
	var rss int64
	for _, p := range r.processes {
		cpu += p.cpu
		rss = max(rss, p.peakRSSBytes)
	}
	row("CPU ms per execution (all processes)", "%.3f", float64(cpu.Microseconds())/1000/n)
	for _, p := range r.processes {
		row("  "+p.name+": CPU ms per execution", "%.3f", float64(p.cpu.Microseconds())/1000/n)
	}
	row("peak RSS, largest process (MB)", "%.0f", float64(rss)/(1<<20))
	row("WAL bytes per execution", "%.0f", float64(r.cost.walBytes)/n)
	row("commits per execution", "%.2f", float64(r.cost.commits)/n)
	row("row versions per execution", "%.2f", float64(r.cost.rowVersions())/n)
	for _, t := range r.cost.tables {
		if float64(t.inserted+t.updated+t.deleted)/n < 0.005 {
			continue // the set-up's and the periodic jobs' few writes
		}
		row("  "+strings.TrimPrefix(t.name, "public.")+" ins/upd/del", "%.2f / %.2f / %.2f", float64(t.inserted)/n, float64(t.updated)/n, float64(t.deleted)/n)
	}
	return rows
}

// benchTable lays out the runs' rows side by side; a row one run lacks (a process or table of another shape)
// shows "–".
func benchTable(names []string, reports [][]benchRow) string {
	var labels []string
	values := map[string][]string{}
	for i, rows := range reports {
		for _, r := range rows {
			if _, ok := values[r.label]; !ok {
				labels = append(labels, r.label)
				values[r.label] = slices.Repeat([]string{"–"}, len(reports))
			}
			values[r.label][i] = r.value
		}
	}
	var s strings.Builder
	w := tabwriter.NewWriter(&s, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\n\t%s\t\n", strings.Join(names, "\t"))
	for _, l := range labels {
		fmt.Fprintf(w, "%s\t%s\t\n", l, strings.Join(values[l], "\t"))
	}
	_ = w.Flush()
	return s.String()
}

// runThroughputShape runs the closed loop, then the open loop, on a fresh database, each against freshly started
// processes; the processes are stopped after each phase so that their CPU time and peak RSS are final and every
// backend's pending statistics are flushed (a backend reports them when it ends).
func runThroughputShape(b *testing.B, bin string, workers int, executionPath string) throughputReport {
	dbURL := migratedDatabase(b)
	pool := connectPool(b, dbURL)
	hook := activeWebhookWorkflow(b, pool, "Bench", benchDefinition)
	if _, err := pool.Exec(context.Background(), "INSERT INTO feature_flags (name, value) VALUES ($1, to_jsonb($2::text))",
		flags.EngineExecutionPath, executionPath); err != nil {
		b.Fatal(err)
	}
	var report throughputReport

	set := startBenchSet(b, bin, dbURL, workers)
	before, startCPU := readPhysicalCost(b, pool), set.cpu(b)
	b.ResetTimer()
	start := time.Now()
	acks := sendClosedLoop(b, set.url(hook), hook.Secret, b.N)
	waitSucceeded(b, pool, b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	report.processes = set.stop()
	waitProcessBackendsGone(b, pool)
	for i := range report.processes {
		report.processes[i].cpu -= startCPU[i] // what starting took
	}
	report.cost = readPhysicalCost(b, pool).since(before)
	report.executions, report.executionsPerSecond, report.closedAck = b.N, float64(b.N)/elapsed.Seconds(), percentilesOf(acks)
	countRecorded(b, pool, b.N)

	if b.N == 1 {
		return report
	}
	set = startBenchSet(b, bin, dbURL, workers)
	sent, openAcks, rate := sendOpenLoop(b, set.url(hook), hook.Secret)
	waitSucceeded(b, pool, b.N+len(sent))
	report.openAck, report.openAchievedRate = percentilesOf(openAcks), rate
	report.openFinish = percentilesOf(finishLatencies(b, pool, sent))
	for i, p := range set.stop() {
		if p.peakRSSBytes > report.processes[i].peakRSSBytes {
			report.processes[i].peakRSSBytes = p.peakRSSBytes
		}
	}
	return report
}

// processApplication is the application_name of the benchmarked processes' connections, told apart from the
// benchmark's own.
const processApplication = "concertmaster-bench-process"

func withApplicationName(tb testing.TB, dbURL, name string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// waitProcessBackendsGone waits until the server has ended every connection of the stopped processes: a backend
// reports its pending statistics as it exits, a little after its client closed the connection, and row versions
// read before that would be short.
func waitProcessBackendsGone(tb testing.TB, pool *pgxpool.Pool) {
	deadline := time.Now().Add(time.Minute)
	for {
		var left int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, processApplication).Scan(&left); err != nil {
			tb.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d connections of the stopped processes still open after a minute", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchSet is the processes of one shape.
type benchSet struct {
	base      string
	processes []*process
}

func startBenchSet(tb testing.TB, bin, dbURL string, workers int) *benchSet {
	env := map[string]string{"DATABASE_URL": withApplicationName(tb, dbURL, processApplication), "SECRET_KEY": testSecretKey, "LOG_LEVEL": "info",
		"LISTEN_ADDR": "127.0.0.1:" + freePort(tb), "DATA_DIR": tb.TempDir(), "WORKER_CONCURRENCY": "100",
		"DATABASE_MAX_CONNS": "40", "WEBHOOK_RATE_LIMIT": "100000", "ORG_TRIGGER_RATE_LIMIT": "1000000"}
	set := &benchSet{base: "http://" + env["LISTEN_ADDR"]}
	if workers == 0 {
		set.processes = append(set.processes, startProcess(tb, "serve", bin, env, `"msg":"serving"`, "serve"))
	} else {
		set.processes = append(set.processes, startProcess(tb, "web", bin, env, `"msg":"serving"`, "serve", "--no-workers"))
		for i := range workers {
			workerEnv := map[string]string{"LISTEN_ADDR": "127.0.0.1:0"}
			for k, v := range env {
				if k != "LISTEN_ADDR" {
					workerEnv[k] = v
				}
			}
			set.processes = append(set.processes, startProcess(tb, fmt.Sprintf("worker %d", i+1), bin, workerEnv, `"msg":"workers started"`, "worker"))
		}
	}
	waitHealthy(tb, set.base)
	return set
}

func (s *benchSet) url(hook store.Webhook) string { return s.base + "/hooks/" + hook.Token }

// cpu is the CPU time each process has used so far (from /proc, in the kernel's clock ticks of 10 ms).
func (s *benchSet) cpu(tb testing.TB) []time.Duration {
	used := make([]time.Duration, len(s.processes))
	for i, p := range s.processes {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			tb.Fatal(err)
		}
		// The fields after the command name, which is in parentheses and may hold spaces: utime and stime are
		// the 14th and 15th of the line, so the 12th and 13th after it.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		for _, f := range fields[11:13] {
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				tb.Fatalf("/proc/%d/stat: %v", p.cmd.Process.Pid, err)
			}
			used[i] += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return used
}

// stop ends every process gracefully and returns what each used.
func (s *benchSet) stop() []processUsage {
	usage := make([]processUsage, 0, len(s.processes))
	for _, p := range s.processes {
		p.kill(syscall.SIGTERM)
		state := p.cmd.ProcessState
		u := processUsage{name: p.name, cpu: state.UserTime() + state.SystemTime()}
		if ru, ok := state.SysUsage().(*syscall.Rusage); ok {
			u.peakRSSBytes = ru.Maxrss << 10 // Linux reports kilobytes
		}
		usage = append(usage, u)
	}
	return usage
}

// signedRequest builds one webhook call; each carries its own order number, as real events do (the same body
// signed in the same second is a replay, which the webhook refuses).
func signedRequest(url, secret string, order int) *http.Request {
	body := []byte(fmt.Sprintf(`{"total":250,"email":"a@example.com","order":%d}`, order))
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpx.SignatureHeader, httpx.SignatureValue(secret, time.Now(), body))
	return req
}

// acceptedCall sends req and returns the accepted execution's id.
func acceptedCall(client *http.Client, req *http.Request) (uuid.UUID, error) {
	resp, err := client.Do(req)
	if err != nil {
		return uuid.Nil, err
	}
	defer resp.Body.Close()
	var accepted struct {
		ExecutionID uuid.UUID `json:"execution_id"`
	}
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return uuid.Nil, fmt.Errorf("webhook answered %d: %s", resp.StatusCode, body)
	}
	return accepted.ExecutionID, json.NewDecoder(resp.Body).Decode(&accepted)
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: time.Minute}
}

// sendClosedLoop sends n calls from benchSenders clients and returns their acknowledgement times.
func sendClosedLoop(tb testing.TB, url, secret string, n int) []time.Duration {
	client := benchClient()
	work := make(chan int, n)
	for i := range n {
		work <- i
	}
	close(work)
	var mu sync.Mutex
	acks := make([]time.Duration, 0, n)
	failures := make(chan error, benchSenders)
	var wg sync.WaitGroup
	for range benchSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for order := range work {
				req := signedRequest(url, secret, order)
				t0 := time.Now()
				if _, err := acceptedCall(client, req); err != nil {
					failures <- err
					return
				}
				mu.Lock()
				acks = append(acks, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(failures)
	for err := range failures {
		tb.Fatal(err)
	}
	return acks
}

// sendOpenLoop sends openLoopCalls calls on a fixed schedule of openLoopRate a second, each in its own goroutine,
// and returns when each accepted execution's call was sent, the acknowledgement times and the rate achieved.
func sendOpenLoop(tb testing.TB, url, secret string) (map[uuid.UUID]time.Time, []time.Duration, float64) {
	client := benchClient()
	interval := time.Second / openLoopRate
	var mu sync.Mutex
	sent := make(map[uuid.UUID]time.Time, openLoopCalls)
	acks := make([]time.Duration, 0, openLoopCalls)
	var failure error
	var wg sync.WaitGroup
	start := time.Now()
	for i := range openLoopCalls {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // pacing the load, not waiting on a result
		req := signedRequest(url, secret, 1_000_000+i)
		wg.Add(1)
		go func(t0 time.Time) {
			defer wg.Done()
			id, err := acceptedCall(client, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failure = err
				return
			}
			sent[id] = t0
			acks = append(acks, time.Since(t0))
		}(time.Now())
	}
	rate := float64(openLoopCalls) / time.Since(start).Seconds()
	wg.Wait()
	if failure != nil {
		tb.Fatal(failure)
	}
	return sent, acks, rate
}

// waitSucceeded polls until n executions have succeeded.
func waitSucceeded(tb testing.TB, pool *pgxpool.Pool, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var done int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM workflow_executions WHERE status = 'succeeded'").Scan(&done); err != nil {
			tb.Fatal(err)
		}
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d executions finished", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countRecorded checks that every execution recorded its three node runs.
func countRecorded(tb testing.TB, pool *pgxpool.Pool, executions int) {
	var runs int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM node_executions").Scan(&runs); err != nil || runs != 3*executions {
		tb.Fatalf("%d node runs recorded for %d executions (%v)", runs, executions, err)
	}
}

// finishLatencies is, for each execution in sent, the time from its call to its end as recorded.
func finishLatencies(tb testing.TB, pool *pgxpool.Pool, sent map[uuid.UUID]time.Time) []time.Duration {
	ids := make([]uuid.UUID, 0, len(sent))
	for id := range sent {
		ids = append(ids, id)
	}
	rows, err := pool.Query(context.Background(), "SELECT id, finished_at FROM workflow_executions WHERE id = ANY($1)", ids)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	latencies := make([]time.Duration, 0, len(ids))
	for rows.Next() {
		var id uuid.UUID
		var finished time.Time
		if err := rows.Scan(&id, &finished); err != nil {
			tb.Fatal(err)
		}
		latencies = append(latencies, finished.Sub(sent[id]))
	}
	if err := rows.Err(); err != nil || len(latencies) != len(ids) {
		tb.Fatalf("%d of %d executions found (%v)", len(latencies), len(ids), err)
	}
	return latencies
}

func percentilesOf(d []time.Duration) percentiles {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	return percentiles{p50: ms(d[len(d)/2]), p99: ms(d[len(d)*99/100])}
}

// physicalCost is what the database wrote: WAL, row versions per table, commits.
type physicalCost struct {
	walLSN   string // a position, read before; walBytes is filled by since
	walBytes int64
	commits  int64
	tables   []tableWrites
}

type tableWrites struct {
	name                       string
	inserted, updated, deleted int64
}

func (c physicalCost) rowVersions() int64 {
	var n int64
	for _, t := range c.tables {
		n += t.inserted + t.updated + t.deleted
	}
	return n
}

// readPhysicalCost reads the database's cumulative counters. Statistics are those every backend has reported:
// call it once the processes that wrote have ended.
func readPhysicalCost(tb testing.TB, pool *pgxpool.Pool) physicalCost {
	ctx := context.Background()
	var c physicalCost
	if _, err := pool.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		tb.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, xact_commit FROM pg_stat_database
		WHERE datname = current_database()`).Scan(&c.walLSN, &c.commits); err != nil {
		tb.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del
		FROM pg_stat_user_tables ORDER BY 1`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var t tableWrites
		if err := rows.Scan(&t.name, &t.inserted, &t.updated, &t.deleted); err != nil {
			tb.Fatal(err)
		}
		c.tables = append(c.tables, t)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	c.walBytes = walPosition(tb, pool, c.walLSN)
	return c
}

// walPosition is an LSN as a byte offset.
func walPosition(tb testing.TB, pool *pgxpool.Pool, lsn string) int64 {
	var bytes int64
	if err := pool.QueryRow(context.Background(), "SELECT pg_wal_lsn_diff($1::pg_lsn, '0/0')::bigint", lsn).Scan(&bytes); err != nil {
		tb.Fatal(err)
	}
	return bytes
}

// since is the cost from before to c, leaving out tables nothing was written to. The WAL is the cluster's: other
// databases' writes in the meantime count too, so measure on a quiet machine.
func (c physicalCost) since(before physicalCost) physicalCost {
	d := physicalCost{walBytes: c.walBytes - before.walBytes, commits: c.commits - before.commits}
	previous := map[string]tableWrites{}
	for _, t := range before.tables {
		previous[t.name] = t
	}
	for _, t := range c.tables {
		p := previous[t.name]
		w := tableWrites{name: t.name, inserted: t.inserted - p.inserted, updated: t.updated - p.updated, deleted: t.deleted - p.deleted}
		if w.inserted+w.updated+w.deleted > 0 {
			d.tables = append(d.tables, w)
		}
	}
	return d
}
