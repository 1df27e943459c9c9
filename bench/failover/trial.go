package main

import (
	"slices"
	"time"
)

// Scenarios.
const (
	scenarioFailover   = "failover"   // SIGKILL of the primary's whole node, then the node restarted
	scenarioSwitchover = "switchover" // planned, through the system's own command
)

// Trial is one failover or switchover under the write load, as measured.
// Durations are in seconds; -1 where not measured (the trial failed
// before).
type Trial struct {
	Setup    string `json:"setup"`
	Round    int    `json:"round"`
	Scenario string `json:"scenario"`
	// From is the primary before the event, To the one after.
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// EtcdLeaderKilled says, for a failover where etcd runs on the
	// database's nodes (tandem), whether the killed node also held the
	// etcd leader; nil otherwise.
	EtcdLeaderKilled *bool `json:"etcd_leader_killed,omitempty"`
	// Downtime is, for a failover, the kill → the first acknowledged write
	// on the new primary (a write sent after the kill); for a switchover,
	// the request → the same.
	Downtime float64 `json:"downtime_s"`
	// MaxPause is the longest interval between two acknowledged writes in
	// a row around the event (from the last one before it to the first
	// after it, for a failover).
	MaxPause float64 `json:"max_pause_s"`
	// Command is how long the switchover command took to return.
	Command float64 `json:"command_s,omitempty"`
	// RejoinStreaming is the time until the old primary streams from the
	// new one as a standby: from its restart after a failover, from the
	// request for a switchover. RejoinSync is the time until it is the
	// synchronous standby again.
	RejoinStreaming float64 `json:"rejoin_streaming_s"`
	RejoinSync      float64 `json:"rejoin_sync_s"`
	// Writes: acknowledged, failed attempts, acknowledged but missing
	// afterwards (lost), failed but committed anyway, and acknowledged by
	// the old primary after the new one had acknowledged one (two
	// primaries taking writes at once).
	Acked            int     `json:"acked"`
	Failed           int     `json:"failed_attempts"`
	Lost             int     `json:"lost_acked"`
	LostIDs          []int64 `json:"lost_ids,omitempty"`
	UnackedCommitted int     `json:"unacked_committed"`
	SplitAcks        int     `json:"acked_by_old_after_new"`
	// Error says why the trial failed; Errors are the writer's distinct
	// errors in a row around the event, for a failed or odd trial.
	Error  string   `json:"error,omitempty"`
	Errors []string `json:"writer_errors,omitempty"`
	// Logs is where the cluster's logs were kept when the trial failed.
	Logs string `json:"logs,omitempty"`
}

func newTrial(setup string, round int, scenario string) Trial {
	return Trial{Setup: setup, Round: round, Scenario: scenario, Downtime: -1, MaxPause: -1, RejoinStreaming: -1, RejoinSync: -1}
}

// OK reports whether the trial measured what it set out to.
func (t Trial) OK() bool { return t.Error == "" }

// analyze fills in the write figures of a trial from the acknowledged
// writes, the rows the primary holds afterwards (id → server) and the
// event: its time, the old primary's server, and the end of the window
// in which to look for the longest pause.
func (t *Trial) analyze(acks []ack, present map[int64]string, event time.Time, oldSrv string, windowEnd time.Time) {
	t.Acked = len(acks)
	acked := make(map[int64]bool, len(acks))
	for _, a := range acks {
		acked[a.ID] = true
		if _, ok := present[a.ID]; !ok {
			t.Lost++
			if len(t.LostIDs) < 20 {
				t.LostIDs = append(t.LostIDs, a.ID)
			}
		}
	}
	for id := range present {
		if !acked[id] {
			t.UnackedCommitted++
		}
	}
	byTime := slices.Clone(acks)
	slices.SortFunc(byTime, func(a, b ack) int { return a.At.Compare(b.At) })
	if first, ok := firstNew(byTime, event, oldSrv); ok {
		t.Downtime = first.At.Sub(event).Seconds()
		for _, a := range byTime {
			if a.Srv == oldSrv && a.At.After(first.At) {
				t.SplitAcks++
			}
		}
	}
	t.MaxPause = maxPause(byTime, event, windowEnd).Seconds()
}

// firstNew is the first write sent after event that a server other than
// oldSrv acknowledged.
func firstNew(byTime []ack, event time.Time, oldSrv string) (ack, bool) {
	for _, a := range byTime {
		if a.Sent.After(event) && a.Srv != oldSrv {
			return a, true
		}
	}
	return ack{}, false
}

// maxPause is the longest interval between consecutive acknowledgements
// that overlaps [from, to].
func maxPause(byTime []ack, from, to time.Time) time.Duration {
	var longest time.Duration
	for i := 1; i < len(byTime); i++ {
		prev, next := byTime[i-1].At, byTime[i].At
		if next.Before(from) || prev.After(to) {
			continue
		}
		longest = max(longest, next.Sub(prev))
	}
	return longest
}

// errorsAround keeps the writer's errors from a little before the event
// to the end of the window, at most 20.
func errorsAround(errs []writeError, event, end time.Time) []string {
	var out []string
	for _, e := range errs {
		if e.At.Before(event.Add(-time.Second)) || e.At.After(end) {
			continue
		}
		if len(out) == 20 {
			out = append(out, "...")
			break
		}
		out = append(out, e.At.UTC().Format("15:04:05.000")+" #"+itoa64(e.ID)+" "+e.Err)
	}
	return out
}
