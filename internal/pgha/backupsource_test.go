package pgha

import "testing"

func TestBackupSource(t *testing.T) {
	primary := MemberStatus{Name: "a", Addr: "10.0.0.1:5432", Role: "primary", Leader: true, Reachable: true}
	async := MemberStatus{Name: "b", Addr: "10.0.0.2:5432", Role: "standby", Streaming: true, Reachable: true}
	sync := MemberStatus{Name: "c", Addr: "10.0.0.3:5432", Role: "standby", Streaming: true, Reachable: true}
	stalled := MemberStatus{Name: "d", Addr: "10.0.0.4:5432", Role: "standby", Reachable: true}
	gone := sync
	gone.Reachable = false
	for _, tc := range []struct {
		name    string
		members []MemberStatus
		want    string
	}{
		{"the synchronous standby first", []MemberStatus{primary, sync, async}, sync.Addr},
		{"any streaming standby", []MemberStatus{primary, async}, async.Addr},
		{"the primary when no standby streams", []MemberStatus{primary, stalled, gone}, primary.Addr},
		{"nothing without a running primary", []MemberStatus{sync}, ""},
	} {
		if got, _ := (Status{SyncStandby: "c", Members: tc.members}).BackupSource(); got.Addr != tc.want {
			t.Errorf("%s: BackupSource = %q; want %q", tc.name, got.Addr, tc.want)
		}
	}
}
