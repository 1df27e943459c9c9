package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

// Report is a whole run: where and how it ran, every result and the
// targets. It is written as JSON (latest.json) and as markdown (latest.md).
type Report struct {
	Date      time.Time    `json:"date"`
	Machine   host.Machine `json:"machine"`
	Settings  Settings     `json:"settings"`
	Scenarios []Scenario   `json:"scenarios"`
	Results   []*Result    `json:"results"`
	Ratios    []Ratios     `json:"ratios_vs_tandem"`
	Targets   []Target     `json:"targets"`
}

// Settings are the run's parameters.
type Settings struct {
	Rounds   int           `json:"rounds"`
	Duration time.Duration `json:"duration_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Loader   string        `json:"loader"`
	Smoke    bool          `json:"smoke"`
	Peers    []string      `json:"peers"`
}

// Ratios compare tandem with one peer on one scenario, each as tandem's
// median ÷ the peer's median: req/s above 1 means tandem is faster, CPU
// and p99 below 1 mean tandem is cheaper or quicker.
type Ratios struct {
	Scenario string  `json:"scenario"`
	Peer     string  `json:"peer"`
	RPS      float64 `json:"rps"`
	CPU      float64 `json:"cpu_per_req"`
	P99      float64 `json:"p99"`
}

// newReport fills in the ratios and targets.
func newReport(date time.Time, m host.Machine, s Settings, scs []Scenario, results []*Result) *Report {
	rep := &Report{Date: date, Machine: m, Settings: s, Scenarios: scs, Results: results, Targets: evaluateTargets(results)}
	rep.Ratios = computeRatios(results)
	return rep
}

func computeRatios(results []*Result) []Ratios {
	tandem := map[string]*Summary{}
	for _, r := range results {
		if r.Peer == "tandem" && r.Summary != nil {
			tandem[r.Scenario] = r.Summary
		}
	}
	var out []Ratios
	for _, r := range results {
		t := tandem[r.Scenario]
		if r.Peer == "tandem" || t == nil || r.Summary == nil {
			continue
		}
		out = append(out, Ratios{Scenario: r.Scenario, Peer: r.Peer,
			RPS: ratio(t.RPS.Median, r.Summary.RPS.Median),
			CPU: ratio(t.CPUPerReq.Median, r.Summary.CPUPerReq.Median),
			P99: ratio(t.P99.Median, r.Summary.P99.Median)})
	}
	return out
}

// ratioFor returns the ratios of peer on scenario, if any.
func (rep *Report) ratioFor(scenario, peer string) (Ratios, bool) {
	for _, r := range rep.Ratios {
		if r.Scenario == scenario && r.Peer == peer {
			return r, true
		}
	}
	return Ratios{}, false
}

// Write writes latest.json and latest.md into dir, each atomically.
func (rep *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("write report: encode json: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "latest.json"), append(js, '\n')); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "latest.md"), []byte(rep.Markdown()))
}

// writeAtomic writes a file through a temp file and a rename, so a reader
// never sees half a report.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after a successful rename: ENOENT, ignored
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
