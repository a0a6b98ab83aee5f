package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
)

// TestS3BackendSuite runs the suite every backend passes against a real SeaweedFS, each case under a prefix of its
// own in one bucket, with 5 MiB parts so that the suite's large file goes up in several.
func TestS3BackendSuite(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	var n atomic.Int64
	storagetest.RunBackendSuite(t, func(t *testing.T, maxBytes int64) (storage.Backend, func() []string) {
		prefix := fmt.Sprintf("suite/%d/", n.Add(1))
		b, err := storage.NewS3(context.Background(), weed.Config(prefix), storage.S3Options{MaxBytes: maxBytes, PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, func() []string { return weed.Stored(t, prefix) }
	})
}

// TestS3KeepsToItsPrefixAndEncrypts: objects are named prefix/ab/key like Local's files, a backend on another
// prefix of the same bucket cannot reach them, SSE-S3 asks the store to encrypt them, and a presigned URL serves
// the file with the headers asked for until it expires.
func TestS3KeepsToItsPrefixAndEncrypts(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	ctx := context.Background()
	cfg := weed.Config("orgs/a/")
	cfg.SSE = true
	a, err := storage.NewS3(ctx, cfg, storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := storage.NewS3(ctx, weed.Config("orgs/b/"), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := a.PutObject(ctx, "../b/x", "text/csv", strings.NewReader("a,b\n1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := weed.Stored(t, ""); len(got) != 1 || got[0] != "orgs/a/"+obj.Key[:2]+"/"+obj.Key {
		t.Fatalf("bucket holds %v", got)
	}
	info, err := weed.Client.StatObject(ctx, weed.Bucket, "orgs/a/"+obj.Key[:2]+"/"+obj.Key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sse := info.Metadata.Get("X-Amz-Server-Side-Encryption"); sse != "AES256" {
		t.Errorf("server-side encryption %q, want AES256 (headers %v)", sse, info.Metadata)
	}
	if info.ContentType != "text/csv" {
		t.Errorf("content type %q", info.ContentType)
	}
	if _, err := b.Open(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("another prefix reached the file: %v", err)
	}
	_ = b.Delete(ctx, obj.Key)
	if got := readAllS3(t, a, obj.Key); got != "a,b\n1,2\n" {
		t.Errorf("read back %q", got)
	}

	u, err := a.PresignGet(ctx, obj.Key, 2*time.Second, storage.ResponseHeaders{ContentType: "text/plain",
		ContentDisposition: `attachment; filename="r.csv"`, CacheControl: "private, no-store"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "a,b\n1,2\n" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="r.csv"` ||
		resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("presigned GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// A URL whose signed headers were changed is refused.
	tampered := strings.Replace(u.String(), "r.csv", "evil.html", 1)
	if resp, err := http.Get(tampered); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered presigned URL: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	// Presigned URLs have a resolution of seconds: wait until this one is surely past.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presigned URL still answers %d after it expired", resp.StatusCode)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := a.PresignGet(ctx, storage.NewKey(), time.Minute, storage.ResponseHeaders{}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("presign of a missing file: %v", err)
	}
}

// TestNewS3RefusesAMissingBucketOrWrongKey: a wrong STORAGE_URL or key stops the process at start.
func TestNewS3RefusesAMissingBucketOrWrongKey(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	ctx := context.Background()
	cfg := weed.Config("")
	cfg.Bucket = "no-such-bucket"
	if _, err := storage.NewS3(ctx, cfg, storage.S3Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	cfg = weed.Config("")
	cfg.SecretAccessKey = "wrong"
	if _, err := storage.NewS3(ctx, cfg, storage.S3Options{}); err == nil {
		t.Error("a wrong secret key was accepted")
	}
}

func readAllS3(t *testing.T, b storage.Backend, key string) string {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}
