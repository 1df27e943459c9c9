package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// primarySettings are the throughput database's: archiving on from the
// start (archive_mode needs a restart), into nothing until a setup points
// archive_command at its repository; room for the load's WAL.
var primarySettings = []string{
	"wal_level = replica", "archive_mode = on", "archive_command = '/bin/true'", "max_wal_senders = 10",
	"max_wal_size = 4GB", "checkpoint_timeout = 30min",
}

// throughput builds the pgbench database and, in each round, backs it up
// and restores it with every setup in turn (in the reverse order in even
// rounds).
func (r *runner) throughput(ctx context.Context) error {
	dir := filepath.Join(r.dir, "throughput")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	var srv *server
	engines := map[string]engine{}
	defer func() { // the server first, then what archives for it
		if srv != nil {
			srv.stop() //nolint:errcheck // errors at the end do not change the figures
		}
		for _, e := range engines {
			e.close() //nolint:errcheck // as above
		}
	}()
	srv, err := r.startPrimary(ctx, dir)
	if err != nil {
		return err
	}
	for round := 1; round <= r.o.rounds; round++ {
		order := slices.Clone(r.o.setups)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			if err := ctx.Err(); err != nil {
				return err
			}
			eng, ok := engines[s.Name]
			if !ok {
				if eng, err = newEngine(r.env, s, filepath.Join(dir, s.Name)); err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				engines[s.Name] = eng
			}
			r.throughputTrial(ctx, srv, eng, s, round, dir)
		}
	}
	return nil
}

// startPrimary makes and starts the throughput database and fills it
// with pgbench -i.
func (r *runner) startPrimary(ctx context.Context, dir string) (*server, error) {
	data := filepath.Join(dir, "primary")
	if err := r.env.pg.initdb(ctx, data); err != nil {
		return nil, err
	}
	if err := appendConf(data, primarySettings...); err != nil {
		return nil, err
	}
	b, err := r.boxes.box("primary")
	if err != nil {
		return nil, err
	}
	srv := r.newServer("primary", data, b)
	if err := srv.start(ctx, time.Minute); err != nil {
		return srv, err
	}
	r.logf("pgbench -i -s %d", r.o.scale)
	start := time.Now()
	if _, err := runCmd(ctx, 2*time.Hour, nil, nil, r.env.pg.path("pgbench"), "-i", "-q", "-s", strconv.Itoa(r.o.scale),
		"-h", srv.sock, "-U", "postgres", "postgres"); err != nil {
		return srv, err
	}
	if err := srv.exec(ctx, "CHECKPOINT"); err != nil {
		return srv, err
	}
	size, err := dataSize(data)
	if err != nil {
		return srv, err
	}
	r.rep.Settings.DatabaseBytes = size
	r.logf("database: %d bytes (%.0f MB) in %s", size, float64(size)/1e6, time.Since(start).Round(time.Second))
	return srv, nil
}

// throughputTrial points archiving at the setup's repository, takes a
// base backup and restores it into a fresh directory until PostgreSQL
// accepts writes there. A failure is the trial's, not the run's.
func (r *runner) throughputTrial(ctx context.Context, srv *server, eng engine, s setup, round int, dir string) {
	bt := OpTrial{Setup: s.Name, Round: round, Op: opBackup}
	id, err := r.measureBackup(ctx, srv, eng, &bt)
	if err != nil {
		bt.Error = err.Error()
	}
	r.rep.Ops = append(r.rep.Ops, bt)
	r.logf("%s", bt.line(r.rep.Settings.DatabaseBytes))
	if err != nil {
		return
	}
	rt := OpTrial{Setup: s.Name, Round: round, Op: opRestore}
	rdir := filepath.Join(dir, fmt.Sprintf("restore-%s-%d", s.Name, round))
	if err := r.measureRestore(ctx, eng, id, rdir, &rt); err != nil {
		rt.Error = fmt.Sprintf("%v (files kept in %s)", err, rdir)
		r.kept = true
	} else {
		os.RemoveAll(rdir)       //nolint:errcheck // the run's directory goes at the end anyway
		os.Remove(rdir + ".log") //nolint:errcheck // as above
	}
	r.rep.Ops = append(r.rep.Ops, rt)
	r.logf("%s", rt.line(r.rep.Settings.DatabaseBytes))
}

// measureBackup points archiving at the engine and times a full backup.
func (r *runner) measureBackup(ctx context.Context, srv *server, eng engine, t *OpTrial) (string, error) {
	settings, err := eng.boot(ctx, srv)
	if err != nil {
		return "", err
	}
	for _, st := range settings {
		if err := srv.exec(ctx, "ALTER SYSTEM SET "+st); err != nil {
			return "", err
		}
	}
	if err := srv.exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return "", err
	}
	// The archiver reads the new archive_command before its next file.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return "", err
	}
	if err := eng.attach(ctx, srv); err != nil {
		return "", err
	}
	m := startMeter(srv.box)
	info, err := eng.backup(ctx)
	t.Cost = m.stop()
	t.BackupID, t.ToolBytes, t.StoredBytes = info.ID, info.ToolBytes, info.StoredBytes
	return info.ID, err
}

// measureRestore times a restore into dir and PostgreSQL's recovery on
// it, until it accepts writes, then checks the restored data.
func (r *runner) measureRestore(ctx context.Context, eng engine, id, dir string, t *OpTrial) error {
	b, err := r.boxes.box("restore")
	if err != nil {
		return err
	}
	defer b.close()
	m := startMeter(b)
	if err := eng.restore(ctx, id, dir); err != nil {
		return err
	}
	t.Unpack = time.Since(m.start)
	cp := r.newServer("restored", dir, b)
	defer cp.stop()
	err = cp.start(ctx, time.Hour)
	if err == nil {
		err = cp.waitPromoted(ctx, time.Hour)
	}
	t.Cost = m.stop()
	t.Recovery = t.Cost.Wall - t.Unpack
	if err != nil {
		return err
	}
	// A restored copy that archived would write a new timeline into the
	// repository, which the next restore would follow.
	got, err := cp.queryString(ctx, "SELECT (SELECT count(*) FROM pgbench_branches)::text || ' ' || current_setting('archive_mode')")
	if err != nil {
		return fmt.Errorf("check the restored copy: %w", err)
	}
	if want := strconv.Itoa(r.o.scale) + " off"; got != want {
		return fmt.Errorf("check the restored copy: pgbench_branches rows and archive_mode are %q; want %q", got, want)
	}
	return errors.Join(cp.stop(), b.close())
}

// line is a trial in one line, for progress.
func (t OpTrial) line(dbBytes int64) string {
	s := fmt.Sprintf("%s round %d %s: %.1fs", t.Setup, t.Round, t.Op, t.Cost.Wall.Seconds())
	if t.Cost.Wall > 0 {
		s += fmt.Sprintf(" (%.0f MB/s), cpu %.1fs tool + %.1fs server", float64(dbBytes)/1e6/t.Cost.Wall.Seconds(),
			t.Cost.ToolCPU.Seconds(), t.Cost.ServerCPU.Seconds())
	}
	if t.Op == opBackup && t.StoredBytes > 0 {
		s += fmt.Sprintf(", stored %.1f MB", float64(t.StoredBytes)/1e6)
	}
	if t.Op == opRestore && t.Unpack > 0 {
		s += fmt.Sprintf(" = restore %.1fs + recovery %.1fs", t.Unpack.Seconds(), t.Recovery.Seconds())
	}
	if t.Error != "" {
		s += "; FAILED: " + t.Error
	}
	return s
}
