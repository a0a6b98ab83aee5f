package sandbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The runner protocol: each message is a frame, a 4-byte big-endian length and that many bytes, read and written
// over the runner's standard input and output. A frame is a sequence of fields, each a 4-byte length (or a
// 4-byte number) and its bytes. It is private to this package, whose two halves always come from one binary.

// maxFrame bounds a frame either side reads, so that a confused peer cannot make the other allocate without end.
const maxFrame = 1 << 30

// jqRequest asks a runner to run one jq program.
type jqRequest struct {
	Program    string
	VarNames   []string
	Input      []byte   // JSON
	Vars       [][]byte // JSON, one per VarNames entry
	Timeout    time.Duration
	MaxResults int
	MaxDepth   int
	MaxBytes   int
}

// Response statuses.
const (
	statusOK           byte = iota // payload: a JSON array of the program's values
	statusProgramError             // payload: the program's error message
	statusLimit                    // payload: limit name, 0, message
)

type frameWriter struct {
	buf []byte
}

func (f *frameWriter) reset() { f.buf = append(f.buf[:0], 0, 0, 0, 0) }

func (f *frameWriter) uint(n int) { f.buf = binary.BigEndian.AppendUint32(f.buf, uint32(n)) }

func (f *frameWriter) bytes(b []byte) {
	f.uint(len(b))
	f.buf = append(f.buf, b...)
}

func (f *frameWriter) string(s string) {
	f.uint(len(s))
	f.buf = append(f.buf, s...)
}

// send writes the frame: its length first, then its fields.
func (f *frameWriter) send(w io.Writer) error {
	binary.BigEndian.PutUint32(f.buf[:4], uint32(len(f.buf)-4))
	_, err := w.Write(f.buf)
	return err
}

// readFrame reads one frame's body into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return buf, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > maxFrame {
		return buf, fmt.Errorf("sandbox: frame of %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	return buf, nil
}

// frameReader reads the fields of a frame in order; the first malformed field sets err and every later read
// returns zero values.
type frameReader struct {
	b   []byte
	err error
}

func (f *frameReader) uint() int {
	if f.err != nil || len(f.b) < 4 {
		f.err = errors.New("sandbox: short frame")
		return 0
	}
	n := binary.BigEndian.Uint32(f.b)
	f.b = f.b[4:]
	return int(n)
}

func (f *frameReader) bytes() []byte {
	n := f.uint()
	if f.err != nil || n > len(f.b) {
		f.err = errors.New("sandbox: short frame")
		return nil
	}
	out := f.b[:n:n]
	f.b = f.b[n:]
	return out
}

func (f *frameReader) string() string { return string(f.bytes()) }

func (w *frameWriter) jqRequest(req *jqRequest) {
	w.reset()
	w.string(req.Program)
	w.uint(int(req.Timeout / time.Millisecond))
	w.uint(req.MaxResults)
	w.uint(req.MaxDepth)
	w.uint(req.MaxBytes)
	w.bytes(req.Input)
	w.uint(len(req.VarNames))
	for i, name := range req.VarNames {
		w.string(name)
		w.bytes(req.Vars[i])
	}
}

func readJQRequest(body []byte) (*jqRequest, error) {
	r := frameReader{b: body}
	req := &jqRequest{Program: r.string()}
	req.Timeout = time.Duration(r.uint()) * time.Millisecond
	req.MaxResults = r.uint()
	req.MaxDepth = r.uint()
	req.MaxBytes = r.uint()
	req.Input = r.bytes()
	n := r.uint()
	if r.err == nil && n > 64 {
		return nil, errors.New("sandbox: too many variables")
	}
	for range n {
		req.VarNames = append(req.VarNames, r.string())
		req.Vars = append(req.Vars, r.bytes())
	}
	return req, r.err
}
