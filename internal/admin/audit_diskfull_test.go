package admin

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/disktest"
)

// TestAuditLogFullDisk: an entry the full disk cannot take is refused
// with an error naming the log and the cause (the API then refuses the
// change it would record); once space is freed, entries are written
// again and none written before is lost.
func TestAuditLogFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 1<<20)
	path := filepath.Join(dir, "audit.log")
	l := NewAuditLog(path)
	defer l.Close()
	entry := AuditEntry{Time: time.Now().UTC(), TokenName: "root", Method: "POST", Path: "/v1/apps/web/deploy", Outcome: OutcomeStarted}
	if err := l.Append(entry); err != nil {
		t.Fatal(err)
	}
	fill := disktest.Fill(t, dir, 0)
	// The log's last page may still take a line or two: append until the
	// disk refuses.
	var err error
	for range 100 {
		if err = l.Append(entry); err != nil {
			break
		}
	}
	want := "audit log unavailable: write " + path + ": no space left on device"
	if !errors.Is(err, ErrAuditUnavailable) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Append on a full disk = %v; want %q", err, want)
	}
	fill.Remove()
	if err := l.Append(entry); err != nil {
		t.Fatalf("Append once space is freed = %v", err)
	}
	got, err := l.Tail(1000)
	if err != nil || len(got) < 2 {
		t.Errorf("Tail = %d entries, %v; want the entries written before and after", len(got), err)
	}
}
