package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// acksAt builds acknowledged writes: each (id, server, ms after t0) is
// sent 2 ms before it is acknowledged.
func acksAt(t0 time.Time, rows ...[3]any) []ack {
	var out []ack
	for _, r := range rows {
		at := t0.Add(time.Duration(r[2].(int)) * time.Millisecond)
		out = append(out, ack{ID: int64(r[0].(int)), Srv: r[1].(string), Sent: at.Add(-2 * time.Millisecond), At: at})
	}
	return out
}

func TestAnalyzeFailover(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	kill := t0.Add(25 * time.Millisecond)
	acks := acksAt(t0,
		[3]any{1, "old", 0}, [3]any{2, "old", 10}, [3]any{3, "old", 20},
		// 4..6 failed; 7 was sent before the kill on the new server (cannot be) — the first new write after it is 8
		[3]any{8, "new", 3025}, [3]any{9, "new", 3035}, [3]any{10, "new", 3045},
	)
	present := map[int64]string{1: "old", 2: "old", 4: "old", 8: "new", 9: "new", 10: "new"} // 3 lost, 4 committed unacknowledged
	tr := newTrial("tandem", 1, scenarioFailover)
	tr.analyze(acks, present, kill, "old", t0.Add(4*time.Second))
	if tr.Acked != 6 || tr.Lost != 1 || !slices.Equal(tr.LostIDs, []int64{3}) || tr.UnackedCommitted != 1 || tr.SplitAcks != 0 {
		t.Errorf("analyze: acked %d, lost %d %v, unacked committed %d, split %d; want 6, 1 [3], 1, 0",
			tr.Acked, tr.Lost, tr.LostIDs, tr.UnackedCommitted, tr.SplitAcks)
	}
	if want := 3.0; !near(tr.Downtime, want) {
		t.Errorf("downtime = %.3fs; want %.3fs (kill → the ack of write 8)", tr.Downtime, want)
	}
	if want := 3.005; !near(tr.MaxPause, want) {
		t.Errorf("max pause = %.3fs; want %.3fs (write 3 → write 8)", tr.MaxPause, want)
	}
}

func TestAnalyzeSplitAcks(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	acks := acksAt(t0, [3]any{1, "old", 0}, [3]any{2, "new", 100}, [3]any{3, "old", 110}, [3]any{4, "new", 120})
	present := map[int64]string{1: "old", 2: "new", 3: "old", 4: "new"}
	tr := newTrial("tandem", 1, scenarioSwitchover)
	tr.analyze(acks, present, t0.Add(50*time.Millisecond), "old", t0.Add(time.Second))
	if tr.SplitAcks != 1 {
		t.Errorf("split acks = %d; want 1 (write 3, acknowledged by the old primary after the new one took write 2)", tr.SplitAcks)
	}
	if tr.Lost != 0 || tr.UnackedCommitted != 0 {
		t.Errorf("lost %d, unacked committed %d; want 0, 0", tr.Lost, tr.UnackedCommitted)
	}
}

func TestAnalyzeNoNewPrimary(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	acks := acksAt(t0, [3]any{1, "old", 0}, [3]any{2, "old", 10})
	tr := newTrial("patroni-fast", 1, scenarioFailover)
	tr.analyze(acks, map[int64]string{1: "old", 2: "old"}, t0.Add(20*time.Millisecond), "old", t0.Add(time.Second))
	if tr.Downtime != -1 {
		t.Errorf("downtime = %v; want -1 (no write on a new primary)", tr.Downtime)
	}
}

func TestMaxPauseWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	// Pauses that end before the window or start after it do not count;
	// one that overlaps it does.
	acks := acksAt(t0, [3]any{1, "a", 0}, [3]any{2, "a", 5000}, [3]any{3, "a", 5300}, [3]any{4, "a", 5310},
		[3]any{5, "a", 5500}, [3]any{6, "a", 9000})
	got := maxPause(acks, t0.Add(5100*time.Millisecond), t0.Add(5400*time.Millisecond))
	if got != 300*time.Millisecond {
		t.Errorf("maxPause = %v; want 300ms", got)
	}
}

func TestSummaryRatios(t *testing.T) {
	mk := func(setup string, down float64, killed *bool) Trial {
		tr := newTrial(setup, 1, scenarioFailover)
		tr.Downtime, tr.MaxPause, tr.Acked, tr.EtcdLeaderKilled = down, down, 100, killed
		return tr
	}
	yes, no := true, false
	failed := mk("tandem", -1, nil)
	failed.Error, failed.Lost = "no new primary", 2
	rep := &Report{Settings: Settings{Rounds: 2, Scenarios: []string{scenarioFailover}, Setups: []setup{setups[0], setups[2]}},
		Trials: []Trial{mk("tandem", 6, &yes), mk("tandem", 3, &no), failed, mk("patroni-fast", 10, nil), mk("patroni-fast", 12, nil)}}
	rep.summarize()
	s := rep.summary("tandem", scenarioFailover)
	if s.Trials != 3 || s.Failed != 1 || s.Lost != 2 || s.Downtime != (Stat{N: 2, Min: 3, Median: 4.5, Max: 6}) {
		t.Errorf("tandem summary = %+v; want 3 trials, 1 failed, 2 lost (the failed trial's), downtime 3 / 4.5 / 6", *s)
	}
	if s.DowntimeEtcdLeaderKilled == nil || s.DowntimeEtcdLeaderKilled.Median != 6 || s.DowntimeEtcdLeaderKept.Median != 3 {
		t.Errorf("tandem split by etcd leader = %v / %v; want 6 and 3", s.DowntimeEtcdLeaderKilled, s.DowntimeEtcdLeaderKept)
	}
	if p := rep.summary("patroni-fast", scenarioFailover); p.DowntimeEtcdLeaderKilled != nil {
		t.Errorf("patroni-fast split = %v; want none (its etcd runs on its own)", p.DowntimeEtcdLeaderKilled)
	}
	i := slices.IndexFunc(rep.Ratios, func(r Ratio) bool { return r.Measure == "downtime_s" && r.Versus == "patroni-fast" })
	if i < 0 || !near(rep.Ratios[i].Value, 4.5/11) {
		t.Fatalf("ratios = %+v; want downtime 4.5/11 versus patroni-fast", rep.Ratios)
	}
	md := rep.Markdown()
	for _, want := range []string{"| failover: kill → first acknowledged write on the new primary | 3.00 / 4.50 / 6.00 | 10.00 / 11.00 / 12.00 |",
		"| failover trials: ok / failed | 2 / 1 | 2 / 0 |", "0.41 |", "**tandem round 1 failover**: no new primary."} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestScenarioOrder(t *testing.T) {
	sc := []string{scenarioFailover, scenarioSwitchover}
	if got := scenarioOrder(sc, 1); !slices.Equal(got, sc) {
		t.Errorf("scenarioOrder(round 1) = %v; want %v", got, sc)
	}
	if got := scenarioOrder(sc, 2); !slices.Equal(got, []string{scenarioSwitchover, scenarioFailover}) {
		t.Errorf("scenarioOrder(round 2) = %v; want switchover first", got)
	}
	if !slices.Equal(sc, []string{scenarioFailover, scenarioSwitchover}) {
		t.Errorf("scenarioOrder changed its argument: %v", sc)
	}
}

func TestDescendantsOf(t *testing.T) {
	// 10 → 11 → 12, 10 → 13; 20 is another tree; 99 is not running.
	parents := map[int]int{10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
	got := descendantsOf(parents, []int{10, 99, 12})
	slices.Sort(got)
	if want := []int{10, 11, 12, 13}; !slices.Equal(got, want) {
		t.Errorf("descendantsOf = %v; want %v", got, want)
	}
	if got := descendantsOf(parents, []int{0, 1}); len(got) != 0 {
		t.Errorf("descendantsOf(0, 1) = %v; want nothing (never init)", got)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-rounds", "3", "-setups", "patroni-fast,tandem", "-scenarios", "switchover"})
	if err != nil {
		t.Fatalf("parseOptions: %v", err)
	}
	if o.rounds != 3 || len(o.setups) != 2 || o.setups[0].Name != "patroni-fast" || !slices.Equal(o.scenarios, []string{scenarioSwitchover}) {
		t.Errorf("parseOptions = %+v; want 3 rounds, patroni-fast then tandem, switchover", o)
	}
	for _, args := range [][]string{{"-rounds", "0"}, {"-setups", "patroni"}, {"-scenarios", "crash"}} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("parseOptions(%q) = nil error; want one", args)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
