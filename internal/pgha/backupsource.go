package pgha

// BackupSource is the member a base backup is best taken from: a
// streaming standby of the leader, the synchronous one first, which
// spares the primary; else the leader running as primary; false when
// neither.
func (st Status) BackupSource() (MemberStatus, bool) {
	var primary, standby *MemberStatus
	for i, m := range st.Members {
		switch {
		case !m.Reachable:
		case m.Leader && m.Role == "primary":
			primary = &st.Members[i]
		case m.Role == "standby" && m.Streaming && (standby == nil || m.Name == st.SyncStandby):
			standby = &st.Members[i]
		}
	}
	switch {
	case primary == nil:
		return MemberStatus{}, false
	case standby != nil:
		return *standby, true
	}
	return *primary, true
}
