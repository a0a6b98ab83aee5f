package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/itchyny/gojq"

	"github.com/concertmaster/concertmaster/engine/value"
)

// Environment of a runner process. The pool starts runners with these and nothing else: a runner sees no
// DATABASE_URL, no SECRET_KEY, no credentials of any kind.
const (
	envRunner = "CONCERTMASTER_SANDBOX_RUNNER"
	envMemory = "CONCERTMASTER_SANDBOX_MEMORY"
)

// runnerMaxStack bounds a runner's goroutine stacks. gojq recurses in Go over deep values (tojson, comparisons,
// path expressions); past this the runtime ends the runner, which the pool reports as the stack limit.
const runnerMaxStack = 64 << 20

// watchInterval is how often a runner compares its heap with its memory limit while a program runs.
const watchInterval = 2 * time.Millisecond

// A binary that imports this package becomes a runner when started with envRunner set: the pool starts
// os.Executable() that way, so the server, the worker and every test binary can serve as their own runners
// without a second executable to ship. Nothing else in the process has started yet, and it exits when done.
func init() {
	if os.Getenv(envRunner) == "1" {
		os.Exit(serveRunner(os.Stdin, os.Stdout))
	}
}

// serveRunner answers requests from the pool until its input closes. A runner runs one program at a time.
func serveRunner(in io.Reader, out io.Writer) int {
	memory, err := strconv.ParseInt(os.Getenv(envMemory), 10, 64)
	if err != nil || memory <= 0 {
		fmt.Fprintln(os.Stderr, "sandbox runner: bad", envMemory)
		return 2
	}
	debug.SetMaxStack(runnerMaxStack)
	// The watchdog compares the heap, garbage included, with the limit; collecting at half the live heap's growth
	// rather than at its doubling keeps the garbage small. The hard limit on address space ends the runner when one
	// allocation alone is too large for the watchdog to see in time ("x" * 1000000000).
	debug.SetGCPercent(50)
	if err := limitAddressSpace(memory); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox runner:", err)
		return 2
	}
	codes, _ := simplelru.NewLRU[string, *gojq.Code](maxCachedPrograms, nil) // fails only for a size below 1
	r := &runner{memory: memory, codes: codes}
	go r.watchMemory()

	reader := bufio.NewReaderSize(in, 64<<10)
	writer := bufio.NewWriterSize(out, 64<<10)
	var body []byte
	var w frameWriter
	for {
		body, err = readFrame(reader, body)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "sandbox runner:", err)
			return 2
		}
		req, err := readJQRequest(body)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sandbox runner:", err)
			return 2
		}
		r.run(req, &w)
		if err := w.send(writer); err != nil {
			return 2
		}
		if err := writer.Flush(); err != nil {
			return 2
		}
	}
}

// limitAddressSpace caps the runner's virtual memory at what it has mapped now (the Go runtime reserves about a
// gigabyte of address space at start, most of it never touched) plus twice its memory limit.
func limitAddressSpace(memory int64) error {
	if raceEnabled {
		return nil // the race detector reserves terabytes of shadow memory
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil // not Linux: the watchdog alone bounds memory
	}
	var mapped uint64
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return fmt.Errorf("reading VmSize: %w", err)
			}
			mapped = kb << 10
		}
	}
	if mapped == 0 {
		return nil
	}
	limit := mapped + 2*uint64(memory) + 64<<20
	return syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
}

type runner struct {
	memory int64

	mu     sync.Mutex
	cancel context.CancelCauseFunc // of the program running now, nil between programs

	// codes holds compiled programs, least recently used first out. A runner serves one request at a time, so the
	// cache needs no lock of its own.
	codes *simplelru.LRU[string, *gojq.Code]
}

var errMemory = errors.New("memory")

// watchMemory cancels the running program once the heap outgrows the limit. gojq checks its context at every
// instruction, so the program stops within an instruction or one builtin call; the runner then frees the memory
// and serves the next request.
func (r *runner) watchMemory() {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for range time.Tick(watchInterval) {
		metrics.Read(sample)
		if int64(sample[0].Value.Uint64()) <= r.memory {
			continue
		}
		r.mu.Lock()
		if r.cancel != nil {
			r.cancel(errMemory)
		}
		r.mu.Unlock()
	}
}

// maxCachedPrograms bounds the compiled programs a runner keeps.
const maxCachedPrograms = 512

func (r *runner) compile(req *jqRequest) (*gojq.Code, error) {
	key := req.Program + "\x00" + strings.Join(req.VarNames, ",")
	if code, ok := r.codes.Get(key); ok {
		return code, nil
	}
	parsed, err := gojq.Parse(req.Program)
	if err != nil {
		return nil, err
	}
	// No environment loader and no input iterator: $ENV is empty and `input` is refused, so a program reads
	// nothing but its arguments.
	code, err := gojq.Compile(parsed, gojq.WithVariables(req.VarNames))
	if err != nil {
		return nil, err
	}
	r.codes.Add(key, code)
	return code, nil
}

// run runs one request and writes its response into w.
func (r *runner) run(req *jqRequest, w *frameWriter) {
	w.reset()
	values, err := r.eval(req)
	var limit *value.LimitError
	switch {
	case err == nil:
		w.buf = append(w.buf, statusOK)
		w.bytes(values)
	case errors.As(err, &limit):
		w.buf = append(w.buf, statusLimit)
		w.string(limit.Limit)
		w.string(limit.Message)
	default:
		w.buf = append(w.buf, statusProgramError)
		w.string(err.Error())
	}
}

func (r *runner) eval(req *jqRequest) (out []byte, err error) {
	code, err := r.compile(req)
	if err != nil {
		return nil, err
	}
	input, err := value.Decode(req.Input, req.MaxDepth)
	if err != nil {
		return nil, err
	}
	vars := make([]any, len(req.Vars))
	for i, raw := range req.Vars {
		if vars[i], err = value.Decode(raw, req.MaxDepth); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	ctx, stop := context.WithTimeoutCause(ctx, req.Timeout, errTimeout)
	r.mu.Lock()
	r.cancel = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancel = nil
		r.mu.Unlock()
		stop()
		cancel(nil)
		if errors.Is(err, errMemory) || (err != nil && value.IsLimit(err)) {
			// Give what the program built back before the next one starts.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}()

	out = append(out, '[')
	count := 0
	iter := code.RunWithContext(ctx, input, vars...)
	for {
		v, ok := iter.Next()
		if !ok {
			break
		}
		if e, isErr := v.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(e, &halt) && halt.Value() == nil {
				break
			}
			if ctx.Err() != nil {
				return nil, r.limitOf(context.Cause(ctx), req)
			}
			return nil, e
		}
		if count == req.MaxResults {
			return nil, &value.LimitError{Limit: value.LimitResults,
				Message: fmt.Sprintf("jq program emitted more than %d values", req.MaxResults)}
		}
		if count > 0 {
			out = append(out, ',')
		}
		count++
		if out, err = value.AppendJSON(out, v, req.MaxDepth, req.MaxBytes); err != nil {
			return nil, outputLimit(err, req)
		}
		if err := context.Cause(ctx); err != nil {
			return nil, r.limitOf(err, req)
		}
	}
	return append(out, ']'), nil
}

var errTimeout = errors.New("timeout")

func (r *runner) limitOf(cause error, req *jqRequest) error {
	switch {
	case errors.Is(cause, errMemory):
		return memoryError(r.memory)
	case errors.Is(cause, errTimeout):
		return timeError(req.Timeout)
	}
	return cause
}

// outputLimit words an encoding limit for the jq program's author.
func outputLimit(err error, req *jqRequest) error {
	return OutputLimit(err, req.MaxDepth, req.MaxBytes)
}

// OutputLimit words an error from encoding a jq program's results for the program's author, naming the limit
// (EVAL_MAX_DEPTH, EVAL_MAX_OUTPUT_BYTES) it went past; other errors are returned as they are. Every way a jq
// program runs (in a runner, or in process for the simplest programs) words it so.
func OutputLimit(err error, maxDepth, maxBytes int) error {
	var le *value.LimitError
	if !errors.As(err, &le) {
		return err
	}
	switch le.Limit {
	case value.LimitDepth:
		return &value.LimitError{Limit: le.Limit,
			Message: fmt.Sprintf("jq program built a value nested deeper than EVAL_MAX_DEPTH (%d levels)", maxDepth)}
	case value.LimitOutput:
		return &value.LimitError{Limit: le.Limit,
			Message: fmt.Sprintf("jq program's output is larger than EVAL_MAX_OUTPUT_BYTES (%d bytes)", maxBytes)}
	}
	return err
}

func timeError(d time.Duration) *value.LimitError {
	return &value.LimitError{Limit: value.LimitTime, Message: fmt.Sprintf("jq program ran longer than %s", d)}
}

// memoryError is the error for a program that outgrew a runner's memory limit.
func memoryError(limit int64) *value.LimitError {
	return &value.LimitError{Limit: value.LimitMemory, Message: fmt.Sprintf("jq program used more than %d MiB of memory", limit>>20)}
}
