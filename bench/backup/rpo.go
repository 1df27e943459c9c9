package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// rpoSettings are the RPO template's: a small pgbench database (scale 1)
// with the probe's table, archiving on; each trial adds its archiver's
// archive_command and the case's archive_timeout.
var rpoSettings = []string{"wal_level = replica", "archive_mode = on", "archive_command = '/bin/true'", "max_wal_senders = 10"}

// rpoPhase runs every case's trials, each archiver in turn (in the
// reverse order in even trials). The archivers of a trial crash after the
// same time under load, 5 s plus a random part of archive_timeout, so the
// crash falls anywhere in the cycle and yet each archiver is compared at
// the same point of it: the phase, not the archiver, would otherwise make
// most of the difference between a few trials.
func (r *runner) rpoPhase(ctx context.Context) error {
	template := filepath.Join(r.dir, "rpo-template")
	if err := r.makeTemplate(ctx, template); err != nil {
		return fmt.Errorf("RPO template: %w", err)
	}
	n := 0
	for _, c := range r.o.rpo {
		for i := 1; i <= r.o.rpoTrials; i++ {
			hold := 5*time.Second + rand.N(c.ArchiveTimeout)
			order := slices.Clone(r.o.archivers)
			if i%2 == 0 {
				slices.Reverse(order)
			}
			for _, a := range order {
				if err := ctx.Err(); err != nil {
					return err
				}
				n++
				t := RPOTrial{Setup: a.Name, Case: c, Trial: i}
				dir := filepath.Join(r.dir, fmt.Sprintf("rpo-%02d-%s", n, a.Name))
				if err := r.crashTrial(ctx, a, template, dir, hold, &t); err != nil {
					t.Error = fmt.Sprintf("%v (files kept in %s)", err, dir)
					r.kept = true
				} else {
					os.RemoveAll(dir) //nolint:errcheck // the run's directory goes at the end anyway
				}
				r.rep.RPO = append(r.rep.RPO, t)
				r.logf("%s", t.line())
			}
		}
	}
	return nil
}

// makeTemplate makes the data directory every RPO trial starts from.
func (r *runner) makeTemplate(ctx context.Context, data string) error {
	if err := r.env.pg.initdb(ctx, data); err != nil {
		return err
	}
	if err := appendConf(data, rpoSettings...); err != nil {
		return err
	}
	b, err := r.boxes.box("rpo-template")
	if err != nil {
		return err
	}
	defer b.close()
	srv := r.newServer("rpo-template", data, b)
	defer srv.stop()
	if err := srv.start(ctx, time.Minute); err != nil {
		return err
	}
	if _, err := runCmd(ctx, 10*time.Minute, nil, nil, r.env.pg.path("pgbench"), "-i", "-q", "-s", "1",
		"-h", srv.sock, "-U", "postgres", "postgres"); err != nil {
		return err
	}
	if err := srv.exec(ctx, probeTable); err != nil {
		return err
	}
	return srv.stop()
}

// crashTrial starts a copy of the template archiving through the
// archiver, takes a base backup, runs the load for hold, crashes the
// server's whole box, restores the archive into a fresh
// directory and compares the newest restored commit with the newest
// acknowledged one.
func (r *runner) crashTrial(ctx context.Context, a setup, template, dir string, hold time.Duration, t *RPOTrial) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	eng, err := newEngine(r.env, a, filepath.Join(dir, "engine"))
	if err != nil {
		return err
	}
	defer eng.close()
	b, err := r.boxes.box("rpo-" + a.Name)
	if err != nil {
		return err
	}
	defer b.close()
	data := filepath.Join(dir, "data")
	if _, err := runCmd(ctx, 5*time.Minute, nil, nil, "cp", "-a", template, data); err != nil {
		return err
	}
	srv := r.newServer("rpo", data, b)
	defer srv.stop()
	id, err := r.startArchiving(ctx, eng, srv, t.Case.ArchiveTimeout)
	if err != nil {
		return err
	}
	acks, loadStart, err := r.loadAndCrash(ctx, srv, dir, hold, t)
	if err != nil {
		return err
	}
	recovered, err := r.restoredProbe(ctx, eng, id, filepath.Join(dir, "restore"))
	if err != nil {
		return err
	}
	var rpo time.Duration
	t.Acked, t.Lost, rpo = lossOf(acks, recovered, loadStart)
	t.RPO = rpo.Seconds()
	return nil
}

// startArchiving boots the archiver, starts the server with its
// settings, checks archiving and takes the base backup the restore
// starts from.
func (r *runner) startArchiving(ctx context.Context, eng engine, srv *server, timeout time.Duration) (string, error) {
	settings, err := eng.boot(ctx, srv)
	if err != nil {
		return "", err
	}
	settings = append(settings, fmt.Sprintf("archive_timeout = %d", int(timeout.Seconds())))
	if err := appendConf(srv.data, settings...); err != nil {
		return "", err
	}
	if err := srv.start(ctx, time.Minute); err != nil {
		return "", err
	}
	// PostgreSQL 15's checkpointer, started while the startup process
	// runs, ignores archive_timeout for a whole checkpoint_timeout unless
	// the configuration is reloaded (docs/backups.md): tandem's driver
	// reloads it after a start, and so does the benchmark for every
	// archiver alike.
	if err := srv.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return "", err
	}
	if err := eng.attach(ctx, srv); err != nil {
		return "", err
	}
	info, err := eng.backup(ctx)
	return info.ID, err
}

// loadAndCrash runs the load for hold, then crashes the server's box and
// stops the load. It returns the probe's acknowledgements and when the
// load started.
func (r *runner) loadAndCrash(ctx context.Context, srv *server, dir string, hold time.Duration, t *RPOTrial) ([]ack, time.Time, error) {
	l, err := startLoad(ctx, t.Case.Load, srv, dir)
	if err != nil {
		return nil, time.Time{}, err
	}
	start := time.Now()
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()
	// WAL written, from the statistics: the LSN would count the unused
	// rest of every segment archive_timeout switched.
	wal0, err := srv.queryString(ctx, "SELECT wal_bytes::text FROM pg_stat_wal")
	if err != nil {
		return nil, start, err
	}
	if err := sleep(ctx, hold); err != nil {
		return nil, start, err
	}
	if err := l.running(); err != nil {
		return nil, start, err
	}
	var walBytes string
	c, err := srv.connect(ctx)
	if err == nil {
		err = c.QueryRow(ctx, "SELECT (wal_bytes - $1::numeric)::text, archived_count, failed_count FROM pg_stat_wal, pg_stat_archiver",
			wal0).Scan(&walBytes, &t.Archived, &t.Failed)
		c.Close(ctx)
	}
	if err != nil {
		return nil, start, fmt.Errorf("before the crash: %w", err)
	}
	_, t.ProbeErrs = l.probe.counts()
	t.Hold = time.Since(start).Seconds()
	if err := srv.box.crash(); err != nil {
		return nil, start, err
	}
	acks, _ := l.stop()
	stopped = true
	if n, err := strconv.ParseFloat(walBytes, 64); err == nil {
		t.WALRate = n / t.Hold
	}
	return acks, start, nil
}

// restoredProbe restores the newest state of the archive into dir and
// returns the newest probe row in it.
func (r *runner) restoredProbe(ctx context.Context, eng engine, id, dir string) (int64, error) {
	b, err := r.boxes.box("rpo-restore")
	if err != nil {
		return 0, err
	}
	defer b.close()
	if err := eng.restore(ctx, id, dir); err != nil {
		return 0, err
	}
	cp := r.newServer("rpo-restored", dir, b)
	defer cp.stop()
	if err := cp.start(ctx, 10*time.Minute); err != nil {
		return 0, err
	}
	if err := cp.waitPromoted(ctx, 10*time.Minute); err != nil {
		return 0, err
	}
	v, err := cp.queryString(ctx, "SELECT coalesce(max(id), 0)::text FROM probe")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, errors.Join(err, cp.stop())
}

// lossOf compares the probe's acknowledged commits with the newest one
// restored (ids are consecutive, 0: none): lost counts the acknowledged
// commits after it, and rpo is the time from the acknowledgement of the
// newest restored commit (or of the newest acknowledged one before it,
// if its own acknowledgement was lost in the crash; or the start of the
// load, if none was restored) to the newest acknowledgement.
func lossOf(acks []ack, recovered int64, loadStart time.Time) (acked, lost int, rpo time.Duration) {
	if len(acks) == 0 {
		return 0, 0, 0
	}
	last := acks[len(acks)-1]
	from := loadStart
	for _, a := range acks {
		if a.ID <= recovered {
			from = a.At
		} else {
			lost++
		}
	}
	if lost == 0 {
		return len(acks), 0, 0
	}
	return len(acks), lost, last.At.Sub(from)
}

// line is a trial in one line, for progress.
func (t RPOTrial) line() string {
	s := fmt.Sprintf("%s %s trial %d: held %.1fs, WAL %.2f MB/s, %d archived; %d acknowledged commits, %d lost: RPO %.2fs",
		t.Setup, t.Case, t.Trial, t.Hold, t.WALRate/1e6, t.Archived, t.Acked, t.Lost, t.RPO)
	if t.Failed > 0 {
		s += fmt.Sprintf(" (%d archive_command failures)", t.Failed)
	}
	if t.Error != "" {
		s += "; FAILED: " + t.Error
	}
	return s
}
