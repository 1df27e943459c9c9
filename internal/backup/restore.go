package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RestoreOptions says what to restore where.
type RestoreOptions struct {
	// Dir is the new data directory; it must not exist, or be empty.
	Dir string
	// BackupID restores that backup; empty: the newest one that fits Time.
	BackupID string
	// Time, if set, is the moment to recover to: every transaction
	// committed at or before it is restored, none after. Zero: replay all
	// the WAL the archive holds.
	Time time.Time
	// Socket is the WAL socket restore_command reaches (an Archiver's, or
	// the one a restore serves itself).
	Socket string
	// Bootstrap restores the cluster itself (disaster recovery: the
	// restored server becomes the new primary and archives into this
	// archive on a new timeline). Otherwise the restore is a copy beside
	// production and must never archive: archive_mode is turned off.
	Bootstrap bool
}

// RestoreResult describes a prepared data directory.
type RestoreResult struct {
	Backup   Backup
	Dir      string
	Target   time.Time // the recovery target; zero: the end of the archive
	Settings []string  // the settings the restore wrote, as in postgresql.auto.conf
	Bytes    int64     // data restored from the backup
	Took     time.Duration
}

// ErrDirNotEmpty is returned when the target data directory holds files.
var ErrDirNotEmpty = errors.New("target directory is not empty")

// Restore prepares a data directory from a base backup: it chooses the
// backup, unpacks it, checks it with pg_verifybackup (with the backup's
// WAL fetched from the archive) and writes the recovery settings. Starting
// PostgreSQL on the directory then replays WAL from the archive up to the
// target (see RestoreCopy, which does that too).
func (m *Manager) Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	start := m.opts.Now()
	if !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("restore: target directory %q must be an absolute path", o.Dir)
	}
	b, err := m.chooseBackup(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Backup: b, Dir: o.Dir, Target: o.Time}
	created, err := m.prepareDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("restore %s into %s: %w", b.ID, o.Dir, err)
	}
	if err := m.fill(ctx, b, o, res); err != nil {
		clearDir(o.Dir, created) // it was empty or absent: nothing of anyone's is lost
		return nil, fmt.Errorf("restore %s into %s: %w", b.ID, o.Dir, err)
	}
	res.Took = m.opts.Now().Sub(start)
	m.log.Info("backup restored", "id", b.ID, "dir", o.Dir, "target", o.Time, "bytes", res.Bytes, "took", res.Took,
		"archiving", map[bool]string{true: "as configured", false: "off"}[o.Bootstrap])
	return res, nil
}

// fill unpacks, verifies and configures the restored directory.
func (m *Manager) fill(ctx context.Context, b Backup, o RestoreOptions, res *RestoreResult) error {
	pr := newPartsReader(ctx, m.repo, b.Parts)
	defer pr.Close()
	dec, err := m.repo.codec.decoder(pr, backupPrefix(b.ID)+"data")
	if err != nil {
		return err
	}
	res.Bytes, err = extractTar(dec, o.Dir, m.pg.chown)
	dec.Close()
	if err != nil {
		return err
	}
	if err := m.verify(ctx, b, o.Dir); err != nil {
		return err
	}
	res.Settings, err = m.writeRecoveryConfig(b, o)
	return err
}

// clearDir empties dir, and removes it if the restore created it.
func clearDir(dir string, created bool) {
	if created {
		os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// chooseBackup picks the backup named, or the newest that finished before
// the target time.
func (m *Manager) chooseBackup(ctx context.Context, o RestoreOptions) (Backup, error) {
	if o.BackupID != "" {
		b, err := m.repo.Backup(ctx, o.BackupID)
		if errors.Is(err, ErrNotFound) {
			return Backup{}, fmt.Errorf("restore: %w: no backup %s", ErrNoBackup, o.BackupID)
		}
		if err == nil && !o.Time.IsZero() && !b.StopTime.Before(o.Time) {
			return Backup{}, fmt.Errorf("restore: %w: backup %s finished at %s, after the target %s", ErrNoBackup, b.ID, b.StopTime.Format(time.RFC3339), o.Time.Format(time.RFC3339Nano))
		}
		return b, err
	}
	list, _, err := m.repo.Backups(ctx)
	if err != nil {
		return Backup{}, fmt.Errorf("restore: %w", err)
	}
	for i := len(list) - 1; i >= 0; i-- {
		if o.Time.IsZero() || list[i].StopTime.Before(o.Time) {
			return list[i], nil
		}
	}
	if o.Time.IsZero() {
		return Backup{}, fmt.Errorf("restore: %w: the repository holds no backup", ErrNoBackup)
	}
	return Backup{}, fmt.Errorf("restore: %w: no backup finished before %s", ErrNoBackup, o.Time.Format(time.RFC3339Nano))
}

// prepareDir makes dir, or checks that it is empty, for the postgres
// user; created says which.
func (m *Manager) prepareDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, m.pg.mkdir(dir)
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, ErrDirNotEmpty
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, err
	}
	return false, m.pg.chown(dir)
}

// verify runs pg_verifybackup on the unpacked backup against its manifest,
// with the WAL the backup needs fetched from the archive (each segment
// checked on the way), so a restore never starts on a damaged backup.
func (m *Manager) verify(ctx context.Context, b Backup, dir string) error {
	walDir, err := os.MkdirTemp(filepath.Dir(dir), ".verify-wal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(walDir)
	if err := m.pg.chown(walDir); err != nil {
		return err
	}
	for _, r := range b.WALRanges {
		for _, seg := range r.segments(b.WALSegmentSize) {
			data, err := m.repo.GetWAL(ctx, seg)
			if err != nil {
				return fmt.Errorf("fetch WAL the backup needs: %w", err)
			}
			p := filepath.Join(walDir, seg.String())
			if err := os.WriteFile(p, data, 0o600); err != nil {
				return err
			}
			if err := m.pg.chown(p); err != nil {
				return err
			}
		}
	}
	if _, err := m.pg.run(ctx, "pg_verifybackup", "--quiet", "--wal-directory", walDir, dir); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// writeRecoveryConfig appends the restore's settings to
// postgresql.auto.conf (read last, so they win over postgresql.conf) and
// asks for recovery with recovery.signal.
func (m *Manager) writeRecoveryConfig(b Backup, o RestoreOptions) ([]string, error) {
	settings := []string{
		"restore_command = " + pgQuote(RestoreCommand(m.opts.Command, o.Socket)),
		"recovery_target_timeline = 'latest'",
		"primary_conninfo = ''",
		"primary_slot_name = ''",
	}
	if !o.Time.IsZero() {
		settings = append(settings,
			"recovery_target_time = "+pgQuote(o.Time.UTC().Format("2006-01-02 15:04:05.999999-07")),
			"recovery_target_inclusive = on",
			"recovery_target_action = 'promote'")
	}
	if !o.Bootstrap {
		settings = append(settings,
			"archive_mode = 'off'",
			"archive_command = ''",
			"synchronous_standby_names = ''", // no standby will ever confirm the copy's commits
		)
	}
	var buf strings.Builder
	fmt.Fprintf(&buf, "\n# Written by tandem when restoring backup %s", b.ID)
	if !o.Bootstrap {
		buf.WriteString(": this is a copy, archiving is off so it never writes into the production archive")
	}
	buf.WriteString(".\n")
	for _, s := range settings {
		buf.WriteString(s + "\n")
	}
	auto := filepath.Join(o.Dir, "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(buf.String()); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	for _, name := range []string{"standby.signal", "postmaster.pid", "postmaster.opts"} {
		os.Remove(filepath.Join(o.Dir, name))
	}
	signal := filepath.Join(o.Dir, "recovery.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return nil, err
	}
	for _, p := range []string{auto, signal} {
		if err := m.pg.chown(p); err != nil {
			return nil, err
		}
	}
	if !o.Bootstrap {
		if err := detachConfig(filepath.Join(o.Dir, "postgresql.conf")); err != nil {
			return nil, err
		}
	}
	return settings, nil
}

// detachConfig comments out the include directives of a copy's
// postgresql.conf. The database driver's postgresql.conf only includes
// the member's own configuration, by its path on that member's node: on
// another node the file does not exist and the copy would not start; on
// that node it would give the copy the member's port, sockets and
// certificates. A copy runs with PostgreSQL's defaults and the settings
// the restore wrote.
func detachConfig(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(string(data)) {
		name := strings.TrimSpace(line)
		if i := strings.IndexAny(name, " \t="); i >= 0 {
			name = name[:i]
		}
		switch strings.ToLower(name) {
		case "include", "include_if_exists", "include_dir":
			line = "# restored copy, not included: " + line
		}
		out.WriteString(line)
	}
	return os.WriteFile(path, []byte(out.String()), 0o600)
}

// pgQuote quotes a value for postgresql.conf.
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
