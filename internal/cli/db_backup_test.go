package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestRestoreRequest: the restore flags give one target and a directory,
// or an error that names the flag.
func TestRestoreRequest(t *testing.T) {
	for _, tc := range []struct {
		at, id, dir, into string
		latest            bool
		wantErr           string
		wantTime          time.Time
	}{
		{at: "2026-12-06T04:54:03Z", dir: "/srv/copy", wantTime: time.Date(2026, 12, 6, 4, 54, 3, 0, time.UTC)},
		{at: "2026-12-06T05:54:03.25+01:00", id: "b1", dir: "/srv/copy", wantTime: time.Date(2026, 12, 6, 4, 54, 3, 250e6, time.UTC)},
		{latest: true, dir: "/srv/copy"},
		{id: "b1", dir: "/srv/copy"},
		{latest: true, wantErr: "--to DIR is required"},
		{dir: "/srv/copy", wantErr: "--time T, --latest or --backup ID"},
		{latest: true, at: "2026-12-06T04:54:03Z", dir: "/srv/copy", wantErr: "--latest goes alone"},
		{at: "yesterday", dir: "/srv/copy", wantErr: "--time"},
		{latest: true, into: "shop-wiki-restored"},
		{latest: true, dir: "/srv/copy", into: "shop-wiki-restored", wantErr: "not both"},
	} {
		req, err := restoreRequest(tc.at, tc.id, tc.dir, tc.into, tc.latest)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("restoreRequest(%q, %q, %q, %v) = %v; want an error saying %q", tc.at, tc.id, tc.dir, tc.latest, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("restoreRequest(%q, %q, %q, %v): %v", tc.at, tc.id, tc.dir, tc.latest, err)
		case !req.Time.Equal(tc.wantTime) || req.Backup != tc.id || req.Dir != tc.dir || req.IntoBucket != tc.into:
			t.Errorf("restoreRequest(%q, %q, %q, %v) = %+v", tc.at, tc.id, tc.dir, tc.latest, req)
		}
	}
}

// TestPrintBackupsArchivers: every member's archiver shows, the others'
// with the time they published it, and a store that does not answer
// stands out with the WAL waiting and the disk left.
func TestPrintBackupsArchivers(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	l := admin.BackupList{Node: "node-c", Store: "s3://b/", Backups: []admin.BackupInfo{}, WAL: admin.WALSummary{Timelines: []uint32{}},
		Archivers: []admin.ArchiveInfo{
			{Node: "node-a", LastArchived: "000000010000000000000009", LastArchivedAt: now.Add(-time.Minute), Archived: 9, WALWaiting: 3,
				WALWaitingBytes: 48 << 20, DiskFree: 10 << 30, StoreError: "store unreachable: connection refused", CheckedAt: now.Add(-10 * time.Second)},
			{Node: "node-b", LastArchived: "000000010000000000000009", LastArchivedAt: now.Add(-time.Minute), WALWaiting: 0, DiskFree: -1,
				StoreReachable: true, CheckedAt: now.Add(-5 * time.Second)},
		}}
	var b strings.Builder
	printBackups(&b, l, now)
	out := b.String()
	for _, want := range []string{
		"WAL archiver on node-a: last archived 000000010000000000000009 1m0s ago, 9 archived, 0 failures, 3 WAL waiting (48.0 MiB), 10.0 GiB free, STORE UNREACHABLE: store unreachable: connection refused (as of 10s ago)\n",
		"WAL archiver on node-b: last archived 000000010000000000000009 1m0s ago, 0 archived, 0 failures, 0 WAL waiting (0 B), store reachable (as of 5s ago)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tandem db backups lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintBackupRunBucket: a bucket's line says how many objects were
// copied, and each object left out (damaged in the store) is named.
func TestPrintBackupRunBucket(t *testing.T) {
	var b strings.Builder
	printBackupRun(&b, admin.BackupRun{OK: true, Files: []admin.FileSetSum{
		{Set: "uploads", Kind: "dir", Files: 1, Bytes: 10},
		{Set: "storage:wiki", Kind: "bucket", Files: 3, Copied: 1, Bytes: 2048, LeftOut: []string{"photo.png (damaged in the store: ...)"}},
	}})
	want := "file set uploads: 1 file, 10 B\n" +
		"file set storage:wiki: 3 objects (1 new or changed, copied), 2.0 KiB\n" +
		"file set storage:wiki: left out: photo.png (damaged in the store: ...)\n"
	if b.String() != want {
		t.Errorf("printBackupRun =\n%s\nwant\n%s", b.String(), want)
	}
}
