package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ArchiverOptions configures an Archiver.
type ArchiverOptions struct {
	Repository *Repository

	// Socket is the path of the Unix socket archive_command and
	// restore_command reach the node through.
	Socket string
	// AllowUIDs may use the socket besides root: the postgres user.
	AllowUIDs []int

	// DataDir returns the local PostgreSQL data directory, read to report
	// how much WAL waits to be archived and how much disk is left; nil, or
	// "" returned, when this node runs no PostgreSQL.
	DataDir func() string

	// CheckInterval is how often Run refreshes the status (store reachable,
	// WAL waiting, disk left); 15 s when 0.
	CheckInterval time.Duration

	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil: time.Now
}

// Archiver archives the WAL files PostgreSQL hands to it and fetches them
// back for a restore; it serves both on the WAL socket. When the store is
// unreachable a push fails, PostgreSQL keeps the file and retries (its
// archiver waits a second between attempts, longer after three failures),
// and Status says how much WAL is waiting and how much disk is left.
type Archiver struct {
	repo *Repository
	opts ArchiverOptions
	log  *slog.Logger

	mu sync.Mutex // guards st
	st ArchiveStatus
}

// ArchiveStatus is the archiver's state, for metrics, alerts and the
// status page.
type ArchiveStatus struct {
	LastArchived    string    // name of the last WAL file archived
	LastArchivedAt  time.Time // when
	Archived        int64     // files archived since start
	Failures        int64     // failed pushes since start
	FailingSince    time.Time // first of the current run of failures; zero when the last push succeeded
	LastFailure     string    // the last failure's message
	LastFailureAt   time.Time
	Conflicts       int64 // pushes refused because the archive holds a different file of that name
	WALWaiting      int   // segments PostgreSQL has marked ready and not yet archived (-1: not known)
	WALWaitingBytes int64
	DiskFree        int64 // bytes free on the file system of pg_wal (-1: not known)
	StoreReachable  bool
	StoreError      string // why the store is not reachable
	StoreCheckedAt  time.Time
}

// NewArchiver makes an archiver; Run serves it.
func NewArchiver(o ArchiverOptions) (*Archiver, error) {
	if o.Repository == nil {
		return nil, errors.New("archiver: no repository")
	}
	if o.Socket == "" {
		return nil, errors.New("archiver: no socket path")
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Archiver{repo: o.Repository, opts: o, log: o.Logger, st: ArchiveStatus{WALWaiting: -1, DiskFree: -1}}, nil
}

// Run serves the WAL socket and refreshes the status until ctx ends.
func (a *Archiver) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		t := time.NewTicker(a.opts.CheckInterval)
		defer t.Stop()
		for {
			a.Refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return serveWALSocket(ctx, a.opts.Socket, a.opts.AllowUIDs, a)
}

// Push archives one WAL file (the socket's PUT).
func (a *Archiver) Push(ctx context.Context, name string, content []byte) error {
	start := a.opts.Now()
	n, err := ParseWALName(name)
	if err == nil {
		_, err = a.repo.PutWAL(ctx, n, content)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.st.Failures++
		if a.st.FailingSince.IsZero() {
			a.st.FailingSince = start
		}
		a.st.LastFailure, a.st.LastFailureAt = err.Error(), start
		if errors.Is(err, ErrWALConflict) {
			a.st.Conflicts++
			a.log.Error("wal archive conflict: another primary archived a different file under this name", "file", name, "err", err)
		} else {
			a.log.Warn("wal archive failed", "file", name, "err", err)
		}
		return err
	}
	a.st.Archived++
	a.st.LastArchived, a.st.LastArchivedAt = name, a.opts.Now()
	a.st.FailingSince = time.Time{}
	a.log.Debug("wal archived", "file", name, "bytes", len(content), "took", a.opts.Now().Sub(start))
	return nil
}

// Fetch returns an archived WAL file (the socket's GET).
func (a *Archiver) Fetch(ctx context.Context, name string) ([]byte, error) {
	n, err := ParseWALName(name)
	if err != nil {
		return nil, err
	}
	return a.repo.GetWAL(ctx, n)
}

// Refresh checks the store and counts the WAL waiting now; Run calls it
// every CheckInterval.
func (a *Archiver) Refresh(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	perr := a.repo.Probe(pctx)
	cancel()
	waiting, waitingBytes, free := -1, int64(0), int64(-1)
	if a.opts.DataDir != nil {
		if dir := a.opts.DataDir(); dir != "" {
			waiting, waitingBytes, free = walWaiting(filepath.Join(dir, "pg_wal"))
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.StoreReachable, a.st.StoreError, a.st.StoreCheckedAt = perr == nil, "", a.opts.Now()
	if perr != nil {
		a.st.StoreError = perr.Error()
	}
	a.st.WALWaiting, a.st.WALWaitingBytes, a.st.DiskFree = waiting, waitingBytes, free
}

// walWaiting counts the files PostgreSQL marked ready for archiving in
// pg_wal/archive_status and reads the space left on pg_wal's file system.
func walWaiting(pgwal string) (n int, bytes, free int64) {
	n, free = -1, -1
	entries, err := os.ReadDir(filepath.Join(pgwal, "archive_status"))
	if err == nil {
		n = 0
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".ready")
			if !ok {
				continue
			}
			n++
			if fi, err := os.Stat(filepath.Join(pgwal, name)); err == nil {
				bytes += fi.Size()
			}
		}
	}
	var st unix.Statfs_t
	if unix.Statfs(pgwal, &st) == nil {
		free = int64(st.Bavail) * int64(st.Bsize)
	}
	return n, bytes, free
}

// Status returns the archiver's state.
func (a *Archiver) Status() ArchiveStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

// ArchiveCommand is the archive_command that reaches the archiver on
// socket: exe is the tandem executable and any leading arguments; the
// command runs `exe... db wal-push %p %f --socket SOCKET`.
func ArchiveCommand(exe []string, socket string) string {
	return pgCommand(exe, "wal-push", "%p", "%f", socket)
}

// RestoreCommand is the matching restore_command:
// `exe... db wal-fetch %f %p --socket SOCKET`.
func RestoreCommand(exe []string, socket string) string {
	return pgCommand(exe, "wal-fetch", "%f", "%p", socket)
}

func pgCommand(exe []string, verb, a1, a2, socket string) string {
	var b strings.Builder
	for _, e := range exe {
		b.WriteString(shellQuote(e) + " ")
	}
	fmt.Fprintf(&b, "db %s %s %s --socket %s", verb, a1, a2, shellQuote(socket))
	return b.String()
}

// shellQuote quotes s for /bin/sh, which runs PostgreSQL's commands.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
