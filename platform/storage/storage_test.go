package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
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

func TestPutStreamsAndDescribes(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t, storage.LocalOptions{})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB, streamed through a reader that is not a buffer
	obj, err := l.PutObject(ctx, "../../etc/passwd", "text/plain", io.MultiReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if obj.Size != int64(len(data)) || !bytes.Equal(obj.SHA256, want[:]) || !storage.ValidKey(obj.Key) {
		t.Fatalf("object %+v", obj)
	}
	// The user's name is not a path: the file is under its generated key, and nothing escaped the root.
	if _, err := os.Stat(filepath.Join(dir, obj.Key[:2], obj.Key)); err != nil {
		t.Fatalf("file not under its key: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	rc, err := l.Open(ctx, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Error("read back differs")
	}
	st, err := l.Stat(ctx, obj.Key)
	if err != nil || st.Size != obj.Size {
		t.Errorf("stat %+v %v", st, err)
	}
	if err := l.Delete(ctx, obj.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("open after delete: %v", err)
	}
	if err := l.Delete(ctx, obj.Key); err != nil {
		t.Errorf("second delete: %v", err)
	}
}

func TestOpenRangeReadsThePiecesOfAFile(t *testing.T) {
	t.Parallel()
	l, _ := newLocal(t, storage.LocalOptions{})
	ctx := context.Background()
	data := []byte("0123456789abcdefghij")
	obj, err := l.PutObject(ctx, "f.txt", "text/plain", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		offset, length int64
		want           string
	}{
		{0, 5, "01234"}, {5, 5, "56789"}, {18, 10, "ij"}, {10, -1, "abcdefghij"}, {20, 5, ""}, {99, -1, ""},
	} {
		rc, err := l.OpenRange(ctx, obj.Key, c.offset, c.length)
		if err != nil {
			t.Fatalf("OpenRange(%d, %d): %v", c.offset, c.length, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != c.want {
			t.Errorf("OpenRange(%d, %d) = %q, %v; want %q", c.offset, c.length, got, err, c.want)
		}
	}
	if _, err := l.OpenRange(ctx, obj.Key, -1, 1); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("negative offset: %v", err)
	}
	if _, err := l.OpenRange(ctx, storage.NewKey(), 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
}

func TestMaxSizeKeepsNothing(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t, storage.LocalOptions{MaxBytes: 10})
	ctx := context.Background()
	if _, err := l.PutObject(ctx, "ok.txt", "", strings.NewReader("0123456789")); err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	if _, err := l.PutObject(ctx, "big.txt", "", strings.NewReader("0123456789X")); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("temporary file left after refusing: %v", entries)
	}
}

func TestKeysOutsideTheGeneratedShapeAreRefused(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t, storage.LocalOptions{})
	ctx := context.Background()
	// A file outside the root and one inside it under a name that is not a key: neither is reachable.
	outside := filepath.Join(filepath.Dir(dir), "secret.txt")
	_ = os.WriteFile(outside, []byte("x"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "notakey"), []byte("x"), 0o600)
	for _, key := range []string{"", "../secret.txt", "../../etc/passwd", "/etc/passwd", "notakey", "tmp/x",
		"ab/../../secret.txt", strings.Repeat("a", 31) + "/", strings.Repeat("A", 32), strings.Repeat("a", 32) + "\x00"} {
		if _, err := l.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): %v", key, err)
		}
		if _, err := l.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q): %v", key, err)
		}
		_ = l.Delete(ctx, key)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Error("Delete reached outside the root")
	}
}

func TestCanceledPutKeepsNothing(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t, storage.LocalOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.PutObject(ctx, "x", "", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("temporary file left: %v", entries)
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
