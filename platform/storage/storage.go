// Package storage keeps files (uploads, form attachments, exports) outside the database, which holds only their
// metadata (the uploads table). Files are addressed by keys the backend generates itself; a name a user chose is
// metadata, never part of a path.
package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"syscall"
	"time"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Object describes a stored file.
type Object struct {
	// Key is the file's reference: what Open, Stat and Delete take and what the uploads row stores.
	Key string
	// Size and SHA256 are computed while the file streams in; Stat fills only Size and ModTime, the digest being
	// kept with the uploads row.
	Size    int64
	SHA256  []byte
	ModTime time.Time
}

// Backend stores files. Every implementation streams: neither PutObject nor Open holds a whole file in memory.
type Backend interface {
	// Open streams a stored file; the caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// OpenRange streams the bytes of a stored file from offset on, at most length of them (all the rest when length
	// is negative), so a large file can be read in pieces that each start where the last one stopped. An offset at
	// or past the end gives an empty stream.
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// PutObject stores r and describes what was stored. name and contentType are hints for backends that keep
	// metadata; the key is always generated.
	PutObject(ctx context.Context, name, contentType string, r io.Reader) (Object, error)
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes a file; deleting one that is not there is not an error, so a sweep can be repeated.
	Delete(ctx context.Context, key string) error
}

// Errors.
var (
	// ErrNotFound: no file has this key (or the key is not one this backend could have made).
	ErrNotFound = fault.New(fault.NotFound, "file not found")
	// ErrTooLarge: the file passed the backend's size limit; nothing was kept.
	ErrTooLarge = fault.New(fault.TooLarge, "the file is larger than allowed")
)

// noSpaceMessage is what a user is told when the disk that keeps files is full.
const noSpaceMessage = "There is no space left to store files; nothing was kept. Try again later, or ask an administrator to free space."

// diskError wraps a failed file system call of op. A full disk or an exhausted quota (ENOSPC, EDQUOT) becomes a
// fault.InsufficientStorage, which the HTTP layer answers with 507 and nodes report with a message that says so;
// any other failure stays internal. The fault's cause is the bare errno: a node's error, which its author reads,
// does not show where DATA_DIR is.
func diskError(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOSPC || errno == syscall.EDQUOT) {
		return fault.Wrap(fmt.Errorf("storage: %s: %w", op, errno), fault.InsufficientStorage, noSpaceMessage)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// keyPattern is the only shape of key Local makes and accepts: 32 lowercase hex digits. Checking it before any
// file system call is what makes path traversal impossible (no separator, no dot, no NUL can pass).
var keyPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidKey reports whether key has the shape of a generated key.
func ValidKey(key string) bool { return keyPattern.MatchString(key) }

// NewKey returns a fresh random key (128 bits, so keys are unguessable as well as unique).
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Local stores files in a directory (DATA_DIR): each under a two-character fan-out directory named after its key,
// written to a temporary file first and renamed into place, so a reader never sees a half-written file and a
// crash leaves only a temporary file behind. Every access goes through an os.Root, a second wall behind the key
// check: no name can reach outside the directory.
type Local struct {
	root *os.Root
	// maxBytes bounds one file; 0 is unlimited.
	maxBytes int64
}

// LocalOptions configures a Local backend.
type LocalOptions struct {
	// MaxBytes bounds the size of one file; 0 means no limit.
	MaxBytes int64
}

const tmpDir = "tmp"

// NewLocal opens (creating it when missing) the directory dir as a file store.
func NewLocal(dir string, opts LocalOptions) (*Local, error) {
	if dir == "" {
		return nil, errors.New("storage: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	if err := root.MkdirAll(tmpDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("storage: create %s/%s: %w", dir, tmpDir, err)
	}
	return &Local{root: root, maxBytes: opts.MaxBytes}, nil
}

// Close releases the directory handle.
func (l *Local) Close() error { return l.root.Close() }

// path maps a key to its file; the key must have been checked.
func path(key string) string { return key[:2] + "/" + key }

// PutObject implements Backend. The SHA-256 and size are computed as the bytes stream to disk; the file is synced
// before it is renamed into place so that a key handed out always names a complete file. Whatever fails on the way
// (the reader, a full disk at write, sync or rename), the temporary file is removed: nothing half-written stays.
func (l *Local) PutObject(ctx context.Context, _, _ string, r io.Reader) (obj Object, err error) {
	key := NewKey()
	tmpName := tmpDir + "/" + key
	f, err := l.root.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Object{}, diskError("create", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = l.root.Remove(tmpName)
		}
	}()

	h := sha256.New()
	src := io.Reader(&contextReader{ctx: ctx, r: r})
	if l.maxBytes > 0 {
		src = io.LimitReader(src, l.maxBytes+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return Object{}, diskError("write", err)
	}
	if l.maxBytes > 0 && n > l.maxBytes {
		return Object{}, ErrTooLarge
	}
	if err := f.Sync(); err != nil {
		return Object{}, diskError("sync", err)
	}
	if err := f.Close(); err != nil {
		return Object{}, diskError("close", err)
	}
	if err := l.root.MkdirAll(key[:2], 0o700); err != nil {
		return Object{}, diskError("create directory", err)
	}
	if err := l.root.Rename(tmpName, path(key)); err != nil {
		return Object{}, diskError("rename", err)
	}
	return Object{Key: key, Size: n, SHA256: h.Sum(nil), ModTime: time.Now()}, nil
}

// Open implements Backend. The caller reads the file as a stream and must close it.
func (l *Local) Open(_ context.Context, key string) (io.ReadCloser, error) {
	if !ValidKey(key) {
		return nil, ErrNotFound
	}
	f, err := l.root.Open(path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	return f, nil
}

// OpenRange implements Backend.
func (l *Local) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fault.New(fault.Invalid, "a file offset cannot be negative")
	}
	rc, err := l.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: seek: %w", err)
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Stat implements Backend.
func (l *Local) Stat(_ context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return Object{}, ErrNotFound
	}
	fi, err := l.root.Stat(path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, fmt.Errorf("storage: stat: %w", err)
	}
	return Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete implements Backend.
func (l *Local) Delete(_ context.Context, key string) error {
	if !ValidKey(key) {
		return nil
	}
	err := l.root.Remove(path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete: %w", err)
	}
	return nil
}

// contextReader stops a copy when its context ends, so a canceled node does not keep writing a large export.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
