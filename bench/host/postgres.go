package host

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// PgBinDir is the newest /usr/lib/postgresql/<version>/bin with a
// postgres in it; "" if none.
func PgBinDir() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortStableFunc(found, func(a, b string) int { return len(a) - len(b) }) // "9" before "15"
	for i := len(found) - 1; i >= 0; i-- {
		if IsExecutable(found[i]) {
			return filepath.Dir(found[i])
		}
	}
	return ""
}

// IsExecutable reports whether path is a file this process may run.
func IsExecutable(path string) bool {
	_, err := exec.LookPath(path)
	return err == nil
}

// PostgresUser is the credential PostgreSQL's processes run with: it
// refuses to run as root.
func PostgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the postgres user: %w", err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

// VersionOutput runs a program's version command (within 10s) and
// returns its output and the first version-looking word in it ("" if
// none).
func VersionOutput(ctx context.Context, argv ...string) (out, version string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	return string(b), versionRE.FindString(string(b))
}
