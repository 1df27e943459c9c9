package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/tandem-run/tandem/internal/admin"
)

// printDatabaseLine sums the stack's PostgreSQL up in one line for tandem
// status: the primary (or that there is none), the synchronous standby,
// the largest standby lag, and what this node cannot vouch for. tandem db
// status has the members table.
func printDatabaseLine(w io.Writer, db *admin.DatabaseStatus) {
	if db == nil {
		return
	}
	var parts []string
	switch {
	case db.Leader != "" && db.Primary != "":
		parts = append(parts, "primary "+db.Leader)
	case db.Leader != "":
		parts = append(parts, "primary "+db.Leader+" (promoting: not routed to yet)")
	case db.Primary != "":
		parts = append(parts, "primary at "+db.Primary+" without a lease")
	default:
		parts = append(parts, "NO PRIMARY (failing over)")
	}
	switch {
	case db.SyncStandby != "":
		parts = append(parts, "sync standby "+db.SyncStandby)
	case db.Synchronous:
		parts = append(parts, "NO SYNC STANDBY")
	default:
		parts = append(parts, "asynchronous")
	}
	if lag, ok := largestLag(db); ok {
		parts = append(parts, "lag "+lag)
	}
	if db.Failsafe {
		parts = append(parts, "FAILSAFE (primary kept without etcd)")
	}
	if !db.StoreReachable {
		parts = append(parts, "etcd unreachable: last known state")
	}
	for _, m := range db.Members {
		if m.DiskFull {
			parts = append(parts, "DISK FULL on "+m.Name)
		}
	}
	if db.Error != "" {
		parts = append(parts, "error: "+db.Error)
	}
	if db.OneZone != "" {
		parts = append(parts, "ALL MEMBERS IN ZONE "+db.OneZone)
	}
	fmt.Fprintf(w, "database %s\n", strings.Join(parts, ", "))
}

// largestLag is the lag of the standby furthest behind the primary, with
// its name when there are several standbys.
func largestLag(db *admin.DatabaseStatus) (string, bool) {
	var worst *admin.DatabaseMember
	standbys := 0
	for i, m := range db.Members {
		if m.Leader || db.Leader == "" || m.ReplayLSN == "0/0" { // 0/0: no replay position published yet
			continue
		}
		standbys++
		if worst == nil || m.LagBytes > worst.LagBytes || m.LagBytes == worst.LagBytes && m.LagSecs > worst.LagSecs {
			worst = &db.Members[i]
		}
	}
	if worst == nil {
		return "", false
	}
	lag := fmt.Sprintf("%s, %.1fs", bytesText(worst.LagBytes), worst.LagSecs)
	if standbys > 1 {
		lag += " (" + worst.Name + ")"
	}
	return lag, true
}
