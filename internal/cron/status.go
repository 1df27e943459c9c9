package cron

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RunNow runs the job named name at once and waits until it ends or ctx
// does (the run goes on then). It fails with ErrRunning if a run is in
// progress.
func (r *Runner) RunNow(ctx context.Context, name string) (Run, error) {
	j := r.job(name)
	if j == nil {
		return Run{}, fmt.Errorf("run job %s: %w", name, ErrUnknownJob)
	}
	run, done, err := r.start(j, TriggerManual, time.Time{})
	if err != nil {
		return Run{}, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return run, fmt.Errorf("run job %s: %w", name, ctx.Err())
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if i := slices.IndexFunc(j.st.Runs, func(o Run) bool { return o.ID == run.ID }); i >= 0 {
		return j.st.Runs[i], nil
	}
	return run, nil
}

func (r *Runner) job(name string) *job {
	i := slices.IndexFunc(r.jobs, func(j *job) bool { return j.Name == name })
	if i < 0 {
		return nil
	}
	return r.jobs[i]
}

// Status is a snapshot of one job.
type Status struct {
	Name     string
	Schedule string
	Location string
	Overlap  Overlap
	Timeout  time.Duration
	Next     time.Time // zero before Run, or if it never fires again
	Running  *Run      // the run in progress; nil if none
	Queued   int
	Counts   Counts
	Runs     []Run // oldest first
}

// Status returns every job's state, by name.
func (r *Runner) Status() []Status {
	out := make([]Status, 0, len(r.jobs))
	for _, j := range r.jobs {
		j.mu.Lock()
		s := Status{Name: j.Name, Schedule: j.Schedule.String(), Location: j.Location.String(), Overlap: j.Overlap,
			Timeout: j.Timeout, Next: j.next, Queued: len(j.queue), Counts: j.st.Counts, Runs: slices.Clone(j.st.Runs)}
		if j.running != nil {
			run := *j.running
			s.Running = &run
		}
		j.mu.Unlock()
		out = append(out, s)
	}
	return out
}
