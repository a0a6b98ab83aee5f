package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/storage"
)

// Factory makes a fresh, empty backend for one test, refusing files over maxBytes (0: no limit), and a function
// listing everything it keeps: finished files and whatever a write leaves on the way (temporary files, unfinished
// multipart uploads), so the suite can check that a refused or failed write keeps nothing.
type Factory func(t *testing.T, maxBytes int64) (b storage.Backend, stored func() []string)

// RunBackendSuite checks what every Backend promises (the Backend interface's comments), the same way for each:
// local disk and S3 alike.
func RunBackendSuite(t *testing.T, newBackend Factory) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, newBackend Factory)
	}{
		{"PutStreamsAndDescribes", suitePut},
		{"LargeFileRoundTrips", suiteLargeFile},
		{"EmptyFile", suiteEmptyFile},
		{"OpenRangeReadsThePiecesOfAFile", suiteOpenRange},
		{"MaxSizeKeepsNothing", suiteMaxSize},
		{"KeysOutsideTheGeneratedShapeAreRefused", suiteBadKeys},
		{"CanceledPutKeepsNothing", suiteCanceled},
		{"FailingReaderKeepsNothing", suiteFailingReader},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newBackend)
		})
	}
}

// readAll reads the whole file of key.
func readAll(t *testing.T, b storage.Backend, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got
}

func suitePut(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 0)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB, streamed through a reader that is not a buffer
	obj, err := b.PutObject(ctx, "../../etc/passwd", "text/plain", io.MultiReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if obj.Size != int64(len(data)) || !bytes.Equal(obj.SHA256, want[:]) || !storage.ValidKey(obj.Key) {
		t.Fatalf("object %+v", obj)
	}
	// The user's name is not part of where the file went: exactly one thing is kept, named after the key.
	if got := stored(); len(got) != 1 || !strings.HasSuffix(got[0], obj.Key) || strings.Contains(got[0], "passwd") {
		t.Fatalf("kept %v, want one file named after %s", got, obj.Key)
	}
	if !bytes.Equal(readAll(t, b, obj.Key), data) {
		t.Error("read back differs")
	}
	st, err := b.Stat(ctx, obj.Key)
	if err != nil || st.Size != obj.Size || st.Key != obj.Key || st.ModTime.IsZero() {
		t.Errorf("stat %+v %v", st, err)
	}
	if err := b.Delete(ctx, obj.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("open after delete: %v", err)
	}
	if _, err := b.Stat(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("stat after delete: %v", err)
	}
	if err := b.Delete(ctx, obj.Key); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if got := stored(); len(got) != 0 {
		t.Errorf("kept after delete: %v", got)
	}
}

// suiteLargeFile streams a file of several multipart parts (S3's parts are 5 to 16 MiB) from a generator, so
// neither side holds it whole, and reads it back and in a range across a part boundary.
func suiteLargeFile(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 0)
	ctx := context.Background()
	const size = 23<<20 + 12345
	gen := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }
	h := sha256.New()
	_, _ = io.Copy(h, gen())
	obj, err := b.PutObject(ctx, "big.bin", "application/octet-stream", gen())
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != size || !bytes.Equal(obj.SHA256, h.Sum(nil)) {
		t.Fatalf("object %+v, want %d bytes", obj, size)
	}
	rc, err := b.Open(ctx, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	h2 := sha256.New()
	n, err := io.Copy(h2, rc)
	rc.Close()
	if err != nil || n != size || !bytes.Equal(h2.Sum(nil), obj.SHA256) {
		t.Fatalf("read back %d bytes (%v), digest matches: %v", n, err, bytes.Equal(h2.Sum(nil), obj.SHA256))
	}
	offset := int64(16<<20 - 100)
	want := make([]byte, 200)
	src := gen()
	_, _ = io.CopyN(io.Discard, src, offset)
	_, _ = io.ReadFull(src, want)
	rc, err = b.OpenRange(ctx, obj.Key, offset, 200)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) {
		t.Errorf("range across a part boundary differs (%d bytes)", len(got))
	}
	if got := stored(); len(got) != 1 {
		t.Errorf("kept %v, want the one file", got)
	}
}

func suiteEmptyFile(t *testing.T, newBackend Factory) {
	b, _ := newBackend(t, 0)
	ctx := context.Background()
	obj, err := b.PutObject(ctx, "empty.txt", "", strings.NewReader(""))
	if err != nil || obj.Size != 0 {
		t.Fatalf("put empty: %+v %v", obj, err)
	}
	if got := readAll(t, b, obj.Key); len(got) != 0 {
		t.Errorf("read %q", got)
	}
	rc, err := b.OpenRange(ctx, obj.Key, 0, 5)
	if err != nil {
		t.Fatalf("range of an empty file: %v", err)
	}
	if got, _ := io.ReadAll(rc); len(got) != 0 {
		t.Errorf("range read %q", got)
	}
	rc.Close()
}

func suiteOpenRange(t *testing.T, newBackend Factory) {
	b, _ := newBackend(t, 0)
	ctx := context.Background()
	data := []byte("0123456789abcdefghij")
	obj, err := b.PutObject(ctx, "f.txt", "text/plain", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		offset, length int64
		want           string
	}{
		{0, 5, "01234"}, {5, 5, "56789"}, {18, 10, "ij"}, {10, -1, "abcdefghij"}, {0, -1, string(data)},
		{3, 0, ""}, {20, 5, ""}, {99, -1, ""},
	} {
		rc, err := b.OpenRange(ctx, obj.Key, c.offset, c.length)
		if err != nil {
			t.Fatalf("OpenRange(%d, %d): %v", c.offset, c.length, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != c.want {
			t.Errorf("OpenRange(%d, %d) = %q, %v; want %q", c.offset, c.length, got, err, c.want)
		}
	}
	if _, err := b.OpenRange(ctx, obj.Key, -1, 1); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("negative offset: %v", err)
	}
	for _, length := range []int64{1, 0, -1} {
		if _, err := b.OpenRange(ctx, storage.NewKey(), 0, length); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("missing file, length %d: %v", length, err)
		}
	}
}

func suiteMaxSize(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 10)
	ctx := context.Background()
	ok, err := b.PutObject(ctx, "ok.txt", "", strings.NewReader("0123456789"))
	if err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	if _, err := b.PutObject(ctx, "big.txt", "", strings.NewReader("0123456789X")); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if got := stored(); len(got) != 1 || !strings.HasSuffix(got[0], ok.Key) {
		t.Errorf("kept %v after refusing, want only %s", got, ok.Key)
	}
}

func suiteBadKeys(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 0)
	ctx := context.Background()
	kept, err := b.PutObject(ctx, "x", "", strings.NewReader("keep me"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "../secret.txt", "../../etc/passwd", "/etc/passwd", "notakey", "tmp/x",
		"ab/../../secret.txt", strings.Repeat("a", 31) + "/", strings.Repeat("A", 32), strings.Repeat("a", 32) + "\x00",
		kept.Key[:2] + "/" + kept.Key, "../" + kept.Key, kept.Key + "/", " " + kept.Key} {
		if _, err := b.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): %v", key, err)
		}
		if _, err := b.OpenRange(ctx, key, 0, 1); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("OpenRange(%q): %v", key, err)
		}
		if _, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q): %v", key, err)
		}
		_ = b.Delete(ctx, key)
	}
	if got := stored(); len(got) != 1 || !bytes.Equal(readAll(t, b, kept.Key), []byte("keep me")) {
		t.Errorf("a malformed key reached a file: kept %v", got)
	}
}

func suiteCanceled(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.PutObject(ctx, "x", "", strings.NewReader("data")); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v", err)
	}
	// Canceled half-way, after some parts went out.
	ctx, cancel = context.WithCancel(context.Background())
	r := io.MultiReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), 12<<20), readerFunc(func([]byte) (int, error) {
		cancel()
		return 0, nil
	}), io.LimitReader(rand.NewChaCha8([32]byte{2}), 1<<20))
	if _, err := b.PutObject(ctx, "x", "", r); !errors.Is(err, context.Canceled) {
		t.Fatalf("put canceled half-way: %v", err)
	}
	if got := stored(); len(got) != 0 {
		t.Errorf("kept after cancel: %v", got)
	}
}

func suiteFailingReader(t *testing.T, newBackend Factory) {
	b, stored := newBackend(t, 0)
	boom := errors.New("the client went away")
	r := io.MultiReader(io.LimitReader(rand.NewChaCha8([32]byte{3}), 7<<20), readerFunc(func([]byte) (int, error) {
		return 0, boom
	}))
	if _, err := b.PutObject(context.Background(), "x", "", r); !errors.Is(err, boom) {
		t.Fatalf("put: %v", err)
	}
	if got := stored(); len(got) != 0 {
		t.Errorf("kept after a failed read: %v", got)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
