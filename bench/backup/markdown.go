package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Markdown renders the report: the heading with the machine, the
// throughput table and its ratios, the RPO table and its ratios, and
// every trial.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Backups: tandem beside pgBackRest, %s\n\n", rep.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s; load average %s at the start, %s at the end.  \n", rep.Machine, rep.Machine.LoadAvg[0], rep.Machine.LoadAvg[1])
	fmt.Fprintf(&b, "Versions: %s. Figures: median (min–max).\n\n", rep.versions())
	if len(rep.Settings.Setups) > 0 {
		rep.throughputSection(&b)
	}
	if len(rep.Settings.Archivers) > 0 && len(rep.Settings.RPOCases) > 0 {
		rep.rpoSection(&b)
	}
	rep.failures(&b)
	return b.String()
}

func (rep *Report) versions() string {
	var parts []string
	for _, k := range []string{"postgresql", "pgbackrest", "versitygw"} {
		if v, ok := rep.Machine.Versions[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

func (rep *Report) throughputSection(b *strings.Builder) {
	st := rep.Settings
	fmt.Fprintf(b, "## Base backup and restore\n\npgbench scale %d: %.0f MB of data (the data directory without pg_wal); MB/s is that over "+
		"the wall time. %d round(s), each backing up and restoring with every setup in turn (in the reverse order in even rounds). "+
		"A restore goes into a fresh directory and ends when PostgreSQL has replayed the archive and accepts writes. CPU: the tool "+
		"(tandem's backup package in the benchmark's process, or pgBackRest's processes) and the server (every process of the "+
		"database's machine: PostgreSQL, its archiver); versitygw's is not counted. pgBackRest process-max=%d.\n\n",
		st.Scale, float64(st.DatabaseBytes)/1e6, st.Rounds, st.ProcessMax)
	for _, s := range st.Setups {
		fmt.Fprintf(b, "- `%s`: %s\n", s.Name, s.Title)
	}
	b.WriteString("\n| measure |")
	for _, s := range st.Setups {
		fmt.Fprintf(b, " %s |", s.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(st.Setups)) + "\n")
	rows := []struct {
		op, title string
		cell      func(OpSummary) string
	}{
		{opBackup, "base backup: wall s", func(s OpSummary) string { return s.Wall.Cell(1) }},
		{opBackup, "base backup: MB/s of database", func(s OpSummary) string { return s.MBps.Cell(0) }},
		{opBackup, "base backup: CPU s, tool + server", func(s OpSummary) string { return s.CPU.Cell(1) }},
		{opBackup, "… of which the tool / the server", func(s OpSummary) string { return s.ToolCPU.Med(1) + " / " + s.ServerCPU.Med(1) }},
		{opBackup, "base backup: CPU s per GB of database", func(s OpSummary) string { return s.CPUPerGB.Cell(1) }},
		{opBackup, "base backup: stored MB", func(s OpSummary) string { return s.StoredMB.Cell(1) }},
		{opRestore, "restore: wall s until PostgreSQL accepts writes", func(s OpSummary) string { return s.Wall.Cell(1) }},
		{opRestore, "restore: MB/s of database", func(s OpSummary) string { return s.MBps.Cell(0) }},
		{opRestore, "… of which the restore command / start and recovery, s", func(s OpSummary) string { return s.Unpack.Med(1) + " / " + s.Recovery.Med(1) }},
		{opRestore, "restore: CPU s, tool + server", func(s OpSummary) string { return s.CPU.Cell(1) }},
		{opRestore, "… of which the tool / the server", func(s OpSummary) string { return s.ToolCPU.Med(1) + " / " + s.ServerCPU.Med(1) }},
		{opRestore, "restore: CPU s per GB of database", func(s OpSummary) string { return s.CPUPerGB.Cell(1) }},
		{opBackup, "base backups ok / failed", func(s OpSummary) string { return fmt.Sprintf("%d / %d", s.Trials-s.Failed, s.Failed) }},
		{opRestore, "restores ok / failed", func(s OpSummary) string { return fmt.Sprintf("%d / %d", s.Trials-s.Failed, s.Failed) }},
	}
	for _, r := range rows {
		fmt.Fprintf(b, "| %s |", r.title)
		for _, s := range st.Setups {
			fmt.Fprintf(b, " %s |", r.cell(*rep.opSummary(s.Name, r.op)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	var measures []named
	for _, m := range opMeasures {
		measures = append(measures, named{m.name, m.title})
	}
	rep.ratioTable(b, measures)
	rep.opTrials(b)
}

func (rep *Report) rpoSection(b *strings.Builder) {
	st := rep.Settings
	fmt.Fprintf(b, "## RPO under steady writes\n\nEach trial starts a fresh copy of a small database (pgbench scale 1) archiving into an "+
		"empty repository, takes a base backup, runs the load for 5 s plus a random part of archive_timeout (the same for every archiver of a trial), then freezes and "+
		"kills every process of the server's machine at once (PostgreSQL, tandem's archiver or pgBackRest's archive-push and "+
		"its daemon); the data directory is lost with it. The archive is restored into a fresh directory; the RPO is the time "+
		"from the newest commit restored to the newest commit acknowledged (the probe commits every 10 ms), and the commits "+
		"lost are the acknowledged ones missing. %d trial(s) per archiver and case, the archivers in turn.\n\n", st.RPOTrials)
	for _, s := range st.Archivers {
		fmt.Fprintf(b, "- `%s`: %s\n", s.Name, s.Title)
	}
	for _, l := range slices.Sorted(maps.Keys(st.Loads)) {
		fmt.Fprintf(b, "- load `%s`: %s\n", l, st.Loads[l])
	}
	b.WriteString("\n| case (load@archive_timeout) |")
	for _, a := range st.Archivers {
		fmt.Fprintf(b, " %s |", a.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(st.Archivers)) + "\n")
	for _, c := range st.RPOCases {
		for _, row := range []struct {
			title string
			cell  func(RPOSummary) string
		}{
			{"RPO s", func(s RPOSummary) string { return s.RPO.Cell(2) }},
			{"acknowledged commits lost", func(s RPOSummary) string { return s.Lost.Cell(0) }},
			{"WAL written, MB/s", func(s RPOSummary) string { return s.WALRate.Cell(2) }},
			{"trials ok / failed", func(s RPOSummary) string { return fmt.Sprintf("%d / %d", s.Trials-s.Failed, s.Failed) }},
		} {
			fmt.Fprintf(b, "| %s: %s |", c, row.title)
			for _, a := range st.Archivers {
				fmt.Fprintf(b, " %s |", row.cell(*rep.rpoSummary(a.Name, c.String())))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	var measures []named
	for _, c := range st.RPOCases {
		measures = append(measures, named{"rpo " + c.String(), "RPO, " + c.String()})
	}
	rep.ratioTable(b, measures)
	rep.rpoTrials(b)
}

// named is a measure with its title.
type named struct{ name, title string }

// ratioTable has a row per measure and a column per pair (tandem ÷
// pgBackRest) that has a ratio of one of them.
func (rep *Report) ratioTable(b *strings.Builder, measures []named) {
	var pairs []string
	for _, r := range rep.Ratios {
		p := r.Tandem + " ÷ " + r.Versus
		if slices.ContainsFunc(measures, func(m named) bool { return m.name == r.Measure }) && !slices.Contains(pairs, p) {
			pairs = append(pairs, p)
		}
	}
	if len(pairs) == 0 {
		return
	}
	b.WriteString("| tandem's median ÷ pgBackRest's (below 1: tandem takes less) |")
	for _, p := range pairs {
		fmt.Fprintf(b, " %s |", p)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(pairs)) + "\n")
	for _, m := range measures {
		fmt.Fprintf(b, "| %s |", m.title)
		for _, p := range pairs {
			cell := " - |"
			for _, r := range rep.Ratios {
				if r.Measure == m.name && r.Tandem+" ÷ "+r.Versus == p {
					cell = fmt.Sprintf(" %.2f |", r.Value)
				}
			}
			b.WriteString(cell)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (rep *Report) opTrials(b *strings.Builder) {
	b.WriteString("Every backup and restore:\n\n| setup | round | op | wall s | MB/s | CPU s tool + server | stored MB | restore + recovery s |\n")
	b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|\n")
	for _, t := range rep.Ops {
		status := ""
		if t.Error != "" {
			status = " (failed)"
		}
		mbps, stored, split := "-", "-", "-"
		if w := t.Cost.Wall.Seconds(); w > 0 {
			mbps = fmt.Sprintf("%.0f", float64(rep.Settings.DatabaseBytes)/1e6/w)
		}
		if t.StoredBytes > 0 {
			stored = fmt.Sprintf("%.1f", float64(t.StoredBytes)/1e6)
		}
		if t.Op == opRestore {
			split = fmt.Sprintf("%.1f + %.1f", t.Unpack.Seconds(), t.Recovery.Seconds())
		}
		fmt.Fprintf(b, "| %s | %d | %s%s | %.1f | %s | %.1f + %.1f | %s | %s |\n", t.Setup, t.Round, t.Op, status,
			t.Cost.Wall.Seconds(), mbps, t.Cost.ToolCPU.Seconds(), t.Cost.ServerCPU.Seconds(), stored, split)
	}
	b.WriteString("\n")
}

func (rep *Report) rpoTrials(b *strings.Builder) {
	b.WriteString("Every RPO trial:\n\n| archiver | case | trial | held s | WAL MB/s | segments archived | archive failures | acknowledged | lost | RPO s |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, t := range rep.RPO {
		status := ""
		if t.Error != "" {
			status = " (failed)"
		}
		fmt.Fprintf(b, "| %s | %s | %d%s | %.1f | %.2f | %d | %d | %d | %d | %.2f |\n", t.Setup, t.Case, t.Trial, status,
			t.Hold, t.WALRate/1e6, t.Archived, t.Failed, t.Acked, t.Lost, t.RPO)
	}
	b.WriteString("\n")
}

// failures lists what went wrong in failed trials.
func (rep *Report) failures(b *strings.Builder) {
	for _, t := range rep.Ops {
		if t.Error != "" {
			fmt.Fprintf(b, "**%s round %d %s failed**: %s\n\n", t.Setup, t.Round, t.Op, t.Error)
		}
	}
	for _, t := range rep.RPO {
		if t.Error != "" {
			fmt.Fprintf(b, "**%s %s trial %d failed**: %s\n\n", t.Setup, t.Case, t.Trial, t.Error)
		}
	}
}
