// Package disktest gives tests a small filesystem of their own, to show
// what tandem does when a disk fills up: a tmpfs mounted on a temporary
// directory, and a file that takes its free space.
package disktest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Mount mounts a tmpfs of size bytes on a new temporary directory and
// returns it; the test's cleanup unmounts it. The test is skipped, saying
// why, where mounting is not permitted (not root, no CAP_SYS_ADMIN).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10)+",mode=0755", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("a small filesystem is needed and mounting one is not permitted here: mount -t tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Lazy: a process of the test (an etcd left failed) may still
		// hold a file open; the kernel unmounts once it lets go.
		if out, err := exec.CommandContext(ctx, "umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Free returns the bytes available under dir.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Filler is a file that takes the free space of a filesystem.
type Filler struct {
	t    testing.TB
	path string
}

// Fill allocates a file under dir so that leave bytes (or a little less,
// to the filesystem's block) stay free, and returns it; the file grows
// if called again. Remove frees the space.
func Fill(t testing.TB, dir string, leave int64) *Filler {
	t.Helper()
	f := &Filler{t: t, path: filepath.Join(dir, "filler")}
	f.Leave(leave)
	return f
}

// Leave grows or shrinks the file so that leave bytes stay free.
func (f *Filler) Leave(leave int64) {
	f.t.Helper()
	dir := filepath.Dir(f.path)
	fh, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		f.t.Fatalf("fill %s: %v", dir, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		f.t.Fatalf("fill %s: %v", dir, err)
	}
	size := fi.Size() + Free(f.t, dir) - leave
	if size < 0 {
		size = 0
	}
	switch {
	case size < fi.Size():
		err = fh.Truncate(size)
	case size > fi.Size():
		err = syscall.Fallocate(int(fh.Fd()), 0, 0, size)
	}
	if err != nil {
		f.t.Fatalf("fill %s to leave %d bytes: %v", dir, leave, err)
	}
}

// Remove deletes the file, freeing its space.
func (f *Filler) Remove() {
	f.t.Helper()
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatalf("remove filler: %v", err)
	}
}
