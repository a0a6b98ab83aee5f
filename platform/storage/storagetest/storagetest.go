// Package storagetest gives storage tests real parts: a file system that fills up (a small tmpfs mounted for the
// test's lifetime, so that a full disk is the kernel's ENOSPC, not a fake), a real S3-compatible server (StartWeed),
// and the suite every Backend must pass (RunBackendSuite).
package storagetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes (rounded up to whole pages by the kernel) in a new directory and returns
// it; it is unmounted when the test ends. A test that may not mount (not root, no CAP_SYS_ADMIN, a container
// without the permission) is skipped with a message saying so.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := mount(dir, size); err != nil {
		t.Skipf("storagetest: cannot mount a %d-byte tmpfs to fill up (%v); run the test as root to check full disks", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("storagetest: unmount %s: %v", dir, err)
		}
	})
	return dir
}

// mount mounts a tmpfs on dir: through the system call, else through mount(8) (which may hold privileges the
// process lacks).
func mount(dir string, size int64) error {
	opts := fmt.Sprintf("size=%d,mode=0700", size)
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EPERM) {
		return err
	}
	out, err2 := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err2 != nil {
		return fmt.Errorf("%w; mount(8): %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Fill writes a file of zeros into dir until the disk refuses more, and returns its path: the disk is then full
// to the last page. Removing the file frees the space again.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return name
			}
			t.Fatalf("storagetest: fill %s: %v", dir, err)
		}
	}
}
