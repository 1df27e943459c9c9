package backuprun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/cluster/clustertest"
	"github.com/tandem-run/tandem/internal/cron"
)

// newRuntime builds node's runtime on cl over the local store, backing
// up the file set uploads of dir; not opened.
func newRuntime(t *testing.T, cl Cluster, node, store, dir string) *Runtime {
	t.Helper()
	cfg := backup.Config{Local: store, Files: map[string]backup.FileConfig{"uploads": {Dir: dir}}}
	cfg.SetDefaults(t.TempDir())
	r, err := New(Options{Config: cfg, Node: node, DataDir: t.TempDir(), Program: []string{"tandem"}, Cluster: cl})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runJobs runs r's job runner (not the watch loop, which would decide
// the alarms the test raises) until the test ends.
func runJobs(t *testing.T, r *Runtime) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.jobs.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("jobs: %v", err)
		}
	})
}

// TestRuntimeBeforeOpen: until it is open, the runtime's admin API
// answers that the backups are not open, and its metrics know nothing.
func TestRuntimeBeforeOpen(t *testing.T) {
	r := newRuntime(t, clustertest.Start(t, "n1"), "n1", t.TempDir(), t.TempDir())
	ctx := t.Context()
	if st := r.Status(); st.Alarms == nil || len(st.Alarms) != 0 || st.Store != "" {
		t.Errorf("Status() = %+v; want no store and an empty list of alarms", st)
	}
	_, listErr := r.List(ctx)
	_, backupErr := r.Backup(ctx)
	_, restoreErr := r.Restore(ctx, admin.RestoreRequest{Dir: "/srv/copy"})
	for name, err := range map[string]error{"List": listErr, "Backup": backupErr, "Restore": restoreErr} {
		if !errors.Is(err, admin.ErrUnavailable) {
			t.Errorf("%s() = %v; want admin.ErrUnavailable", name, err)
		}
	}
	if s := r.Sample(); s.LastBackupAge != -1 || s.WALWaiting != -1 || s.Alarms != nil {
		t.Errorf("Sample() = %+v; want nothing known", s)
	}
}

// TestRuntimeBacksUpFilesAndPublishes: on a stack without a database, a
// backup run through the admin API stores the file set; another node
// lists and restores it, and sees the alarms the first raised once both
// published their state in the cluster's backup-node records.
func TestRuntimeBacksUpFilesAndPublishes(t *testing.T) {
	cl := clustertest.Start(t, "n1")
	ctx := t.Context()
	store, src := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("uploaded"), 0o644); err != nil {
		t.Fatal(err)
	}
	r1, r2 := newRuntime(t, cl, "n1", store, src), newRuntime(t, cl, "n2", store, t.TempDir())
	for _, r := range []*Runtime{r1, r2} {
		if err := r.Open(time.Now()); err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	runJobs(t, r1)
	run, err := r1.Backup(ctx)
	for deadline := time.Now().Add(10 * time.Second); errors.Is(err, cron.ErrNotRunning) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the runner's goroutine has not started yet
		run, err = r1.Backup(ctx)
	}
	if err != nil || !run.OK || run.Node != "n1" || len(run.Files) != 1 || run.Files[0].Set != "uploads" || run.Files[0].Files != 1 {
		t.Fatalf("Backup() = %+v, %v; want an OK run of n1 storing the one file of uploads", run, err)
	}

	list, err := r2.List(ctx)
	if err != nil || list.Node != "n2" || len(list.Files) != 1 || list.Files[0].Snapshots != 1 {
		t.Fatalf("List() on n2 = %+v, %v; want one snapshot of uploads", list, err)
	}
	into := filepath.Join(t.TempDir(), "restored")
	res, err := r2.Restore(ctx, admin.RestoreRequest{Files: "uploads", Dir: into})
	if err != nil || res.Files == nil || res.Files.Set != "uploads" {
		t.Fatalf("Restore(uploads) = %+v, %v", res, err)
	}
	if data, err := os.ReadFile(filepath.Join(into, "a.txt")); err != nil || string(data) != "uploaded" {
		t.Errorf("restored a.txt = %q, %v; want %q", data, err, "uploaded")
	}
	if _, err := r2.Restore(ctx, admin.RestoreRequest{Files: "uploads", Dir: "relative"}); !errors.Is(err, admin.ErrBadRequest) {
		t.Errorf("Restore(dir relative) = %v; want admin.ErrBadRequest", err)
	}
	if _, err := r2.Restore(ctx, admin.RestoreRequest{Files: "nope", Dir: into}); !errors.Is(err, admin.ErrBadRequest) {
		t.Errorf("Restore(files nope) = %v; want admin.ErrBadRequest", err)
	}

	r1.alarms.update(time.Now(), map[string]string{backup.AlarmStoreUnreachable: "down"})
	r1.publish(ctx)
	r2.publish(ctx)
	raw, err := cl.Records(ctx, "backup-node")
	if err != nil || len(raw) != 2 {
		t.Fatalf("backup-node records = %d, %v; want n1's and n2's", len(raw), err)
	}
	var rec nodeRecord
	if err := json.Unmarshal(raw["n1"], &rec); err != nil || rec.Node != "n1" || len(rec.Alarms) != 1 {
		t.Errorf("n1's record = %+v, %v; want its one alarm", rec, err)
	}
	got := r2.Status().Alarms
	if len(got) != 1 || got[0].Node != "n1" || got[0].Name != backup.AlarmStoreUnreachable {
		t.Errorf("n2's Status().Alarms = %+v; want n1's %s", got, backup.AlarmStoreUnreachable)
	}
	if s := r1.Sample(); !s.Alarms[backup.AlarmStoreUnreachable] || s.Alarms[backup.AlarmArchiveFailing] {
		t.Errorf("n1's Sample().Alarms = %v; want only %s raised", s.Alarms, backup.AlarmStoreUnreachable)
	}
	if st := r1.Status(); st.Schedule != backup.DefaultSchedule || st.TestSchedule != "" || st.NextBackup.IsZero() {
		t.Errorf("Status() = schedule %q, test schedule %q, next backup %s; want %q, none (no database), a next backup",
			st.Schedule, st.TestSchedule, st.NextBackup, backup.DefaultSchedule)
	}
}

// TestFirstBackupTakenElsewhere: a node that found the store empty and
// asked for the cluster's first backup takes none if, by the time its run
// holds the job's lock, another node's first backup has been stored.
func TestFirstBackupTakenElsewhere(t *testing.T) {
	r := newRuntime(t, clustertest.Start(t, "n1"), "n1", t.TempDir(), t.TempDir())
	if err := r.Open(time.Now()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Another node's first backup, stored after this node looked.
	id := "20261206T000000Z"
	data, err := json.Marshal(backup.Backup{ID: id, StartTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.repo.Store().PutIfAbsent(ctx, "backups/"+id+"/backup.json", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r.first.Store(true)
	var out []string
	if code := r.runBackup(ctx, func(line string) { out = append(out, line) }); code != 0 {
		t.Errorf("runBackup = %d, output %q; want 0", code, out)
	}
	if len(out) != 1 || !strings.Contains(out[0], "holds a base backup already ("+id+")") {
		t.Errorf("output %q; want it to say the store holds %s already", out, id)
	}
	if r.lastRun != nil {
		t.Errorf("a backup run recorded (%+v); want none taken", r.lastRun)
	}

	// Asked for by a user, the job runs whatever the store holds (its
	// retention then refuses the hand-made record, which has no WAL).
	r.first.Store(false)
	out = nil
	r.runBackup(ctx, func(line string) { out = append(out, line) })
	if r.lastRun == nil || len(out) == 0 || !strings.HasPrefix(out[0], "file set uploads") {
		t.Errorf("runBackup asked for: output %q; want the file set backed up", out)
	}
}
