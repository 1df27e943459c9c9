package main

import (
	"fmt"
	"strings"
)

// Markdown renders the report: the heading with the machine, the table
// of figures by setup, the ratios and every trial.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# PostgreSQL failover: tandem beside Patroni, %s\n\n", rep.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s; load average %s at the start, %s at the end.  \n", rep.Machine, rep.Machine.LoadAvg[0], rep.Machine.LoadAvg[1])
	fmt.Fprintf(&b, "Versions: %s.  \n", rep.versions())
	fmt.Fprintf(&b, "Load: one INSERT every %s through the system's own way to the primary, each given %s; "+
		"%d round(s), each starting every setup afresh and running %s once (in the reverse order in even rounds). "+
		"Figures in seconds, min / median / max over the trials.\n\n",
		rep.Settings.WriteInterval, rep.Settings.OpTimeout, rep.Settings.Rounds, strings.Join(rep.Settings.Scenarios, " then "))
	for _, s := range rep.Settings.Setups {
		fmt.Fprintf(&b, "- `%s`: %s\n", s.Name, s.Title)
	}
	b.WriteString("\n")
	rep.figureTable(&b)
	rep.ratioTable(&b)
	rep.trialTable(&b)
	rep.failures(&b)
	return b.String()
}

// figureTable has a row per measure and a column per setup.
func (rep *Report) figureTable(b *strings.Builder) {
	b.WriteString("| measure |")
	for _, s := range rep.Settings.Setups {
		fmt.Fprintf(b, " %s |", s.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(rep.Settings.Setups)) + "\n")
	rows := []struct {
		scenario, title string
		cell            func(Summary) string
	}{
		{scenarioFailover, "failover: kill → first acknowledged write on the new primary", func(s Summary) string { return s.Downtime.String() }},
		{scenarioFailover, "… when the killed node also led etcd", func(s Summary) string { return splitCell(s.DowntimeEtcdLeaderKilled) }},
		{scenarioFailover, "… when etcd's leader was on another node", func(s Summary) string { return splitCell(s.DowntimeEtcdLeaderKept) }},
		{scenarioFailover, "failover: longest pause between acknowledged writes", func(s Summary) string { return s.MaxPause.String() }},
		{scenarioFailover, "failover: acknowledged writes lost", lostCell},
		{scenarioFailover, "failover: writes that failed but committed", func(s Summary) string { return fmt.Sprint(s.UnackedCommitted) }},
		{scenarioFailover, "rejoin: restart → the old primary streams", func(s Summary) string { return s.RejoinStreaming.String() }},
		{scenarioFailover, "rejoin: restart → synchronous standby again", func(s Summary) string { return s.RejoinSync.String() }},
		{scenarioSwitchover, "switchover: longest pause between acknowledged writes", func(s Summary) string { return s.MaxPause.String() }},
		{scenarioSwitchover, "switchover: request → first write on the new primary", func(s Summary) string { return s.Downtime.String() }},
		{scenarioSwitchover, "switchover: the command returned after", func(s Summary) string { return s.Command.String() }},
		{scenarioSwitchover, "switchover: acknowledged writes lost", lostCell},
		{scenarioSwitchover, "switchover: request → the old primary is the synchronous standby", func(s Summary) string { return s.RejoinSync.String() }},
	}
	for _, r := range rows {
		if !rep.hasScenario(r.scenario) {
			continue
		}
		fmt.Fprintf(b, "| %s |", r.title)
		for _, s := range rep.Settings.Setups {
			fmt.Fprintf(b, " %s |", r.cell(*rep.summary(s.Name, r.scenario)))
		}
		b.WriteString("\n")
	}
	for _, sc := range rep.Settings.Scenarios {
		fmt.Fprintf(b, "| %s trials: ok / failed |", sc)
		for _, s := range rep.Settings.Setups {
			sum := rep.summary(s.Name, sc)
			fmt.Fprintf(b, " %d / %d |", sum.Trials-sum.Failed, sum.Failed)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// splitCell is a figure of the failovers split by where etcd's leader
// was: only where etcd runs on the database's nodes.
func splitCell(s *Stat) string {
	if s == nil {
		return "n/a (etcd on its own)"
	}
	return fmt.Sprintf("%s (%d)", s, s.N)
}

func lostCell(s Summary) string {
	cell := fmt.Sprintf("%d of %d", s.Lost, s.Acked)
	if s.SplitAcks > 0 {
		cell += fmt.Sprintf("; **%d acknowledged by the old primary after the new one**", s.SplitAcks)
	}
	return cell
}

func (rep *Report) hasScenario(sc string) bool {
	for _, s := range rep.Settings.Scenarios {
		if s == sc {
			return true
		}
	}
	return false
}

func (rep *Report) ratioTable(b *strings.Builder) {
	if len(rep.Ratios) == 0 {
		return
	}
	var versus []string
	for _, r := range rep.Ratios {
		if !strings.Contains(strings.Join(versus, ","), r.Versus) {
			versus = append(versus, r.Versus)
		}
	}
	b.WriteString("| tandem's median ÷ Patroni's (below 1: tandem is faster) |")
	for _, v := range versus {
		fmt.Fprintf(b, " ÷ %s |", v)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(versus)) + "\n")
	for _, m := range measures {
		cells, any := "", false
		for _, v := range versus {
			cell := " - |"
			for _, r := range rep.Ratios {
				if r.Scenario == m.scenario && r.Measure == m.name && r.Versus == v {
					cell, any = fmt.Sprintf(" %.2f |", r.Value), true
				}
			}
			cells += cell
		}
		if any {
			fmt.Fprintf(b, "| %s |%s\n", m.title, cells)
		}
	}
	b.WriteString("\n")
}

func (rep *Report) trialTable(b *strings.Builder) {
	b.WriteString("Every trial (s; rejoin: streaming / synchronous):\n\n")
	b.WriteString("| setup | round | scenario | from → to | downtime | longest pause | command | rejoin | acked | lost | failed, committed | failed attempts |\n")
	b.WriteString("|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, t := range rep.Trials {
		status := ""
		if !t.OK() {
			status = " (failed)"
		}
		fmt.Fprintf(b, "| %s | %d | %s%s | %s → %s | %s | %s | %s | %s / %s | %d | %d | %d | %d |\n",
			t.Setup, t.Round, t.Scenario, status, t.From, t.To, secs(t.Downtime), secs(t.MaxPause), secs(t.Command),
			secs(t.RejoinStreaming), secs(t.RejoinSync), t.Acked, t.Lost, t.UnackedCommitted, t.Failed)
	}
	b.WriteString("\n")
}

// failures lists what went wrong in failed trials and in trials that
// lost writes, with the writer's errors.
func (rep *Report) failures(b *strings.Builder) {
	for _, t := range rep.Trials {
		if t.OK() && t.Lost == 0 && t.SplitAcks == 0 {
			continue
		}
		fmt.Fprintf(b, "**%s round %d %s**: ", t.Setup, t.Round, t.Scenario)
		if t.Error != "" {
			fmt.Fprintf(b, "%s. ", t.Error)
		}
		if t.Lost > 0 {
			fmt.Fprintf(b, "Lost acknowledged writes %v. ", t.LostIDs)
		}
		if t.Logs != "" {
			fmt.Fprintf(b, "Logs kept in `%s`. ", t.Logs)
		}
		b.WriteString("\n")
		for _, e := range t.Errors {
			fmt.Fprintf(b, "    %s\n", e)
		}
		b.WriteString("\n")
	}
}
