package main

import (
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// Report is a whole run: where and how it ran, every trial, the summaries
// and the ratios. It is written as backup.json and backup.md.
type Report struct {
	Date         time.Time    `json:"date"`
	Machine      host.Machine `json:"machine"`
	Settings     Settings     `json:"settings"`
	Ops          []OpTrial    `json:"ops"`
	RPO          []RPOTrial   `json:"rpo"`
	OpSummaries  []OpSummary  `json:"op_summaries"`
	RPOSummaries []RPOSummary `json:"rpo_summaries"`
	Ratios       []Ratio      `json:"ratios"`
}

// Settings are the run's parameters.
type Settings struct {
	Scale         int               `json:"scale"`
	DatabaseBytes int64             `json:"database_bytes"` // the data directory without pg_wal
	Rounds        int               `json:"rounds"`
	Setups        []setup           `json:"setups"`
	Archivers     []setup           `json:"archivers"`
	RPOCases      []rpoCase         `json:"rpo_cases"`
	RPOTrials     int               `json:"rpo_trials"`
	ProcessMax    int               `json:"pgbackrest_process_max"`
	Loads         map[string]string `json:"loads"`
}

const (
	opBackup  = "backup"
	opRestore = "restore"
)

// OpTrial is one base backup or one restore.
type OpTrial struct {
	Setup string `json:"setup"`
	Round int    `json:"round"`
	Op    string `json:"op"`
	Cost  cost   `json:"cost"`
	// A backup: the data the system reports and the backup as stored.
	ToolBytes   int64  `json:"tool_bytes,omitempty"`
	StoredBytes int64  `json:"stored_bytes,omitempty"`
	BackupID    string `json:"backup_id,omitempty"`
	// A restore: the system's restore command, then PostgreSQL's start
	// and recovery until it accepts writes.
	Unpack   time.Duration `json:"unpack_ns,omitempty"`
	Recovery time.Duration `json:"recovery_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// RPOTrial is one crash under load.
type RPOTrial struct {
	Setup string  `json:"setup"`
	Case  rpoCase `json:"case"`
	Trial int     `json:"trial"`
	Hold  float64 `json:"hold_s"` // load before the crash
	// The probe's commits: acknowledged, and acknowledged but not in the
	// restored copy; the RPO is the time between the newest acknowledged
	// commit and the newest restored one.
	Acked     int     `json:"acked"`
	Lost      int     `json:"lost"`
	RPO       float64 `json:"rpo_s"`
	WALRate   float64 `json:"wal_bytes_per_s"`
	Archived  int64   `json:"archived"`       // pg_stat_archiver.archived_count just before the crash
	Failed    int64   `json:"archive_failed"` // pg_stat_archiver.failed_count just before the crash
	ProbeErrs int     `json:"probe_errors_before_crash"`
	Error     string  `json:"error,omitempty"`
}

// Stat is min, median and max of a measure over the trials that have it.
type Stat = host.Stat

// OpSummary is a setup's figures for backups or restores.
type OpSummary struct {
	Setup     string `json:"setup"`
	Op        string `json:"op"`
	Trials    int    `json:"trials"`
	Failed    int    `json:"failed"`
	Wall      Stat   `json:"wall_s"`
	MBps      Stat   `json:"mb_per_s"`     // database MB (10^6 bytes) per wall second
	CPU       Stat   `json:"cpu_s"`        // tool and server
	CPUPerGB  Stat   `json:"cpu_s_per_gb"` // CPU s per GB (10^9 bytes) of database
	ToolCPU   Stat   `json:"tool_cpu_s"`
	ServerCPU Stat   `json:"server_cpu_s"`
	StoredMB  Stat   `json:"stored_mb"`
	Unpack    Stat   `json:"unpack_s"`
	Recovery  Stat   `json:"recovery_s"`
}

// RPOSummary is an archiver's figures for one case.
type RPOSummary struct {
	Setup   string `json:"setup"`
	Case    string `json:"case"`
	Trials  int    `json:"trials"`
	Failed  int    `json:"failed"`
	RPO     Stat   `json:"rpo_s"`
	Lost    Stat   `json:"lost"`
	WALRate Stat   `json:"wal_mb_per_s"`
}

// Ratio is tandem's median of a measure ÷ pgBackRest's: below 1, tandem
// takes less (time, CPU, space, data lost).
type Ratio struct {
	Measure string  `json:"measure"`
	Tandem  string  `json:"tandem"`
	Versus  string  `json:"versus"`
	Value   float64 `json:"value"`
}

// opMeasures are the throughput figures that get a ratio.
var opMeasures = []struct {
	op, name, title string
	get             func(OpSummary) Stat
}{
	{opBackup, "backup_wall", "base backup: wall time", func(s OpSummary) Stat { return s.Wall }},
	{opBackup, "backup_cpu", "base backup: CPU time (tool + server)", func(s OpSummary) Stat { return s.CPU }},
	{opBackup, "backup_stored", "base backup: stored size", func(s OpSummary) Stat { return s.StoredMB }},
	{opRestore, "restore_wall", "restore: wall time until PostgreSQL accepts writes", func(s OpSummary) Stat { return s.Wall }},
	{opRestore, "restore_cpu", "restore: CPU time (tool + server)", func(s OpSummary) Stat { return s.CPU }},
}

// summarize computes the summaries and the ratios from the trials.
func (rep *Report) summarize() {
	rep.OpSummaries, rep.RPOSummaries, rep.Ratios = nil, nil, nil
	for _, s := range rep.Settings.Setups {
		for _, op := range []string{opBackup, opRestore} {
			rep.OpSummaries = append(rep.OpSummaries, opSummaryOf(s.Name, op, rep.Ops, rep.Settings.DatabaseBytes))
		}
	}
	for _, c := range rep.Settings.RPOCases {
		for _, a := range rep.Settings.Archivers {
			rep.RPOSummaries = append(rep.RPOSummaries, rpoSummaryOf(a.Name, c, rep.RPO))
		}
	}
	for _, m := range opMeasures {
		for _, t := range rep.Settings.Setups {
			for _, p := range rep.Settings.Setups {
				if t.System != systemTandem || p.System != systemPgBackRest || t.Store != p.Store {
					continue
				}
				rep.addRatio(m.name, t.Name, p.Name, m.get(*rep.opSummary(t.Name, m.op)), m.get(*rep.opSummary(p.Name, m.op)))
			}
		}
	}
	for _, c := range rep.Settings.RPOCases {
		for _, t := range rep.Settings.Archivers {
			for _, p := range rep.Settings.Archivers {
				if t.System == systemTandem && p.System == systemPgBackRest {
					rep.addRatio("rpo "+c.String(), t.Name, p.Name, rep.rpoSummary(t.Name, c.String()).RPO, rep.rpoSummary(p.Name, c.String()).RPO)
				}
			}
		}
	}
}

func (rep *Report) addRatio(measure, tandem, versus string, t, p Stat) {
	if t.N == 0 || p.N == 0 || p.Median == 0 {
		return
	}
	rep.Ratios = append(rep.Ratios, Ratio{Measure: measure, Tandem: tandem, Versus: versus, Value: t.Median / p.Median})
}

func opSummaryOf(setup, op string, trials []OpTrial, dbBytes int64) OpSummary {
	s := OpSummary{Setup: setup, Op: op}
	var wall, mbps, cpu, perGB, tool, server, stored, unpack, recovery []float64
	for _, t := range trials {
		if t.Setup != setup || t.Op != op {
			continue
		}
		s.Trials++
		if t.Error != "" {
			s.Failed++
			continue
		}
		w := t.Cost.Wall.Seconds()
		wall, mbps = append(wall, w), append(mbps, float64(dbBytes)/1e6/w)
		c := (t.Cost.ToolCPU + t.Cost.ServerCPU).Seconds()
		cpu, perGB = append(cpu, c), append(perGB, c/(float64(dbBytes)/1e9))
		tool, server = append(tool, t.Cost.ToolCPU.Seconds()), append(server, t.Cost.ServerCPU.Seconds())
		if op == opBackup {
			stored = append(stored, float64(t.StoredBytes)/1e6)
		} else {
			unpack, recovery = append(unpack, t.Unpack.Seconds()), append(recovery, t.Recovery.Seconds())
		}
	}
	s.Wall, s.MBps, s.CPU, s.CPUPerGB = host.StatOf(wall), host.StatOf(mbps), host.StatOf(cpu), host.StatOf(perGB)
	s.ToolCPU, s.ServerCPU = host.StatOf(tool), host.StatOf(server)
	s.StoredMB, s.Unpack, s.Recovery = host.StatOf(stored), host.StatOf(unpack), host.StatOf(recovery)
	return s
}

func rpoSummaryOf(setup string, c rpoCase, trials []RPOTrial) RPOSummary {
	s := RPOSummary{Setup: setup, Case: c.String()}
	var rpo, lost, rate []float64
	for _, t := range trials {
		if t.Setup != setup || t.Case != c {
			continue
		}
		s.Trials++
		if t.Error != "" {
			s.Failed++
			continue
		}
		rpo, lost, rate = append(rpo, t.RPO), append(lost, float64(t.Lost)), append(rate, t.WALRate/1e6)
	}
	s.RPO, s.Lost, s.WALRate = host.StatOf(rpo), host.StatOf(lost), host.StatOf(rate)
	return s
}

func (rep *Report) opSummary(setup, op string) *OpSummary {
	for i := range rep.OpSummaries {
		if rep.OpSummaries[i].Setup == setup && rep.OpSummaries[i].Op == op {
			return &rep.OpSummaries[i]
		}
	}
	return &OpSummary{}
}

func (rep *Report) rpoSummary(setup, c string) *RPOSummary {
	for i := range rep.RPOSummaries {
		if rep.RPOSummaries[i].Setup == setup && rep.RPOSummaries[i].Case == c {
			return &rep.RPOSummaries[i]
		}
	}
	return &RPOSummary{}
}

// Write writes backup.json and backup.md into dir.
func (rep *Report) Write(dir string) error {
	return host.WriteReport(dir, "backup", rep, rep.Markdown())
}
