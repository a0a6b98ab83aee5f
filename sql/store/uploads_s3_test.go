package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/concertmaster/concertmaster/engine/actions"
	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/platform/storage/storagetest"
)

// TestSweepDeletesExpiredFilesFromS3 runs the retention sweep of files on a bucket of a real SeaweedFS: the
// expired file's object and row go, the live one stays, and a second sweep (another instance's, or a retry after
// a crash between object and row) is harmless.
func TestSweepDeletesExpiredFilesFromS3(t *testing.T) {
	t.Parallel()
	weed := storagetest.StartWeed(t)
	b := integrationSetup(t, nil)
	ctx := context.Background()
	files, err := storage.NewS3(ctx, weed.Config("sweep/"), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	exec := b.execution(t)
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	put := func(name string, expires time.Time) storage.Object {
		t.Helper()
		obj, err := files.PutObject(ctx, name, "text/csv", strings.NewReader("a,b\n1,2\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.ExportCreate(ctx, actions.ExportedFile{OrganizationID: b.org.ID, ExecutionID: &exec,
			StorageKey: obj.Key, Filename: name, ContentType: "text/csv", Size: obj.Size, SHA256: obj.SHA256,
			ExpiresAt: &expires}); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	live := put("live.csv", future)
	expired := put("old.csv", past)
	// One whose object is already gone: the row of a sweep that crashed after deleting the object.
	gone := put("gone.csv", past)
	if err := files.Delete(ctx, gone.Key); err != nil {
		t.Fatal(err)
	}

	n, err := b.store.SweepExpiredUploads(ctx, files, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d %v, want 2", n, err)
	}
	if _, err := files.Stat(ctx, expired.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("expired file still in the bucket: %v", err)
	}
	if got := weed.Stored(t, "sweep/"); len(got) != 1 || !strings.HasSuffix(got[0], live.Key) {
		t.Errorf("bucket after the sweep: %v, want only the live file", got)
	}
	if left, err := b.store.UploadsExpired(ctx, time.Now(), 10); err != nil || len(left) != 0 {
		t.Errorf("expired rows left: %+v %v", left, err)
	}
	if list, err := b.store.UploadListForExecution(ctx, b.org.ID, exec); err != nil || len(list) != 1 || list[0].StorageKey != live.Key {
		t.Errorf("the execution's files: %+v %v", list, err)
	}
	if n, err := b.store.SweepExpiredUploads(ctx, files, time.Now()); err != nil || n != 0 {
		t.Errorf("second sweep: %d %v", n, err)
	}
}
