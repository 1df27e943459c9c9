package pgha

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// Errors about the member's directory, for errors.Is.
var (
	ErrDataDirOwner  = errors.New("data directory is not the postgres user's")
	ErrDataDirAccess = errors.New("the postgres user cannot reach the data directory")
)

// checkOwnership refuses a member directory, or a data directory in it,
// that belongs to another user than PostgreSQL's: tandem would otherwise
// hand someone's files to postgres. An empty directory of tandem's own
// user is taken over (chowned) when the member starts.
func checkOwnership(l layout, inst Install) error {
	for _, dir := range []string{l.root, l.data()} {
		fi, err := os.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("data_dir: %s is not a directory", dir)
		}
		uid := fi.Sys().(*syscall.Stat_t).Uid
		if uid == inst.UID {
			continue
		}
		if dir == l.root && uid == uint32(os.Geteuid()) {
			if empty, err := isEmpty(dir); err == nil && empty {
				continue
			}
		}
		return fmt.Errorf("data_dir: %w: %s is owned by uid %d, not %s (uid %d)", ErrDataDirOwner, dir, uid, inst.User, inst.UID)
	}
	return nil
}

func isEmpty(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	return len(entries) == 0, err
}

// prepareDirs creates the member's directories owned by the postgres user
// and checks that user can reach them.
func prepareDirs(l layout, inst Install) error {
	if err := os.MkdirAll(l.root, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := reachable(filepath.Dir(l.root), inst); err != nil {
		return err
	}
	for _, d := range []string{l.root, l.conf(), l.tls(), l.run()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
		if err := os.Chown(d, int(inst.UID), int(inst.GID)); err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
	}
	return nil
}

// reachable checks that the postgres user may traverse dir and every
// directory above it.
func reachable(dir string, inst Install) error {
	groups := []uint32{inst.GID}
	if u, err := user.Lookup(inst.User); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil {
					groups = append(groups, uint32(g))
				}
			}
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("data_dir: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		ok := perm&0o001 != 0 ||
			(st.Uid == inst.UID && perm&0o100 != 0) ||
			(slices.Contains(groups, st.Gid) && perm&0o010 != 0)
		if !ok {
			return fmt.Errorf("data_dir: %w: %s (mode %v, uid %d) does not let %s through", ErrDataDirAccess, d, perm, st.Uid, inst.User)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// writeOwned writes a file atomically and gives it to the postgres user.
func writeOwned(path string, data []byte, perm os.FileMode, inst Install) error {
	if err := atomicfile.Write(path, data, perm); err != nil {
		return err
	}
	if err := os.Chown(path, int(inst.UID), int(inst.GID)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// moveAside renames a data directory out of the way instead of deleting
// it: what it holds may be the only copy of something. One copy is kept;
// an older one is removed.
func moveAside(dir string, now time.Time) (string, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	old, _ := filepath.Glob(dir + ".old-*")
	for _, o := range old {
		if err := os.RemoveAll(o); err != nil {
			return "", fmt.Errorf("remove %s: %w", o, err)
		}
	}
	to := dir + ".old-" + now.UTC().Format("20060102T150405")
	if err := os.Rename(dir, to); err != nil {
		return "", fmt.Errorf("move %s aside: %w", dir, err)
	}
	return to, nil
}
