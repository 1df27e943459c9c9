package admin

import (
	"context"
	"errors"

	"github.com/tandem-run/tandem/internal/cron"
)

// JobRunner answers the jobs endpoints from the node's cron runner: the
// only place its types become the API's.
type JobRunner struct {
	Runner *cron.Runner
	// Apps names each job's app ("" for none), by job.
	Apps map[string]string
	// Names lists the jobs in the stack file's order.
	Names []string
}

var _ Jobs = JobRunner{}

// Jobs implements Jobs.
func (j JobRunner) Jobs(ctx context.Context) ([]JobStatus, error) {
	out := []JobStatus{}
	for _, s := range j.Runner.Status() {
		js := JobStatus{Name: s.Name, Schedule: s.Schedule, Timezone: s.Location, App: j.Apps[s.Name],
			Overlap: string(s.Overlap), Timeout: s.Timeout, Next: s.Next, Queued: s.Queued,
			Runs: s.Counts.Runs, Failed: s.Counts.Failed, Skipped: s.Counts.Skipped, Missed: s.Counts.Missed, History: []JobRun{}}
		if s.Running != nil {
			r := jobRunOf(*s.Running)
			js.Running = &r
		}
		for _, r := range s.Runs {
			js.History = append(js.History, jobRunOf(r))
		}
		out = append(out, js)
	}
	return out, nil
}

// RunJob implements Jobs.
func (j JobRunner) RunJob(ctx context.Context, name string) (JobRun, error) {
	run, err := j.Runner.RunNow(ctx, name)
	switch {
	case errors.Is(err, cron.ErrUnknownJob):
		return JobRun{}, Errorf(ErrNotFound, "no job %q (jobs: %v)", name, j.Names)
	case errors.Is(err, cron.ErrRunning):
		return JobRun{}, Errorf(ErrConflict, "%w", err)
	case err != nil:
		return JobRun{}, err
	}
	return jobRunOf(run), nil
}

func jobRunOf(r cron.Run) JobRun {
	return JobRun{ID: r.ID, Trigger: r.Trigger, Scheduled: r.Scheduled, Started: r.Started, Finished: r.Finished,
		ExitCode: r.ExitCode, Result: string(r.Result), Error: r.Error, Output: r.Output, Missed: r.Missed}
}

// Summaries is the jobs' part of the node's status.
func (j JobRunner) Summaries() []JobSummary {
	if j.Runner == nil {
		return nil
	}
	var out []JobSummary
	for _, s := range j.Runner.Status() {
		js := JobSummary{Name: s.Name, Next: s.Next, Running: s.Running != nil, Runs: s.Counts.Runs,
			Failed: s.Counts.Failed, Skipped: s.Counts.Skipped, Missed: s.Counts.Missed}
		for i := len(s.Runs) - 1; i >= 0; i-- {
			if s.Runs[i].Result != cron.ResultRunning {
				r := jobRunOf(s.Runs[i])
				r.Output = nil
				js.Last = &r
				break
			}
		}
		out = append(out, js)
	}
	return out
}
