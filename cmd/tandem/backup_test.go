package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/backup/s3test"
	"github.com/tandem-run/tandem/internal/config"
)

// backupStack is databaseStack with backups to a directory all three
// nodes share (they run on one machine), a segment switch every 2 s, a
// restore test every 20 s and a directory of the app's files.
const backupStack = databaseStack + `
backup:
  local: "{{store}}"
  local_shared: true
  schedule: "0 3 * * *"
  archive_timeout: 2s
  restore_test: { schedule: "@every 20s" }
  files: { uploads: { dir: "{{uploads}}" } }
`

var postgresTandemOnce struct {
	sync.Once
	path string
	err  error
}

// postgresTandem is a copy of this binary named tandem that the postgres
// user may run: archive_command and restore_command run it (db wal-push,
// db wal-fetch), and Go builds this binary in a directory only root may
// enter.
func postgresTandem(t *testing.T) string {
	t.Helper()
	o := &postgresTandemOnce
	o.Do(func() {
		top := filepath.Dir(tandemBin)
		dir := filepath.Join(top, "pg")
		if o.err = os.Chmod(top, 0o711); o.err != nil {
			return
		}
		if o.err = os.Mkdir(dir, 0o755); o.err != nil {
			return
		}
		o.path = filepath.Join(dir, "tandem")
		o.err = copyExecutable(tandemBin, o.path)
	})
	if o.err != nil {
		t.Fatalf("a copy of tandem for the postgres user: %v", o.err)
	}
	return o.path
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeUploads writes files (by path under dir: content) for a file set.
func writeUploads(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// memberConn connects to node cn's PostgreSQL member as the superuser,
// over its Unix socket (peer authentication maps root to postgres).
func memberConn(t *testing.T, cn *clusterNode, pgport int) *pgx.Conn {
	t.Helper()
	st, err := config.Load(cn.sf.path)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(st.Cluster.DataDir, "postgres", "run")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", sock, pgport))
	if err != nil {
		t.Fatalf("connect to %s's PostgreSQL: %v", cn.name, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// insertRows commits rows from..to, one transaction each.
func insertRows(t *testing.T, conn *pgx.Conn, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for id := from; id <= to; id++ {
		if _, err := conn.Exec(ctx, "INSERT INTO e2e_rows (id) VALUES ($1)", id); err != nil {
			t.Fatalf("insert row %d: %v", id, err)
		}
	}
}

// waitArchived switches to a new WAL segment on the primary and waits
// until the store holds the one it closed, as tandem db backups on cn
// lists it (the primary's own statistics would not survive a restart of
// it on a loaded machine).
func waitArchived(t *testing.T, conn *pgx.Conn, cn *clusterNode, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var seg string
	if err := conn.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		t.Fatal(err)
	}
	waitBackups(t, cn, "segment "+seg+" in the archive", timeout, func(l admin.BackupList) bool { return l.WAL.Last >= seg })
	return seg
}

// backupList runs tandem db backups --json on cn.
func backupList(t *testing.T, cn *clusterNode) admin.BackupList {
	t.Helper()
	out, code := cn.run("db", "backups", "--json")
	if code != 0 {
		t.Fatalf("tandem db backups at %s: exit %d\n%s", cn.name, code, out)
	}
	var l admin.BackupList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("decode db backups: %v\n%s", err, out)
	}
	return l
}

// waitBackups polls tandem db backups on cn until cond holds.
func waitBackups(t *testing.T, cn *clusterNode, what string, timeout time.Duration, cond func(admin.BackupList) bool) admin.BackupList {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := backupList(t, cn)
		if cond(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; tandem db backups at %s: %+v", what, timeout, cn.name, l)
		}
		time.Sleep(time.Second)
	}
}

// TestBackupRestoresToAPointAcrossAFailover: a two-member database with
// backups to a shared directory. The cluster's first base backup is taken
// as soon as the database runs; rows are committed, `tandem db backup`
// takes another from the standby, more rows, then the primary's node is
// killed (SIGKILL) and the standby takes over on a new timeline, which it
// archives into the same archive; more rows, a moment T, more rows. `tandem
// db restore --time T` on the third node (no member) restores a copy that
// holds exactly the rows committed before T, across the timeline switch,
// and does not archive. The scheduled restore test passes; once an
// object of the backup is damaged, it fails naming it and raises its
// alarm, and a restore of that backup refuses it.
func TestBackupRestoresToAPointAcrossAFailover(t *testing.T) {
	t.Parallel()
	slow(t)
	pg, err := backup.FindPostgres()
	if err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	pgport, dbport := freePortOn(t, "127.0.0.1"), freePortOn(t, "127.0.0.1")
	store, uploads := t.TempDir(), t.TempDir()
	writeUploads(t, uploads, map[string]string{"logo.png": "not really a PNG", "2026/12/report.pdf": "quarterly figures"})
	tmpl := strings.NewReplacer("{{pgport}}", strconv.Itoa(pgport), "{{dbport}}", strconv.Itoa(dbport), "{{store}}", store,
		"{{uploads}}", uploads).Replace(backupStack)
	nodes := startCluster(t, tmpl, "a")
	a, b, c := nodes[0], nodes[1], nodes[2]
	waitDatabase(t, c, "node-a", true, 90*time.Second)
	first := waitBackups(t, c, "the cluster's first base backup", 3*time.Minute, func(l admin.BackupList) bool { return len(l.Backups) > 0 })
	t.Logf("first base backup %s from %s", first.Backups[0].ID, first.Backups[0].Source)

	conn := memberConn(t, a, pgport)
	if _, err := conn.Exec(context.Background(), "CREATE TABLE e2e_rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"); err != nil {
		t.Fatal(err)
	}
	insertRows(t, conn, 1, 10)
	// Another node may still be in its try at the first backup (it finds
	// one stored and ends): the CLI says a backup is running meanwhile.
	out, code := c.run("db", "backup")
	for deadline := time.Now().Add(time.Minute); code != 0 && strings.Contains(out, "a backup is running") && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		out, code = c.run("db", "backup")
	}
	if code != 0 || !strings.Contains(out, "base backup ") || !strings.Contains(out, "file set uploads: 2 files") {
		t.Fatalf("tandem db backup: exit %d\n%s", code, out)
	}
	t.Logf("tandem db backup:\n%s", out)
	l := backupList(t, c)
	taken := l.Backups[len(l.Backups)-1]
	if taken.Source != "node-b" {
		t.Errorf("the base backup was taken from %q; want node-b, the streaming standby", taken.Source)
	}
	if len(l.Files) != 1 || l.Files[0].Set != "uploads" || l.Files[0].Snapshots < 2 || l.Files[0].Files != 2 {
		t.Errorf("file sets in the store: %+v; want uploads with a snapshot per backup, 2 files", l.Files)
	}
	restored := filepath.Join(t.TempDir(), "uploads")
	if out, code := c.run("db", "restore", "--files", "uploads", "--latest", "--to", restored); code != 0 || !strings.Contains(out, "restored file set uploads") {
		t.Errorf("tandem db restore --files uploads: exit %d\n%s", code, out)
	} else {
		t.Logf("tandem db restore --files uploads:\n%s", out)
	}
	for name, want := range map[string]string{"logo.png": "not really a PNG", "2026/12/report.pdf": "quarterly figures"} {
		if got, err := os.ReadFile(filepath.Join(restored, name)); err != nil || string(got) != want {
			t.Errorf("restored %s = %q, %v; want %q", name, got, err, want)
		}
	}
	insertRows(t, conn, 11, 20)
	conn.Close(context.Background())

	// The timeline before the kill: under load the cluster may have
	// failed over already, and retention may have removed timeline 1.
	before := leaderTimeline(dbStatus(t, c))
	killed := time.Now()
	a.kill(t)
	st := waitDatabase(t, c, "node-b", false, 60*time.Second)
	t.Logf("primary on %s %s after the kill", st.Leader, time.Since(killed).Round(time.Millisecond))
	conn = memberConn(t, b, pgport)
	insertRows(t, conn, 21, 30)
	time.Sleep(1100 * time.Millisecond) // commit times on either side of T, a clear second apart
	target := time.Now().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	insertRows(t, conn, 31, 40)
	seg := waitArchived(t, conn, c, time.Minute)
	t.Logf("archived through %s on node-b", seg)

	l = backupList(t, c)
	after := leaderTimeline(dbStatus(t, c))
	if before == 0 || after <= before || !slices.Contains(l.WAL.Timelines, before) || !slices.Contains(l.WAL.Timelines, after) || l.WAL.Histories < 1 {
		t.Errorf("the archive after the failover: %+v; want segments of timelines %d (before the kill) and %d (after) and a history file", l.WAL, before, after)
	}
	// Members publish their archiver's state every 15 s.
	waitBackups(t, c, "node-b's archiver as node-c shows it", time.Minute, func(l admin.BackupList) bool {
		i := slices.IndexFunc(l.Archivers, func(a admin.ArchiveInfo) bool { return a.Node == "node-b" })
		return i >= 0 && l.Archivers[i].LastArchived >= "00000002" && l.Archivers[i].StoreReachable
	})
	out, code = c.run("db", "backups")
	if code != 0 || !strings.Contains(out, taken.ID) {
		t.Errorf("tandem db backups: exit %d\n%s", code, out)
	}
	t.Logf("tandem db backups:\n%s", out)

	dir := filepath.Join(traversable(t, t.TempDir()), "copy")
	out, code = c.run("db", "restore", "--time", target.Format(time.RFC3339), "--to", dir, "--json")
	if code != 0 {
		t.Fatalf("tandem db restore --time %s: exit %d\n%s", target.Format(time.RFC3339), code, out)
	}
	var res admin.RestoreResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("decode the restore: %v\n%s", err, out)
	}
	t.Logf("restored backup %s into %s on %s to %s: last commit %s, LSN %s, timeline %d, in %s",
		res.Backup.ID, res.Dir, res.Node, res.Target.Format(time.RFC3339Nano), res.LastCommit.Format(time.RFC3339Nano), res.LSN, res.Timeline, res.Took)
	if res.Backup.ID != taken.ID {
		t.Errorf("restored backup %s; want %s, the newest before T", res.Backup.ID, taken.ID)
	}
	if res.Timeline < 3 || res.LastCommit.After(target) || res.LastCommit.Before(target.Add(-3*time.Second)) {
		t.Errorf("restore result %+v; want a new timeline after 2 and the last commit just before %s", res, target)
	}

	copyConn := startCopy(t, pg, dir)
	var ids []int
	rows, err := copyConn.Query(context.Background(), "SELECT id FROM e2e_rows ORDER BY id")
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int])
	}
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, 30)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(ids, want) {
		t.Errorf("the copy restored to %s holds rows %v; want 1..30, exactly those committed before it", target, ids)
	}
	var mode string
	if err := copyConn.QueryRow(context.Background(), "SHOW archive_mode").Scan(&mode); err != nil || mode != "off" {
		t.Errorf("the copy's archive_mode = %q (%v); want off: a copy must not archive into the production archive", mode, err)
	}

	tested := waitBackups(t, c, "a restore test that passed", 3*time.Minute, func(l admin.BackupList) bool {
		return l.LastTest != nil && l.LastTest.OK && l.LastTest.Started.After(killed)
	})
	t.Logf("restore test %s: backup %s in %s, %s behind", tested.LastTest.ID, tested.LastTest.BackupID, tested.LastTest.Took, tested.LastTest.Lag)
	if out, code := c.run("status"); code != 0 || !strings.Contains(out, "restore test passed") {
		t.Errorf("tandem status: exit %d; want a backup line with the restore test\n%s", code, out)
	} else if _, line, ok := strings.Cut(out, "\nbackup: "); ok {
		t.Logf("tandem status: backup: %s", strings.SplitN(line, "\n", 2)[0])
	}
	if out, code := b.run("db", "backups"); code == 0 {
		t.Logf("tandem db backups at node-b:\n%s", out)
	}

	// A damaged object: the next restore test fails naming it and raises
	// its alarm; a restore of that backup refuses it.
	parts, _ := filepath.Glob(filepath.Join(store, "backups", taken.ID, "data", "*"))
	if len(parts) == 0 {
		t.Fatalf("no part of backup %s in the store", taken.ID)
	}
	s3test.FlipByte(t, parts[0], 100)
	damaged := time.Now()
	l = waitBackups(t, c, "a restore test that failed", 3*time.Minute, func(l admin.BackupList) bool {
		return l.LastTest != nil && !l.LastTest.OK && l.LastTest.Started.After(damaged)
	})
	if e := l.LastTest.Error; !strings.Contains(e, "corrupt") || !strings.Contains(e, taken.ID) {
		t.Errorf("the failed restore test says %q; want the damaged object named", e)
	}
	t.Logf("restore test after the damage: %s", l.LastTest.Error)
	waitAlarm(t, []*clusterNode{b, c}, "restore-test-failed", "", 2*time.Minute)
	out, code = c.run("db", "restore", "--backup", taken.ID, "--to", filepath.Join(filepath.Dir(dir), "damaged"))
	if code == 0 || !strings.Contains(out, "corrupt") {
		t.Errorf("tandem db restore --backup %s of a damaged backup: exit %d; want a failure naming the damage\n%s", taken.ID, code, out)
	}
}

// waitAlarm waits until one of nodes shows the backup alarm name, raised
// by the node from (any node when ""), in its status: the cluster's
// alarms are raised by one node.
func waitAlarm(t *testing.T, nodes []*clusterNode, name, from string, timeout time.Duration) admin.BackupAlarm {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range nodes {
			st, err := n.client().Status(context.Background())
			if err != nil || st.Backup == nil {
				continue
			}
			for _, al := range st.Backup.Alarms {
				if al.Name == name && (from == "" || al.Node == from) {
					t.Logf("alarm %s on %s: %s", name, n.name, al.Message)
					return al
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s alarm on %d nodes within %s", name, len(nodes), timeout)
		}
		time.Sleep(time.Second)
	}
}

// startCopy starts PostgreSQL on a restored data directory, as the
// documentation says, on a socket only, trusting local connections, and
// connects to it; it is stopped when the test ends.
func startCopy(t *testing.T, pg backup.Postgres, dir string) *pgx.Conn {
	t.Helper()
	run := traversable(t, t.TempDir())
	if err := os.Chown(run, pg.UID, pg.GID); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(run, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePortOn(t, "127.0.0.1")
	pgctl := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(pg.BinDir, "pg_ctl"), append([]string{"-D", dir}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(pg.UID), Gid: uint32(pg.GID)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl %s: %w\n%s", args, err, out)
		}
		return nil
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses='' -c unix_socket_directories=%s -c hba_file=%s", port, run, hba)
	if err := pgctl("-w", "-t", "60", "-l", filepath.Join(run, "log"), "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(run, "log"))
		t.Fatalf("start the restored copy: %v\n%s", err, log)
	}
	t.Cleanup(func() {
		if err := pgctl("-w", "-m", "fast", "stop"); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", run, port))
	if err != nil {
		t.Fatalf("connect to the restored copy: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// backupS3Stack is databaseStack with backups to a real S3 server and
// alerts to a webhook.
const backupS3Stack = databaseStack + `
backup:
  s3: { endpoint: "{{s3}}", bucket: "{{bucket}}", path_style: true, access_key: "{{s3key}}", secret_key: "{{s3secret}}" }
  schedule: "0 3 * * *"
  archive_timeout: 2s
  restore_test: { schedule: "0 4 * * *" }
alerts:
  webhook: { url: "{{hook}}/alerts", headers: { Authorization: "Bearer e2e-token" } }
`

// waitBackupAlert waits until a backup alert of event that says about
// has come to h.
func waitBackupAlert(t *testing.T, h *hookReceiver, event, about string, timeout time.Duration) alert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := h.list()
		for _, a := range got {
			if a.Check == "backup" && a.Event == event && strings.Contains(a.Message, about) {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s alert about %q within %s; alerts %+v", event, about, timeout, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBackupStoreOutageLosesNothing: a two-member database archiving to
// a real S3 server (versitygw on loopback). The server goes away while
// rows are committed and WAL segments close: archiving fails and
// PostgreSQL retries (pg_stat_archiver.failed_count rises), the
// primary's node raises store-unreachable with the WAL waiting and the
// disk left (in tandem status, also on a node with no member, /metrics
// and an alert). The server
// returns: the alarm clears (an alert says so), archiving catches up, and
// a restore of everything the archive holds has every row, so no
// segment is missing.
func TestBackupStoreOutageLosesNothing(t *testing.T) {
	t.Parallel()
	slow(t)
	pg, err := backup.FindPostgres()
	if err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	gw := s3test.Start(t)
	hook := &hookReceiver{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	pgport, dbport := freePortOn(t, "127.0.0.1"), freePortOn(t, "127.0.0.1")
	tmpl := strings.NewReplacer("{{pgport}}", strconv.Itoa(pgport), "{{dbport}}", strconv.Itoa(dbport), "{{s3}}", gw.Endpoint(),
		"{{bucket}}", gw.Bucket, "{{s3key}}", s3test.AccessKey, "{{s3secret}}", s3test.SecretKey, "{{hook}}", hookSrv.URL).Replace(backupS3Stack)
	nodes := startCluster(t, tmpl)
	a, c := nodes[0], nodes[2]
	waitDatabase(t, c, "node-a", true, 90*time.Second)
	waitBackups(t, c, "the cluster's first base backup", 3*time.Minute, func(l admin.BackupList) bool { return len(l.Backups) > 0 })

	conn := memberConn(t, a, pgport)
	if _, err := conn.Exec(context.Background(), "CREATE TABLE e2e_rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"); err != nil {
		t.Fatal(err)
	}
	insertRows(t, conn, 1, 10)
	waitArchived(t, conn, c, time.Minute)

	gw.Stop()
	down := time.Now()
	for i := range 4 { // closed segments that wait for the store
		insertRows(t, conn, 11+5*i, 15+5*i)
		if _, err := conn.Exec(context.Background(), "SELECT pg_switch_wal()"); err != nil {
			t.Fatal(err)
		}
	}
	st := a.waitFor("store-unreachable on node-a", time.Minute, func(st admin.Status) bool {
		return st.Backup != nil && slices.ContainsFunc(st.Backup.Alarms, func(al admin.BackupAlarm) bool { return al.Name == "store-unreachable" })
	})
	for _, al := range st.Backup.Alarms {
		if al.Name == "store-unreachable" && !(strings.Contains(al.Message, "wait in pg_wal") && strings.Contains(al.Message, "free on its disk")) {
			t.Errorf("the store-unreachable alarm says %q; want the WAL waiting and the disk left", al.Message)
		}
	}
	if ar := st.Backup.Archive; ar == nil || ar.WALWaiting < 1 || ar.DiskFree <= 0 || ar.StoreReachable {
		t.Errorf("node-a's archiver while the store is away: %+v; want WAL waiting, the disk left, the store unreachable", ar)
	}
	alert := waitBackupAlert(t, hook, "store-unreachable", "node-a", time.Minute)
	t.Logf("alert %s %s after the store went away: %s", alert.Event, time.Since(down).Round(time.Second), alert.Message)
	metrics := adminGet(t, a.node, "/metrics")
	for _, want := range []string{`tandem_backup_alarm{alarm="store-unreachable"} 1`, "tandem_backup_store_reachable 0"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("node-a's /metrics lacks %q", want)
		}
	}
	var failed int64
	if err := conn.QueryRow(context.Background(), "SELECT failed_count FROM pg_stat_archiver").Scan(&failed); err != nil || failed == 0 {
		t.Errorf("pg_stat_archiver.failed_count = %d (%v); want failures while the store is away", failed, err)
	}
	// Node-c, with no member, shows node-a's alarm too (nodes publish
	// theirs every 15 s; node-b's standby archives too and may raise its
	// own first).
	waitAlarm(t, []*clusterNode{c}, "store-unreachable", "node-a", time.Minute)
	if out, code := c.run("status"); code != 0 || !strings.Contains(out, "ALARM store-unreachable on node-a") {
		t.Errorf("tandem status on node-c: exit %d; want node-a's alarm\n%s", code, out)
	} else {
		t.Logf("tandem status on node-c:\n%s", out[strings.Index(out, "\nbackup:")+1:])
	}

	gw.Start()
	up := time.Now()
	waitBackupAlert(t, hook, "store-unreachable-cleared", "", 2*time.Minute)
	t.Logf("the alarm cleared %s after the store came back", time.Since(up).Round(time.Second))
	insertRows(t, conn, 31, 35)
	seg := waitArchived(t, conn, c, 2*time.Minute)
	t.Logf("archived through %s %s after the store came back", seg, time.Since(up).Round(time.Second))

	dir := filepath.Join(traversable(t, t.TempDir()), "copy")
	out, code := c.run("db", "restore", "--latest", "--to", dir)
	if code != 0 {
		t.Fatalf("tandem db restore --latest: exit %d\n%s", code, out)
	}
	t.Logf("tandem db restore --latest:\n%s", out)
	var n, maxID int
	if err := startCopy(t, pg, dir).QueryRow(context.Background(), "SELECT count(*), max(id) FROM e2e_rows").Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n != 35 || maxID != 35 {
		t.Errorf("the copy restored from the archive holds %d rows up to %d; want all 35: a segment is missing", n, maxID)
	}
}
