package pgha

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// PostgreSQL writes its WAL in segments of 16 MiB (initdb's default,
// which tandem keeps) and creates the next one whole: with less free
// space than a segment, a primary stops at its next one (a PANIC in the
// WAL writer, and its crash recovery fails the same way). A member counts
// its filesystem full below diskFullBelow and has room again from
// diskRoomAgain, so that a filesystem near the line does not flap.
const (
	diskFullBelow = 16 << 20
	diskRoomAgain = 2 * diskFullBelow
)

// diskFree returns the bytes an unprivileged user may still write on the
// filesystem of the data directory (of the member's directory while
// there is no data directory).
func (l layout) diskFree() (path string, free int64, err error) {
	var st syscall.Statfs_t
	for _, path = range []string{l.data(), l.root} {
		err = syscall.Statfs(path, &st)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return path, 0, fmt.Errorf("statfs %s: %w", path, err)
		}
		return path, int64(st.Bavail) * st.Bsize, nil
	}
	return path, 0, fmt.Errorf("statfs %s: %w", path, err)
}

// checkDisk looks at the free space of the data directory's filesystem
// and reports whether it is full. The log says so once when it fills up
// and once when it has room again, not at every look.
func (m *Member) checkDisk() bool {
	path, free, err := m.l.diskFree()
	if err != nil {
		m.log.Debug("free space not known", "err", err)
		return m.diskFull // as last seen
	}
	full := free < diskFullBelow || (m.diskFull && free < diskRoomAgain)
	msg := ""
	if full {
		msg = fmt.Sprintf("the filesystem of %s is full: %d bytes free, PostgreSQL needs %d for its next WAL segment; free space there (the member starts by itself once %d bytes are free)",
			path, free, diskFullBelow, diskRoomAgain)
	}
	switch {
	case full && !m.diskFull:
		m.log.Error("the data directory's filesystem is full", "path", path, "free_bytes", free, "needs_bytes", diskFullBelow)
	case !full && m.diskFull:
		m.log.Info("the data directory's filesystem has room again", "path", path, "free_bytes", free)
	}
	m.diskFull = full
	m.mu.Lock()
	m.diskMsg = msg
	m.mu.Unlock()
	return full
}
