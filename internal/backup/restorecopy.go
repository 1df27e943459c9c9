package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CopyResult is a restored copy brought to its target.
type CopyResult struct {
	RestoreResult
	LSN        LSN       // where replay ended
	LastCommit time.Time // the last transaction replayed; zero if none was
	Timeline   uint32    // the copy's timeline after promotion
}

// RestoreCopy restores into o.Dir and runs the recovery to its end: it
// serves restore_command's WAL itself on a socket in a private directory,
// starts PostgreSQL on the copy (Unix socket only), waits for it to reach
// the target and promote, and stops it. The directory is then an ordinary
// data directory, on a new timeline, that never archives (Bootstrap is
// ignored: a cluster bootstrap is started by the database driver, with
// the node's archiver serving its WAL).
func (m *Manager) RestoreCopy(ctx context.Context, o RestoreOptions) (*CopyResult, error) {
	o.Bootstrap = false
	rc, err := m.startCopy(ctx, o)
	if err != nil {
		return nil, err
	}
	defer rc.close(ctx)
	return &rc.res, nil
}

// runningCopy is a restored copy whose server is up.
type runningCopy struct {
	res    CopyResult
	srv    *server
	tmp    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// startCopy restores, serves the WAL, starts the server and waits until
// recovery is over. On error nothing is left running.
func (m *Manager) startCopy(ctx context.Context, o RestoreOptions) (_ *runningCopy, err error) {
	tmp, err := os.MkdirTemp("", "tandem-restore-")
	if err != nil {
		return nil, err
	}
	rc := &runningCopy{tmp: tmp}
	defer func() {
		if err != nil {
			rc.close(ctx)
		}
	}()
	if err := m.pg.chown(tmp); err != nil {
		return nil, err
	}
	o.Socket = filepath.Join(tmp, "wal.sock")
	sctx, cancel := context.WithCancel(ctx)
	rc.cancel = cancel
	fetcher := &restoreFetcher{repo: m.repo}
	rc.wg.Go(func() {
		if err := serveWALSocket(sctx, o.Socket, []int{m.pg.UID}, fetcher); err != nil {
			fetcher.fail(err)
		}
	})

	res, err := m.Restore(ctx, o)
	if err != nil {
		return nil, err
	}
	rc.res.RestoreResult = *res
	if err := writeTrustHBA(m.pg, tmp); err != nil {
		return nil, err
	}
	rc.srv = newServer(m.pg, o.Dir, tmp)
	rc.srv.hbaFile = filepath.Join(tmp, hbaName)
	if err := rc.srv.start(ctx, m.opts.RecoveryTimeout); err != nil {
		return nil, errors.Join(fetcher.failure(), err)
	}
	p, err := rc.srv.waitRecovered(ctx, m.opts.User, m.opts.RecoveryTimeout)
	if err != nil {
		return nil, errors.Join(fetcher.failure(), err)
	}
	rc.res.LSN, rc.res.LastCommit, rc.res.Timeline = p.LSN, p.LastCommit, p.Timeline
	return rc, nil
}

// close stops the server and the WAL socket; the data directory stays.
// Calls after the first return the first's error.
func (rc *runningCopy) close(ctx context.Context) error {
	rc.once.Do(func() {
		if rc.srv != nil {
			rc.err = rc.srv.stop(context.WithoutCancel(ctx))
		}
		if rc.cancel != nil {
			rc.cancel()
		}
		rc.wg.Wait()
		os.RemoveAll(rc.tmp)
	})
	return rc.err
}

const hbaName = "pg_hba.conf"

// writeTrustHBA writes the copy's client authentication: local
// connections only, trusted. Only root and the postgres user can reach
// the socket's directory.
func writeTrustHBA(pg Postgres, dir string) error {
	p := filepath.Join(dir, hbaName)
	if err := os.WriteFile(p, []byte("local all all trust\n"), 0o600); err != nil {
		return err
	}
	return pg.chown(p)
}

// restoreFetcher serves a restore's WAL: fetch only, and it remembers the
// first failure other than "not archived" so that a recovery that stops
// reports why (a corrupt object, the store down) rather than only the
// server's log.
type restoreFetcher struct {
	repo *Repository
	mu   sync.Mutex // guards err
	err  error
}

func (f *restoreFetcher) Push(context.Context, string, []byte) error { return errPushRefused }

func (f *restoreFetcher) Fetch(ctx context.Context, name string) ([]byte, error) {
	n, err := ParseWALName(name)
	if err != nil {
		return nil, err
	}
	b, err := f.repo.GetWAL(ctx, n)
	if err != nil && !errors.Is(err, ErrNotFound) {
		f.fail(err)
	}
	return b, err
}

// fail records the first failure.
func (f *restoreFetcher) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *restoreFetcher) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		return nil
	}
	return fmt.Errorf("restore_command failed: %w", f.err)
}
