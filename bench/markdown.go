package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Markdown renders the report: heading with date and machine, the main
// table, the memory table and the targets.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Results %s\n\n", rep.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Machine: %s; load average %s at the start, %s at the end.  \n",
		rep.Machine, rep.Machine.LoadAvg[0], rep.Machine.LoadAvg[1])
	fmt.Fprintf(&b, "Peers: %s.  \n", rep.versions())
	fmt.Fprintf(&b, "Run: %d round(s) of %s per scenario after a %s warm-up, load by %s; medians, [min–max] over rounds.",
		rep.Settings.Rounds, rep.Settings.Duration, rep.Settings.Warmup, rep.Settings.Loader)
	if rep.Settings.Smoke {
		b.WriteString(" **Smoke run: the figures only show that the benchmark works.**")
	}
	b.WriteString("\n\n")
	for _, sc := range rep.Scenarios {
		pace := ""
		if sc.Pause > 0 {
			pace = fmt.Sprintf(", each waiting %v after a response", sc.Pause)
		}
		fmt.Fprintf(&b, "- `%s`: %s (%s mode, %d connections%s)\n", sc.Name, sc.Title, sc.Mode, sc.Conns, pace)
	}
	b.WriteString("\n")
	rep.mainTable(&b)
	rep.memoryTable(&b)
	rep.targetTable(&b)
	return b.String()
}

func (rep *Report) versions() string {
	var parts []string
	for _, p := range rep.Settings.Peers {
		parts = append(parts, p+" "+rep.Machine.Versions[p])
	}
	if v, ok := rep.Machine.Versions["wrk"]; ok {
		parts = append(parts, "wrk "+v)
	}
	return strings.Join(parts, ", ")
}

func (rep *Report) mainTable(b *strings.Builder) {
	b.WriteString("| scenario | peer | req/s | p50 | p99 | CPU/req | peak RSS | origin share | tandem÷peer req/s | tandem÷peer CPU/req |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rep.Results {
		if r.Summary == nil {
			fmt.Fprintf(b, "| %s | %s | %s | | | | | | | |\n", r.Scenario, r.Peer, cell(resultState(r)))
			continue
		}
		s := r.Summary
		rps, cpu := "", ""
		if q, ok := rep.ratioFor(r.Scenario, r.Peer); ok {
			rps, cpu = fmt.Sprintf("%.2f", q.RPS), fmt.Sprintf("%.2f", q.CPU)
		}
		peer := r.Peer
		if s.Errors > 0 {
			peer += fmt.Sprintf(" (%d errors)", s.Errors)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |\n",
			r.Scenario, peer, spreadOf(s.RPS, fmtCount), fmtDur(s.P50.Median), spreadOf(s.P99, fmtDur),
			spreadOf(s.CPUPerReq, fmtDur), fmtMiB(s.PeakRSS.Median), s.OriginShare.Median, rps, cpu)
	}
	b.WriteString("\n")
}

// memoryTable shows idle RSS (after start, before any load) in each mode
// and the cost of a keep-alive connection, from the conns-1000 scenario.
func (rep *Report) memoryTable(b *strings.Builder) {
	b.WriteString("| peer | idle RSS, proxy mode | idle RSS, cache mode | RSS per idle keep-alive conn | peak RSS, 1,000 busy conns |\n")
	b.WriteString("|---|--:|--:|--:|--:|\n")
	for _, p := range rep.Settings.Peers {
		idle := map[Mode]string{ModeProxy: "n/a", ModeCache: "n/a"}
		perConn, peak := "n/a", "n/a"
		for _, r := range rep.Results {
			if r.Peer != p || r.Summary == nil {
				continue
			}
			idle[r.Mode] = fmtMiB(r.Summary.IdleRSS.Median)
			if r.Scenario == "conns-1000" {
				perConn = spreadOf(r.Summary.MemPerConn, fmtKiB)
				peak = fmtMiB(r.Summary.PeakRSS.Median)
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", p, idle[ModeProxy], idle[ModeCache], perConn, peak)
	}
	b.WriteString("\n")
}

func (rep *Report) targetTable(b *strings.Builder) {
	b.WriteString("| target | status | figures |\n|---|---|---|\n")
	for _, t := range rep.Targets {
		status := string(t.Status)
		if t.Status != TargetMet {
			status = "**" + status + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.Name, status, cell(t.Detail))
	}
	b.WriteString("\n")
}

// spreadOf formats "median [min–max]"; the range is left out for one round.
func spreadOf(s Spread, f func(float64) string) string {
	if s.Min == s.Max {
		return f(s.Median)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.Median), f(s.Min), f(s.Max))
}

func fmtCount(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func fmtDur(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2fµs", ns/1e3)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", ns/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", ns/1e6)
	}
	return fmt.Sprintf("%.2fs", ns/1e9)
}

func fmtMiB(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
func fmtKiB(v float64) string { return fmt.Sprintf("%.1f KiB", v/(1<<10)) }

// cell makes text safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
