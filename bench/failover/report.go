package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// Report is a whole run: where and how it ran, every trial, the
// summaries and the ratios. It is written as failover.json and
// failover.md.
type Report struct {
	Date      time.Time    `json:"date"`
	Machine   host.Machine `json:"machine"`
	Settings  Settings     `json:"settings"`
	Trials    []Trial      `json:"trials"`
	Summaries []Summary    `json:"summaries"`
	Ratios    []Ratio      `json:"ratios"`
}

// Settings are the run's parameters.
type Settings struct {
	Rounds    int      `json:"rounds"`
	Scenarios []string `json:"scenarios"`
	Setups    []setup  `json:"setups"`
	// The load: one INSERT every WriteInterval, each given OpTimeout.
	WriteInterval time.Duration `json:"write_interval_ns"`
	OpTimeout     time.Duration `json:"op_timeout_ns"`
}

// Stat is min, median and max of a measure over the trials that have it.
type Stat = host.Stat

// Summary is one setup's figures for one scenario.
type Summary struct {
	Setup    string `json:"setup"`
	Scenario string `json:"scenario"`
	Trials   int    `json:"trials"`
	Failed   int    `json:"failed"`
	Downtime Stat   `json:"downtime_s"`
	// The failovers split by whether the killed node also led etcd,
	// where etcd runs on the database's nodes (tandem); nil otherwise.
	DowntimeEtcdLeaderKilled *Stat `json:"downtime_etcd_leader_killed_s,omitempty"`
	DowntimeEtcdLeaderKept   *Stat `json:"downtime_etcd_leader_kept_s,omitempty"`
	MaxPause                 Stat  `json:"max_pause_s"`
	Command                  Stat  `json:"command_s"`
	RejoinStreaming          Stat  `json:"rejoin_streaming_s"`
	RejoinSync               Stat  `json:"rejoin_sync_s"`
	Acked                    int   `json:"acked"`
	Lost                     int   `json:"lost_acked"`
	UnackedCommitted         int   `json:"unacked_committed"`
	SplitAcks                int   `json:"acked_by_old_after_new"`
}

// Ratio is tandem's median of a measure ÷ a Patroni setup's: below 1,
// tandem is faster.
type Ratio struct {
	Scenario string  `json:"scenario"`
	Measure  string  `json:"measure"`
	Versus   string  `json:"versus"`
	Value    float64 `json:"value"`
}

// measures are the figures that get a ratio, by scenario.
var measures = []struct {
	scenario, name, title string
	get                   func(Summary) Stat
}{
	{scenarioFailover, "downtime_s", "failover: kill → first acknowledged write", func(s Summary) Stat { return s.Downtime }},
	{scenarioFailover, "max_pause_s", "failover: longest pause between acknowledged writes", func(s Summary) Stat { return s.MaxPause }},
	{scenarioFailover, "rejoin_streaming_s", "rejoin: restart → the old primary streams", func(s Summary) Stat { return s.RejoinStreaming }},
	{scenarioFailover, "rejoin_sync_s", "rejoin: restart → synchronous standby again", func(s Summary) Stat { return s.RejoinSync }},
	{scenarioSwitchover, "max_pause_s", "switchover: longest pause between acknowledged writes", func(s Summary) Stat { return s.MaxPause }},
	{scenarioSwitchover, "downtime_s", "switchover: request → first write on the new primary", func(s Summary) Stat { return s.Downtime }},
}

// summarize computes the summaries and the ratios from the trials.
func (rep *Report) summarize() {
	rep.Settings.WriteInterval, rep.Settings.OpTimeout = writeInterval, opTimeout
	rep.Summaries, rep.Ratios = nil, nil
	for _, s := range rep.Settings.Setups {
		for _, sc := range rep.Settings.Scenarios {
			rep.Summaries = append(rep.Summaries, summaryOf(s.Name, sc, rep.Trials))
		}
	}
	for _, m := range measures {
		t := rep.summary("tandem", m.scenario)
		if t == nil || m.get(*t).N == 0 {
			continue
		}
		for _, s := range rep.Settings.Setups {
			p := rep.summary(s.Name, m.scenario)
			if s.System != "patroni" || p == nil || m.get(*p).N == 0 || m.get(*p).Median == 0 {
				continue
			}
			rep.Ratios = append(rep.Ratios, Ratio{Scenario: m.scenario, Measure: m.name, Versus: s.Name,
				Value: m.get(*t).Median / m.get(*p).Median})
		}
	}
}

func summaryOf(setup, scenario string, trials []Trial) Summary {
	s := Summary{Setup: setup, Scenario: scenario}
	var down, pause, cmd, stream, sync []float64
	byLeader := map[bool][]float64{}
	split := false
	for _, t := range trials {
		if t.Setup != setup || t.Scenario != scenario {
			continue
		}
		s.Trials++
		if !t.OK() {
			s.Failed++
		}
		// Writes lost or doubled count even in a failed trial.
		s.Acked += t.Acked
		s.Lost += t.Lost
		s.UnackedCommitted += t.UnackedCommitted
		s.SplitAcks += t.SplitAcks
		if !t.OK() {
			continue
		}
		down, pause = appendSet(down, t.Downtime), appendSet(pause, t.MaxPause)
		if t.EtcdLeaderKilled != nil {
			split = true
			byLeader[*t.EtcdLeaderKilled] = appendSet(byLeader[*t.EtcdLeaderKilled], t.Downtime)
		}
		cmd, stream, sync = appendSet(cmd, t.Command), appendSet(stream, t.RejoinStreaming), appendSet(sync, t.RejoinSync)
	}
	s.Downtime, s.MaxPause, s.Command = host.StatOf(down), host.StatOf(pause), host.StatOf(cmd)
	s.RejoinStreaming, s.RejoinSync = host.StatOf(stream), host.StatOf(sync)
	if split {
		killed, kept := host.StatOf(byLeader[true]), host.StatOf(byLeader[false])
		s.DowntimeEtcdLeaderKilled, s.DowntimeEtcdLeaderKept = &killed, &kept
	}
	return s
}

// appendSet appends x if it was measured (> 0).
func appendSet(xs []float64, x float64) []float64 {
	if x > 0 {
		return append(xs, x)
	}
	return xs
}

func (rep *Report) summary(setup, scenario string) *Summary {
	for i := range rep.Summaries {
		if rep.Summaries[i].Setup == setup && rep.Summaries[i].Scenario == scenario {
			return &rep.Summaries[i]
		}
	}
	return nil
}

// Write writes failover.json and failover.md into dir.
func (rep *Report) Write(dir string) error {
	return host.WriteReport(dir, "failover", rep, rep.Markdown())
}

// line is a trial in one line, for progress.
func (t Trial) line() string {
	s := fmt.Sprintf("%s %s %s→%s: downtime %s, max pause %s", t.Setup, t.Scenario, t.From, t.To, secs(t.Downtime), secs(t.MaxPause))
	if t.EtcdLeaderKilled != nil && *t.EtcdLeaderKilled {
		s += " (the etcd leader was on the killed node)"
	}
	if t.Scenario == scenarioSwitchover {
		s += ", command " + secs(t.Command)
	}
	s += fmt.Sprintf(", rejoin %s/%s, acked %d, lost %d, unacked committed %d", secs(t.RejoinStreaming), secs(t.RejoinSync),
		t.Acked, t.Lost, t.UnackedCommitted)
	if t.SplitAcks > 0 {
		s += fmt.Sprintf(", ACKED BY THE OLD PRIMARY AFTER THE NEW %d", t.SplitAcks)
	}
	if t.Error != "" {
		s += "; FAILED: " + t.Error
	}
	return s
}

// secs writes seconds with two decimals; "-" when not measured.
func secs(x float64) string {
	if x <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", x)
}

// versions lists the versions of what was measured.
func (rep *Report) versions() string {
	var parts []string
	for _, k := range []string{"tandem", "patroni", "etcd", "postgresql"} {
		if v, ok := rep.Machine.Versions[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}
