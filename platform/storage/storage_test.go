package storage_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
)

func newLocal(t *testing.T, opts storage.LocalOptions) (*storage.Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := storage.NewLocal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// TestLocalBackendSuite runs the suite every backend passes on a directory.
func TestLocalBackendSuite(t *testing.T) {
	t.Parallel()
	storagetest.RunBackendSuite(t, func(t *testing.T, maxBytes int64) (storage.Backend, func() []string) {
		l, dir := newLocal(t, storage.LocalOptions{MaxBytes: maxBytes})
		return l, func() []string { return storedFiles(t, dir) }
	})
}

// TestLocalKeepsToItsDirectory: the file is under its generated key, not the name given, and no key reaches a file
// outside the directory.
func TestLocalKeepsToItsDirectory(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t, storage.LocalOptions{})
	ctx := context.Background()
	obj, err := l.PutObject(ctx, "../../etc/passwd", "text/plain", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, obj.Key[:2], obj.Key)); err != nil {
		t.Fatalf("file not under its key: %v", err)
	}
	outside := filepath.Join(filepath.Dir(dir), "secret.txt")
	_ = os.WriteFile(outside, []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "notakey"), []byte("x"), 0o600)
	for _, key := range []string{"../secret.txt", "notakey", "ab/../../secret.txt"} {
		if _, err := l.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): %v", key, err)
		}
		_ = l.Delete(ctx, key)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Error("Delete reached outside the root")
	}
	if _, err := os.Stat(filepath.Join(dir, "notakey")); err != nil {
		t.Error("Delete removed a file that is not a key")
	}
}

// TestFullDiskKeepsNothing fills a real (tmpfs) disk: a file that does not fit is refused with
// fault.InsufficientStorage, leaving neither a temporary nor a final file, and the same file fits once space is
// freed.
func TestFullDiskKeepsNothing(t *testing.T) {
	t.Parallel()
	dir := storagetest.SmallDisk(t, 1<<20)
	l, err := storage.NewLocal(dir, storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 200<<10)

	noFiller := func() (free func()) { return func() {} }
	for _, c := range []struct {
		name    string
		payload []byte
		fill    func() (free func())
	}{
		{"larger than the disk", bytes.Repeat(data, 8), noFiller},
		{"disk already full", data, func() func() {
			filler := storagetest.Fill(t, dir)
			return func() { os.Remove(filler) }
		}},
	} {
		free := c.fill()
		_, err := l.PutObject(ctx, "report.csv", "text/csv", bytes.NewReader(c.payload))
		if fault.CodeOf(err) != fault.InsufficientStorage {
			t.Fatalf("%s: err %v, want an InsufficientStorage fault", c.name, err)
		}
		if msg := fault.As(err).Message; !strings.Contains(msg, "no space left") {
			t.Errorf("%s: message %q does not say the disk is full", c.name, msg)
		}
		if got := storedFiles(t, dir); len(got) != 0 && !(len(got) == 1 && got[0] == "filler") {
			t.Errorf("%s: files left behind: %v", c.name, got)
		}
		free()
	}
	obj, err := l.PutObject(ctx, "report.csv", "text/csv", bytes.NewReader(data))
	if err != nil || obj.Size != int64(len(data)) {
		t.Fatalf("after space was freed: %+v, %v", obj, err)
	}
}

// storedFiles lists every regular file under dir, relative to it.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
