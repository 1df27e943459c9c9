package backup

import (
	"context"
	"testing"
	"time"
)

func TestStatusBackupOverdue(t *testing.T) {
	store, _ := NewLocalStore(t.TempDir())
	repo, _ := NewRepository(store, nil)
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	m, err := New(Options{Repository: repo, BackupEvery: 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Status().BackupOverdue {
		t.Errorf("no backup yet: not overdue; want overdue")
	}
	// A failed attempt (no source configured) is recorded, and leaves it overdue.
	if _, err := m.RunBaseBackup(context.Background()); err == nil {
		t.Fatalf("RunBaseBackup without a source = nil error")
	}
	st := m.Status()
	if st.LastBackup == nil || st.LastBackup.Err == "" || st.LastGood != nil || !st.BackupOverdue {
		t.Errorf("after a failed backup: %+v; want the failure recorded, still overdue", st)
	}
	m.mu.Lock()
	m.lastGood = &BackupResult{Finished: now}
	m.mu.Unlock()
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{time.Hour, false}, {25 * time.Hour, false}, {25*time.Hour + time.Second, true}} {
		now = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC).Add(tc.after)
		if got := m.Status().BackupOverdue; got != tc.want {
			t.Errorf("%s after the last backup: overdue = %v; want %v", tc.after, got, tc.want)
		}
	}
}
