package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// RestoreTestResult is the outcome of one restore test, for `tandem db
// backups`, metrics, the status page and alerts.
type RestoreTestResult struct {
	ID         string        `json:"id"`
	Started    time.Time     `json:"started"`
	Took       time.Duration `json:"took"`
	OK         bool          `json:"ok"`
	Err        string        `json:"error,omitempty"`
	BackupID   string        `json:"backup_id,omitempty"`
	Bytes      int64         `json:"bytes"`           // data restored from the backup
	LSN        LSN           `json:"lsn"`             // where replay ended
	LastCommit time.Time     `json:"last_commit"`     // the newest transaction restored: the restored point
	Lag        time.Duration `json:"lag"`             // from the restored point to the test's start: how much a restore would lose now
	Sanity     string        `json:"sanity"`          // what the sanity query returned
	Check      string        `json:"check,omitempty"` // the tail of the check command's output
	Files      []string      `json:"files,omitempty"` // each file set's check
}

// RunRestoreTest proves that the newest backup restores: it restores it
// with all archived WAL into a scratch directory (pg_verifybackup runs on
// the way), starts PostgreSQL on it, runs the sanity query and the app's
// check command, records how long it took and what point it reached,
// stops the server and removes the directory. The result is kept in the
// repository (restore-tests/<id>.json) so every node sees it.
func (m *Manager) RunRestoreTest(ctx context.Context) (*RestoreTestResult, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	start := m.opts.Now()
	res := &RestoreTestResult{ID: start.UTC().Format("20060102T150405Z"), Started: start.UTC()}
	err := m.restoreTest(ctx, res)
	res.Took = m.opts.Now().Sub(start)
	res.OK = err == nil
	if err != nil {
		res.Err = err.Error()
		m.log.Error("restore test failed", "backup", res.BackupID, "took", res.Took, "err", err)
	} else {
		m.log.Info("restore test passed", "backup", res.BackupID, "took", res.Took, "lsn", res.LSN, "last_commit", res.LastCommit)
	}
	if data, jerr := json.MarshalIndent(res, "", "  "); jerr == nil {
		if _, perr := m.repo.store.Put(ctx, "restore-tests/"+res.ID+".json", bytes.NewReader(data), int64(len(data))); perr != nil {
			m.log.Warn("restore test result not stored", "err", perr)
		}
	}
	m.mu.Lock()
	m.lastTest = res
	m.mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("restore test: %w", err)
	}
	return res, nil
}

func (m *Manager) restoreTest(ctx context.Context, res *RestoreTestResult) error {
	if m.opts.ScratchDir == "" {
		return fmt.Errorf("no scratch directory configured")
	}
	scratch, err := os.MkdirTemp(m.opts.ScratchDir, "restore-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	if err := os.Chmod(scratch, 0o755); err != nil {
		return err
	}
	for _, set := range m.opts.Files {
		line, err := m.verifyFileSet(ctx, set, scratch)
		if err != nil {
			return err
		}
		res.Files = append(res.Files, line)
	}
	if m.opts.Source == nil {
		return nil // no database: the file sets were the test
	}
	rc, err := m.startCopy(ctx, RestoreOptions{Dir: scratch + "/data"})
	if rc == nil {
		if err == nil {
			err = fmt.Errorf("restore produced nothing")
		}
		return err
	}
	defer rc.close(ctx)
	res.BackupID, res.Bytes = rc.res.Backup.ID, rc.res.Bytes
	res.LSN, res.LastCommit = rc.res.LSN, rc.res.LastCommit
	if !res.LastCommit.IsZero() {
		res.Lag = res.Started.Sub(res.LastCommit)
	}
	conn, err := rc.srv.connect(ctx, m.opts.User)
	if err != nil {
		return fmt.Errorf("connect to the restored copy: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v any
	if err := conn.QueryRow(ctx, m.opts.SanityQuery).Scan(&v); err != nil {
		return fmt.Errorf("sanity query %q: %w", m.opts.SanityQuery, err)
	}
	res.Sanity = fmt.Sprint(v)
	if len(m.opts.CheckCommand) > 0 {
		out, err := m.runCheck(ctx, rc.srv)
		res.Check = tail(string(out), 2000)
		if err != nil {
			return fmt.Errorf("check command: %w: %s", err, res.Check)
		}
	}
	return rc.close(ctx)
}

// runCheck runs the app's check command against the copy, within the
// recovery timeout.
func (m *Manager) runCheck(ctx context.Context, srv *server) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.RecoveryTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.opts.CheckCommand[0], m.opts.CheckCommand[1:]...)
	url := fmt.Sprintf("postgres:///postgres?host=%s&port=%d&user=%s&sslmode=disable", srv.sockDir, srv.port, m.opts.User)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}
