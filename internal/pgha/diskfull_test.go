package pgha

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/disktest"
)

// TestDiskFullFailsOver puts the primary's member directory on a small
// filesystem of its own and fills it under a steady writer: PostgreSQL
// stops when it cannot create its next WAL segment, the member says once
// that the filesystem is full (path and bytes free), restarts in place
// once, then gives the lease up, and the synchronous standby takes writes
// with no acknowledged write lost. The full member stays stopped; when
// space is freed it rejoins as a standby by itself (pg_rewind).
func TestDiskFullFailsOver(t *testing.T) {
	skipShort(t)
	t.Parallel()
	inst := needPostgres(t)
	// The template data directory takes ~40 MB; a WAL segment is 16 MiB.
	disk := disktest.Mount(t, 160<<20)
	// t.TempDir's parent is root's alone; the postgres user must pass.
	if err := os.Chmod(filepath.Dir(disk), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(disk, int(inst.UID), int(inst.GID)); err != nil {
		t.Fatal(err)
	}
	tc := healthyCluster(t, clusterSpec{names: []string{"a", "b"}, seed: "a", dirs: map[string]string{"a": filepath.Join(disk, "a")}})
	a := tc.members["a"]
	w := startWriter(tc, "diskfull")
	w.waitAckAfter(t, time.Now(), "b", 30*time.Second) // a takes writes before its disk fills

	fill := disktest.Fill(t, disk, 4<<20)
	fullAt := time.Now()
	// WAL without data files: the primary needs a new segment within a
	// few MiB and cannot create it.
	var stoppedAt time.Time
	func() {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		conn, err := tc.appConn(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for i := range 40 {
			if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(true, 'fill', repeat('x', 1<<20))"); err != nil {
				stoppedAt = time.Now()
				t.Logf("a's WAL stopped after %d MiB more: %v", i, err)
				return
			}
		}
		t.Fatal("40 MiB of WAL written on a full filesystem")
	}()

	first := w.waitAckAfter(t, stoppedAt, "a", 30*time.Second)
	if first.member != "b" {
		t.Fatalf("writes resumed on %s; want b", first.member)
	}
	took := first.ack.Sub(stoppedAt)
	ev := waitEvent(t, a, EventDemoted, 10*time.Second)
	if !strings.Contains(ev.Cause, "filesystem is full") {
		t.Errorf("a's demotion cause = %q; want the full filesystem named", ev.Cause)
	}

	// While full, a stays stopped: it neither restarts in a loop nor
	// campaigns for the lease; its status and its log say why, the log
	// once.
	time.Sleep(3 * time.Second)
	st := tc.status("a")
	if st.Role != PGStopped.String() || st.Leader != "b" {
		t.Errorf("a while full: role %q, leader %q; want stopped, b", st.Role, st.Leader)
	}
	if !strings.Contains(st.DiskFull, filepath.Join(disk, "a", "data")) || !strings.Contains(st.DiskFull, "bytes free") {
		t.Errorf("a's status disk_full = %q; want the data directory's path and the bytes free", st.DiskFull)
	}
	if ms, _ := findMember(tc.status("b"), "a"); !ms.DiskFull {
		t.Errorf("b's status of a = %+v; want disk_full", ms)
	}
	if n := a.logLines(`msg="the data directory's filesystem is full"`); n != 1 {
		t.Errorf("a logged the full filesystem %d times; want once", n)
	}
	if n := a.logLines("action=start-primary"); n > 2 {
		t.Errorf("a started postgres as primary %d times on the full disk; want at most one restart in place", n)
	}

	fill.Remove()
	freedAt := time.Now()
	tc.waitHealthy("b", 90*time.Second)
	rejoin := time.Since(freedAt)
	w.stop()
	unacked := w.verify(t, "b")
	if old, _ := filepath.Glob(filepath.Join(a.dir, "data.old-*")); len(old) > 0 {
		t.Errorf("a was cloned (%v); want a rewind", old)
	}
	if got := tc.status("a").DiskFull; got != "" {
		t.Errorf("a's status disk_full = %q after space was freed", got)
	}
	t.Logf("filesystem filled (%d bytes left); a's postgres stopped %s later; writes resumed on b %s after that; a back as a synchronous standby %s after space was freed; %d writes acknowledged, %d unacknowledged but committed",
		int64(4<<20), stoppedAt.Sub(fullAt).Round(time.Millisecond), took.Round(time.Millisecond), rejoin.Round(time.Millisecond), len(w.acks()), unacked)
}
