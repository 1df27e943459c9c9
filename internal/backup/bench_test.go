package backup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// TestBackupThroughput measures, on a ~1 GiB database (pgbench -i -s 60)
// archiving into versitygw on loopback: base backup and restore
// throughput, and the RPO under steady writes, heavy (pgbench) and light
// (a commit every 100 ms): the primary crashed at a random moment, the
// archive restored, the newest commit found compared with the crash. It
// takes minutes: it runs only with
// TANDEM_BACKUP_BENCH=1 (scale with TANDEM_BACKUP_BENCH_SCALE, RPO trials
// with TANDEM_BACKUP_BENCH_TRIALS), never under -short.
func TestBackupThroughput(t *testing.T) {
	if testing.Short() || os.Getenv("TANDEM_BACKUP_BENCH") != "1" {
		t.Skip("a benchmark of several minutes: set TANDEM_BACKUP_BENCH=1")
	}
	scale := envInt("TANDEM_BACKUP_BENCH_SCALE", 60)
	trials := envInt("TANDEM_BACKUP_BENCH_TRIALS", 3)
	pg := needPostgres(t)
	gw := startGateway(t)
	repo, _ := NewRepository(gw.Store("bench/"), nil)
	dir := testDir(t)
	sock := filepath.Join(dir, "p.sock")
	pg.mkdir(sock)
	a := runArchiver(t, repo, filepath.Join(sock, "wal.sock"), filepath.Join(dir, "p"))
	// A cluster with the default 16 MiB segments, as in production.
	data := filepath.Join(dir, "p")
	if err := pg.mkdir(data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := pg.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--locale=C"); err != nil {
		t.Fatal(err)
	}
	p := startCluster(t, pg, dir, "p", append(archiving(filepath.Join(sock, "wal.sock")),
		"archive_timeout = 45s", "max_wal_size = 4GB", "checkpoint_timeout = 15min")...)

	start := time.Now()
	if out, err := pg.run(ctx, "pgbench", "-i", "-s", strconv.Itoa(scale), "-q", "-h", p.srv.sockDir, "-U", "postgres", "postgres"); err != nil {
		t.Fatalf("pgbench -i: %v: %s", err, out)
	}
	size := p.queryString("SELECT pg_database_size('postgres')::text")
	t.Logf("pgbench -i -s %d: %s bytes in %s", scale, size, time.Since(start).Round(time.Millisecond))
	p.switchWAL(repo)

	m := newManager(t, repo, p, dir, a)
	m.opts.PartSize = 32 << 20
	m.opts.RecoveryTimeout = 30 * time.Minute
	start = time.Now()
	b, err := m.RunBaseBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("base backup: %d bytes (%d stored, ratio %.2f) in %s: %.1f MB/s", b.DataBytes, b.StoredBytes,
		float64(b.DataBytes)/float64(b.StoredBytes), took.Round(time.Millisecond), float64(b.DataBytes)/took.Seconds()/1e6)

	start = time.Now()
	res, err := m.RestoreCopy(ctx, RestoreOptions{Dir: filepath.Join(dir, "restored")})
	if err != nil {
		t.Fatal(err)
	}
	took = time.Since(start)
	t.Logf("restore (fetch, unpack, pg_verifybackup, recovery): %d bytes in %s: %.1f MB/s", res.Bytes, took.Round(time.Millisecond),
		float64(res.Bytes)/took.Seconds()/1e6)
	os.RemoveAll(filepath.Join(dir, "restored"))

	p.exec("CREATE TABLE beats(t timestamptz NOT NULL)")
	p.switchWAL(repo)
	for _, heavy := range []bool{true, false} {
		if os.Getenv("TANDEM_BACKUP_BENCH_RPO") == "light" && heavy {
			continue
		}
		var rpos []time.Duration
		for i := range trials {
			rpos = append(rpos, measureRPO(t, ctx, m, p, filepath.Join(dir, fmt.Sprintf("rpo-%v-%d", heavy, i)), heavy))
			p = startCluster(t, pg, dir, "p") // up again after the crash, for the next trial
			// What the crashed server had not archived is lost with it; the
			// next trial starts from an archived point.
			p.exec("INSERT INTO beats VALUES (clock_timestamp())")
			p.switchWAL(repo)
		}
		sort.Slice(rpos, func(i, j int) bool { return rpos[i] < rpos[j] })
		load := "a commit every 100 ms"
		if heavy {
			load = "pgbench -c 2 and a commit every 100 ms"
		}
		t.Logf("RPO under steady writes (%s), %d trials: min %s, median %s, max %s",
			load, len(rpos), rpos[0].Round(time.Millisecond), rpos[len(rpos)/2].Round(time.Millisecond), rpos[len(rpos)-1].Round(time.Millisecond))
	}
}

// measureRPO writes steadily for a while, crashes the primary, restores
// the archive and returns how much time of commits the restore lacks.
func measureRPO(t *testing.T, ctx context.Context, m *Manager, p *cluster, dir string, heavy bool) time.Duration {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if heavy {
		bench := p.pg.command(wctx, "pgbench", "-c", "2", "-T", "600", "-n", "-h", p.srv.sockDir, "-U", "postgres", "postgres")
		if err := bench.Start(); err != nil {
			t.Fatal(err)
		}
		defer bench.Wait()
	}
	beats := exec.CommandContext(wctx, filepath.Join(p.pg.BinDir, "psql"), "-h", p.srv.sockDir, "-U", "postgres", "-q", "-c",
		`DO $$ BEGIN FOR i IN 1..100000 LOOP INSERT INTO beats VALUES (clock_timestamp()); COMMIT; PERFORM pg_sleep(0.1); END LOOP; END $$`)
	if err := beats.Start(); err != nil {
		t.Fatal(err)
	}
	hold := time.Duration(20+time.Now().UnixNano()%40) * time.Second // steady writes for 20-60 s
	if h := envInt("TANDEM_BACKUP_BENCH_HOLD", 0); h > 0 {
		hold = time.Duration(h) * time.Second
	}
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(10 * time.Second) {
		if os.Getenv("TANDEM_BACKUP_BENCH_DEBUG") == "1" {
			t.Logf("wal %s; checkpointer: %s; %s", p.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())"),
				p.queryString("SELECT coalesce(wait_event, 'running') FROM pg_stat_activity WHERE backend_type = 'checkpointer'"),
				p.queryString("SELECT checkpoints_timed || ' timed, ' || checkpoints_req || ' requested' FROM pg_stat_bgwriter"))
		}
	}
	if testing.Verbose() {
		t.Logf("before the crash: beats %s, wal %s, archiver %s", p.queryString("SELECT count(*)::text || ' ' || coalesce(max(t)::text, '') FROM beats"),
			p.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())"),
			p.queryString("SELECT coalesce(last_archived_wal, '') || ' ' || archived_count || ' ' || failed_count FROM pg_stat_archiver"))
	}
	crashed := time.Now()
	p.crash()
	stop()
	beats.Wait()
	time.Sleep(5 * time.Second) // whatever was in flight reaches the store or fails
	res, err := m.RestoreCopy(ctx, RestoreOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := openCopy(t, dir)
	last, err := time.Parse(time.RFC3339Nano, c.queryString(`SELECT to_char(max(t) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM beats`))
	c.stop()
	os.RemoveAll(dir)
	os.RemoveAll(dir + ".sock")
	if err != nil {
		t.Fatal(err)
	}
	rpo := crashed.Sub(last)
	if testing.Verbose() {
		wal, _ := m.repo.ListWAL(ctx)
		var names []string
		for _, w := range wal[max(0, len(wal)-3):] {
			names = append(names, w.Name.String())
		}
		st := m.Status().Archive
		t.Logf("archive ends with %v; archiver: %d archived, %d failures, %d conflicts, last failure %q", names, st.Archived, st.Failures, st.Conflicts, st.LastFailure)
	}
	t.Logf("crash at %s; restored to %s (lsn %s): RPO %s", crashed.UTC().Format(time.RFC3339Nano), last.Format(time.RFC3339Nano), res.LSN, rpo.Round(time.Millisecond))
	return rpo
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
