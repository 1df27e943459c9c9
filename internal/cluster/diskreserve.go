package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// diskReserve is a file of allocated blocks kept under DataDir as space
// held back for etcd: deleted when the disk is nearly full, it gives etcd
// room to commit what it has begun and to stop cleanly, after something
// else filled the disk faster than the guard could stop the member. It is
// made again once the disk has room for it above the floor.
type diskReserve struct {
	path string
	size int64 // 0: no reserve
}

// present reports whether the reserve file is there at its full size.
func (r diskReserve) present() bool {
	fi, err := os.Stat(r.path)
	return err == nil && fi.Size() >= r.size
}

// create allocates the reserve file: with fallocate, so that the blocks
// are the filesystem's to give back, or by writing zeros where the
// filesystem cannot preallocate. A failure leaves no file.
func (r diskReserve) create() (err error) {
	if r.size <= 0 {
		return nil
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create space reserve: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("create space reserve: %w", cerr)
		}
		if err != nil {
			os.Remove(r.path)
		}
	}()
	err = syscall.Fallocate(int(f.Fd()), 0, 0, r.size)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		err = writeZeros(f, r.size)
	}
	if err != nil {
		return fmt.Errorf("create space reserve: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("create space reserve: %w", err)
	}
	return nil
}

// writeZeros writes n zero bytes to f.
func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// release deletes the reserve file; a missing one is no error.
func (r diskReserve) release() error {
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release space reserve: %w", err)
	}
	return nil
}
