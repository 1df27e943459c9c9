package cron

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

const (
	// keepRuns is how many runs a job's history keeps.
	keepRuns = 50
	// tailLines is how many lines of a run's output are kept.
	tailLines = 20
)

// Result is how a run ended.
type Result string

// The results of a run.
const (
	ResultRunning Result = "running"
	ResultOK      Result = "ok"
	ResultFailed  Result = "failed"  // non-zero exit, or the command could not start
	ResultTimeout Result = "timeout" // killed after the job's timeout
	ResultSkipped Result = "skipped" // not run: the previous run was still running (overlap: skip)
	ResultMissed  Result = "missed"  // not run: nobody ran at that time (tandem was down or late)
)

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Run is one run of a job, or one firing that did not run.
type Run struct {
	ID        int       `json:"id"`
	Trigger   string    `json:"trigger"`
	Scheduled time.Time `json:"scheduled,omitzero"` // the firing it was for; zero for manual runs
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	// ExitCode is the process's exit code; -1 when it was killed or never started.
	ExitCode int      `json:"exit_code"`
	Result   Result   `json:"result"`
	Error    string   `json:"error,omitempty"`  // why it failed, was skipped or missed
	Output   []string `json:"output,omitempty"` // the last lines of its output
	// Missed counts the firings a ResultMissed entry stands for.
	Missed int `json:"missed,omitempty"`
}

// Counts are a job's totals since its history began.
type Counts struct {
	Runs    int `json:"runs"`    // runs started
	Failed  int `json:"failed"`  // runs that failed or timed out
	Skipped int `json:"skipped"` // firings skipped for overlap
	Missed  int `json:"missed"`  // firings nobody ran
}

// state is what a Runner keeps about one job across restarts.
type state struct {
	Job      string `json:"job"`
	Schedule string `json:"schedule"`
	// LastFiring is the last scheduled time that was handled (run,
	// skipped or missed); missed firings are counted from it at start.
	LastFiring time.Time `json:"last_firing,omitzero"`
	Counts     Counts    `json:"counts"`
	Runs       []Run     `json:"runs"` // oldest first
	NextID     int       `json:"next_id"`
}

func (s *state) add(r Run) Run {
	s.NextID++
	r.ID = s.NextID
	s.Runs = append(s.Runs, r)
	if n := len(s.Runs); n > keepRuns {
		s.Runs = slices.Delete(s.Runs, 0, n-keepRuns)
	}
	return r
}

func (s *state) update(r Run) {
	if i := slices.IndexFunc(s.Runs, func(o Run) bool { return o.ID == r.ID }); i >= 0 {
		s.Runs[i] = r
	}
}

// history persists job states in a directory, one JSON file per job.
type history struct {
	dir string // "" keeps nothing on disk
}

func (h history) path(job string) string { return filepath.Join(h.dir, job+".json") }

func (h history) load(job string) (state, error) {
	if h.dir == "" {
		return state{Job: job}, nil
	}
	data, err := os.ReadFile(h.path(job))
	if errors.Is(err, fs.ErrNotExist) {
		return state{Job: job}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("load history of job %s: %w", job, err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return state{}, fmt.Errorf("load history of job %s: %s: %w", job, h.path(job), err)
	}
	s.Job = job
	return s, nil
}

func (h history) save(s state) error {
	if h.dir == "" {
		return nil
	}
	if err := atomicfile.WriteJSON(h.path(s.Job), s, 0o600); err != nil {
		return fmt.Errorf("save history of job %s: %w", s.Job, err)
	}
	return nil
}

// tail keeps the last n lines written to it.
type tail struct {
	lines []string
	n     int
}

func (t *tail) add(line string) {
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = slices.Delete(t.lines, 0, len(t.lines)-t.n)
	}
}
