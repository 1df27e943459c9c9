package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// BackupResult is the outcome of one RunBaseBackup.
type BackupResult struct {
	Started  time.Time
	Finished time.Time
	Backup   *Backup // nil when it failed
	Err      string  // why it failed
}

// RunBaseBackup takes a base backup of the server Options.Source names and
// stores it. pg_basebackup writes a tar stream to its standard output
// (--format=tar -D -, with the manifest in it); the stream is compressed,
// encrypted and cut into parts on the fly, so nothing is staged on disk.
// It takes no WAL (-X none): the archive holds it. The backup is complete
// once the WAL up to its stop point is in the archive and backup.json is
// written.
func (m *Manager) RunBaseBackup(ctx context.Context) (*Backup, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	res := &BackupResult{Started: m.opts.Now()}
	b, err := m.baseBackup(ctx, res.Started)
	res.Finished = m.opts.Now()
	if err != nil {
		res.Err = err.Error()
		m.log.Error("base backup failed", "err", err)
	} else {
		res.Backup = b
		m.log.Info("base backup done", "id", b.ID, "data_bytes", b.DataBytes, "stored_bytes", b.StoredBytes,
			"start_lsn", b.StartLSN, "stop_lsn", b.StopLSN, "took", res.Finished.Sub(res.Started))
	}
	m.mu.Lock()
	m.lastBackup = res
	if err == nil {
		m.lastGood = res
	}
	m.mu.Unlock()
	return b, err
}

func (m *Manager) baseBackup(ctx context.Context, start time.Time) (*Backup, error) {
	if m.opts.Source == nil {
		return nil, errors.New("base backup: no source server configured")
	}
	name, conn, err := m.opts.Source(ctx)
	if err != nil {
		return nil, fmt.Errorf("base backup: choose source: %w", err)
	}
	if name == "" {
		name = connSummary(conn)
	}
	b := &Backup{ID: start.UTC().Format("20060102T150405Z"), StartTime: start.UTC(), Source: name,
		Encrypted: m.repo.codec.key != nil, Compression: "zstd"}
	if b.ID, err = m.freeID(ctx, b.ID); err != nil {
		return nil, fmt.Errorf("base backup: %w", err)
	}
	prefix := backupPrefix(b.ID)
	b.Label = "tandem " + b.ID

	pw := newPartWriter(ctx, m.repo.store, prefix+"data/", m.opts.PartSize)
	enc, err := m.repo.codec.encoder(pw, prefix+"data")
	if err != nil {
		pw.Close()
		return nil, err
	}
	files, streamErr := m.streamBaseBackup(ctx, conn, b, enc)
	// The encoder is closed even after a failed stream: its goroutines
	// write to pw until Close returns, and pw is closed after them.
	if cerr := enc.Close(); streamErr == nil {
		streamErr = cerr
	}
	parts, perr := pw.Close()
	if err := errors.Join(streamErr, perr); err != nil {
		return nil, fmt.Errorf("base backup %s: %w", b.ID, err)
	}
	b.Parts = parts
	if err := m.describe(b, files); err != nil {
		return nil, fmt.Errorf("base backup %s: %w", b.ID, err)
	}
	info, err := m.repo.putObject(ctx, prefix+"backup_manifest", files["backup_manifest"])
	if err != nil {
		return nil, fmt.Errorf("base backup %s: store manifest: %w", b.ID, err)
	}
	b.Manifest = Part{Key: info.Key, Size: info.Size, SHA256: info.SHA256}
	b.StoredBytes = info.Size
	for _, p := range parts {
		b.StoredBytes += p.Size
	}
	if err := m.waitArchived(ctx, b); err != nil {
		return nil, fmt.Errorf("base backup %s: %w", b.ID, err)
	}
	b.StopTime = m.opts.Now().UTC()
	if err := m.repo.putBackup(ctx, *b); err != nil {
		return nil, fmt.Errorf("base backup %s: store description: %w", b.ID, err)
	}
	return b, nil
}

// freeID returns id, or id-N for the first N that no backup uses yet
// (two backups started within a second).
func (m *Manager) freeID(ctx context.Context, id string) (string, error) {
	for n := 1; n < 100; n++ {
		cand := id
		if n > 1 {
			cand = fmt.Sprintf("%s-%d", id, n)
		}
		found := false
		err := m.repo.store.List(ctx, backupPrefix(cand), func(ObjectInfo) error { found = true; return errStopList })
		if err != nil && !errors.Is(err, errStopList) {
			return "", err
		}
		if !found {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free backup id for %s", id)
}

var errStopList = errors.New("stop listing")

// streamBaseBackup runs pg_basebackup into w, reading the tar stream as it
// passes to keep backup_label and backup_manifest.
func (m *Manager) streamBaseBackup(ctx context.Context, conn string, b *Backup, w io.Writer) (map[string][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops pg_basebackup if we return early
	checkpoint := "spread"
	if m.opts.FastCheckpoint {
		checkpoint = "fast"
	}
	cmd := m.pg.command(ctx, "pg_basebackup", "-d", conn, "-D", "-", "--format=tar", "--wal-method=none",
		"--checkpoint="+checkpoint, "--manifest-checksums=CRC32C", "--label="+b.Label, "--no-password")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pg_basebackup: %w", err)
	}
	counter := &countWriter{w: w}
	files, terr := keepTarFiles(io.TeeReader(out, counter), "backup_label", "backup_manifest")
	if terr != nil {
		cancel()
	}
	werr := cmd.Wait()
	b.DataBytes = counter.n
	switch {
	case counter.err != nil: // storing failed; pg_basebackup was stopped for it
		return nil, counter.err
	case werr != nil:
		return nil, fmt.Errorf("pg_basebackup: %w: %s", werr, tail(stderr.String(), 2000))
	case terr != nil:
		return nil, terr
	}
	return files, nil
}

// keepTarFiles reads a tar stream to its end and returns the content of
// the named files.
func keepTarFiles(r io.Reader, names ...string) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read backup stream: %w", err)
		}
		for _, n := range names {
			if h.Name == n || h.Name == "./"+n {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, fmt.Errorf("read backup stream: %w", err)
				}
				files[n] = b
			}
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // the padding after the end marker
		return nil, fmt.Errorf("read backup stream: %w", err)
	}
	return files, nil
}

// describe fills the backup's positions from backup_label and the manifest.
func (m *Manager) describe(b *Backup, files map[string][]byte) error {
	if files["backup_label"] == nil || files["backup_manifest"] == nil {
		return errors.New("the backup stream holds no backup_label or backup_manifest")
	}
	l, err := parseBackupLabel(files["backup_label"])
	if err != nil {
		return err
	}
	ranges, err := manifestWALRanges(files["backup_manifest"])
	if err != nil {
		return err
	}
	b.Timeline, b.StartLSN, b.StartWAL = l.Timeline, l.StartLSN, l.StartWAL
	b.WALSegmentSize = segmentSize(l.StartLSN, l.StartWAL)
	b.WALRanges = ranges
	last := ranges[len(ranges)-1]
	b.StopLSN = last.End
	b.StopWAL = SegmentName(last.Timeline, last.End, uint64(b.WALSegmentSize)).String()
	return nil
}

// waitArchived waits until every WAL segment the backup needs is in the
// archive. From a primary, pg_basebackup has already waited for the last
// one; from a standby, it comes with the primary's next segment switch.
func (m *Manager) waitArchived(ctx context.Context, b *Backup) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.ArchiveWait)
	defer cancel()
	for _, r := range b.WALRanges {
		for _, seg := range r.segments(b.WALSegmentSize) {
			for {
				_, err := m.repo.store.Stat(ctx, walKey(seg.String()))
				if err == nil {
					break
				}
				if !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("wait for WAL %s in the archive: %w", seg, err)
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("WAL %s, which the backup needs, is not in the archive after %s: is archiving working?", seg, m.opts.ArchiveWait)
				case <-time.After(time.Second):
				}
			}
		}
	}
	return nil
}

// connSummary names a connection string's server without its password.
func connSummary(conn string) string {
	var kept []string
	for _, f := range strings.Fields(conn) {
		k, _, _ := strings.Cut(f, "=")
		if k == "host" || k == "port" || k == "user" || k == "hostaddr" {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 && strings.Contains(conn, "://") {
		if at := strings.LastIndexByte(conn, '@'); at >= 0 {
			return conn[at+1:]
		}
		return conn
	}
	return strings.Join(kept, " ")
}

// countWriter counts what passes and keeps the first write error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
