// Package sandbox runs jq programs written by workflow authors in separate runner processes under operating-system
// limits, so that nothing a program does — recurse without end, allocate gigabytes in one call, build a value a
// million levels deep — can crash, stall or starve the process that serves every organization.
//
// jq is a full programming language (recursion, generators, string repetition), and gojq evaluates it in Go code
// that allocates and recurses freely; a Go process cannot bound one goroutine's memory or stack, and a stack
// overflow or an out-of-memory error ends the whole process. So jq runs here, in a pool of runner processes
// (os.Executable() started with a marker in its environment, see runner.go) with a heap watchdog, a soft and a
// hard memory limit, a small maximum stack and one CPU each; a runner that dies takes only its own evaluation
// with it, and the pool starts another. Expressions and templates (expr-lang) stay in the calling process: that
// language has no recursion or unbounded loop, and the engine bounds what it can build and how long it can run.
//
// This package imports nothing of the engine; the engine passes programs and JSON in and gets JSON back.
package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/concertmaster/concertmaster/engine/value"
)

// Limits bound one evaluation of author-written code. The zero value of a field means its default.
type Limits struct {
	// Timeout bounds one evaluation's running time (default 2 s).
	Timeout time.Duration
	// Memory bounds what one evaluation may hold: a jq runner's heap, and the bytes one expression may build
	// (default 128 MiB).
	Memory int64
	// MaxDepth bounds how deeply values may nest, wherever they come from (default 128).
	MaxDepth int
	// MaxBytes bounds one evaluation's encoded result (default 8 MiB).
	MaxBytes int
	// MaxResults bounds how many values one jq program may emit (default 100,000).
	MaxResults int
}

// Defaults fills in the zero fields.
func (l Limits) Defaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = 2 * time.Second
	}
	if l.Memory <= 0 {
		l.Memory = 128 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 128
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 8 << 20
	}
	if l.MaxResults <= 0 {
		l.MaxResults = 100_000
	}
	return l
}

// killGrace is how long past its timeout a runner may take to answer before it is killed. A runner stops a
// program that runs out of time itself (gojq checks its context at every instruction) and stays alive; only one
// stuck inside a single builtin call needs killing.
const killGrace = time.Second

// Options configure a Pool.
type Options struct {
	Limits Limits
	// Runners bounds how many runner processes run at once, and so how many jq programs (default 4). Each uses
	// at most one CPU and Limits.Memory of heap.
	Runners int
	// Logger receives what a runner printed before it died (default: discarded).
	Logger *slog.Logger
}

// Pool runs jq programs in runner processes, starting them on first use and reusing them.
type Pool struct {
	limits Limits
	logger *slog.Logger
	exe    string
	turns  *turns

	mu     sync.Mutex
	idle   []*process
	closed bool
}

// NewPool returns a pool; no runner starts until the first program.
func NewPool(opts Options) *Pool {
	if opts.Runners <= 0 {
		opts.Runners = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return &Pool{limits: opts.Limits.Defaults(), logger: opts.Logger, exe: exe, turns: newTurns(opts.Runners)}
}

// Limits returns the pool's limits, defaults filled in.
func (p *Pool) Limits() Limits { return p.limits }

// Close ends the idle runners; runners in use end when their program returns.
func (p *Pool) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, proc := range idle {
		proc.stop()
	}
	return nil
}

// ErrClosed is returned for programs run after Close.
var ErrClosed = errors.New("sandbox: pool closed")

// JQ is one run of a jq program.
type JQ struct {
	Program string
	// VarNames are the program's variables ($trigger …) and Vars their values as JSON, in the same order.
	VarNames []string
	Vars     [][]byte
	// Input is `.`, as JSON.
	Input []byte
	// Timeout, when positive and shorter than the pool's, bounds this run instead.
	Timeout time.Duration
	// Tenant is whose turn the run waits for when every runner is busy (an organization): turns go round the
	// tenants that wait, so one tenant's backlog of slow programs delays another's by at most one program each.
	Tenant string
}

// RunJQ runs a program and returns the values it emitted as one JSON array. Errors: the program's own (its
// message), a *value.LimitError naming the limit it went past, ctx's error when ctx ended first (the runner is
// killed at once, so its CPU stops), or ErrClosed.
func (p *Pool) RunJQ(ctx context.Context, run JQ) ([]byte, error) {
	if err := p.turns.wait(ctx, run.Tenant); err != nil {
		return nil, err
	}
	defer p.turns.done()
	proc, err := p.take()
	if err != nil {
		return nil, err
	}
	timeout := p.limits.Timeout
	if run.Timeout > 0 && run.Timeout < timeout {
		timeout = run.Timeout
	}
	out, err := proc.run(ctx, &jqRequest{
		Program: run.Program, VarNames: run.VarNames, Input: run.Input, Vars: run.Vars, Timeout: timeout,
		MaxResults: p.limits.MaxResults, MaxDepth: p.limits.MaxDepth, MaxBytes: p.limits.MaxBytes,
	})
	if proc.dead {
		err = p.explain(ctx, proc, err, timeout)
	} else {
		p.give(proc)
	}
	return out, err
}

// explain turns the death of a runner into the error its program gets.
func (p *Pool) explain(ctx context.Context, proc *process, err error, timeout time.Duration) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return timeError(timeout)
	}
	stderr := proc.stderr.String()
	switch {
	case strings.Contains(stderr, "out of memory"):
		return memoryError(p.limits.Memory)
	case strings.Contains(stderr, "stack overflow") || strings.Contains(stderr, "stack exceeds"):
		return &value.LimitError{Limit: value.LimitStack, Message: "jq program recursed deeper than its stack allows"}
	}
	p.logger.Error("sandbox: jq runner stopped", "error", err, "stderr", stderr)
	return fmt.Errorf("jq runner stopped unexpectedly: %w", err)
}

func (p *Pool) take() (*process, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		proc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return proc, nil
	}
	p.mu.Unlock()
	return p.start()
}

func (p *Pool) give(proc *process) {
	p.mu.Lock()
	if !p.closed {
		p.idle = append(p.idle, proc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	proc.stop()
}

// process is one runner.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	reader *bufio.Reader
	stderr *head
	exited chan struct{}
	dead   bool

	w    frameWriter
	body []byte
}

func (p *Pool) start() (*process, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	proc := &process{stdin: inW, stdout: outR, reader: bufio.NewReaderSize(outR, 64<<10), stderr: &head{}, exited: make(chan struct{})}
	proc.cmd = exec.Command(p.exe)
	proc.cmd.Env = []string{
		envRunner + "=1",
		envMemory + "=" + strconv.FormatInt(p.limits.Memory, 10),
		"GOMAXPROCS=1", // one CPU per runner
	}
	proc.cmd.Stdin, proc.cmd.Stdout, proc.cmd.Stderr = inR, outW, proc.stderr
	proc.cmd.SysProcAttr = runnerAttrs()
	err = proc.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("sandbox: starting a runner: %w", err)
	}
	go func() {
		proc.cmd.Wait()
		close(proc.exited)
	}()
	return proc, nil
}

// run sends one request and reads its answer, killing the runner if ctx ends or the answer is late.
func (proc *process) run(ctx context.Context, req *jqRequest) ([]byte, error) {
	if err := proc.stdout.SetReadDeadline(time.Now().Add(req.Timeout + killGrace)); err != nil {
		proc.kill()
		return nil, err
	}
	// Cancelling interrupts the read at once; the runner is then killed, which stops its CPU.
	stopAfter := context.AfterFunc(ctx, func() { proc.stdout.SetReadDeadline(time.Now()) })
	defer stopAfter()

	proc.w.jqRequest(req)
	if err := proc.w.send(proc.stdin); err != nil {
		proc.kill()
		return nil, err
	}
	body, err := readFrame(proc.reader, proc.body)
	proc.body = body
	if err != nil {
		proc.kill()
		return nil, err
	}
	if len(body) == 0 {
		proc.kill()
		return nil, errors.New("sandbox: empty answer")
	}
	r := frameReader{b: body[1:]}
	switch body[0] {
	case statusOK:
		out := r.bytes()
		return append([]byte(nil), out...), r.err
	case statusLimit:
		limit, msg := r.string(), r.string()
		return nil, &value.LimitError{Limit: limit, Message: msg}
	case statusProgramError:
		return nil, errors.New(r.string())
	}
	proc.kill()
	return nil, fmt.Errorf("sandbox: answer of unknown status %d", body[0])
}

// kill ends the runner and waits for it, so that the caller sees its last words in stderr.
func (proc *process) kill() {
	proc.dead = true
	proc.cmd.Process.Kill()
	<-proc.exited
	proc.stdin.Close()
	proc.stdout.Close()
}

// stop ends an idle runner: closing its input makes it exit.
func (proc *process) stop() {
	proc.dead = true
	proc.stdin.Close()
	select {
	case <-proc.exited:
	case <-time.After(time.Second):
		proc.cmd.Process.Kill()
		<-proc.exited
	}
	proc.stdout.Close()
}

// head keeps the first few kilobytes a runner wrote to stderr: the Go runtime's fatal errors say what happened in
// their first lines ("fatal error: out of memory", "stack overflow") before pages of goroutine traces.
type head struct {
	mu  sync.Mutex
	buf []byte
}

const headBytes = 4 << 10

func (t *head) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := headBytes - len(t.buf); room > 0 {
		t.buf = append(t.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (t *head) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
