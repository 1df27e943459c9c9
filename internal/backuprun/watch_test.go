package backuprun

import (
	"testing"
	"time"
)

// TestFirstBackupWait: the first base backup is tried at once, then 15 s
// later, doubling up to an hour.
func TestFirstBackupWait(t *testing.T) {
	want := []time.Duration{0, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for tries, w := range want {
		if got := firstBackupWait(tries); got != w {
			t.Errorf("firstBackupWait(%d) = %s; want %s", tries, got, w)
		}
	}
	if got := firstBackupWait(1000); got != time.Hour {
		t.Errorf("firstBackupWait(1000) = %s; want an hour", got)
	}
}
