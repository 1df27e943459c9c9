package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/supervise"
)

// This file runs the stack's jobs: a cron.Runner whose runs are one-shot
// processes of the supervisor, with the environment of their app's
// current release.

var _ admin.Jobs = (*Node)(nil)

// clusterLocker takes cron's locks in etcd, so that each firing of a job
// runs on exactly one node of the cluster, and a job's overlap policy holds
// across nodes. Without quorum no lock is granted, and firings are counted
// as missed: better no run than two.
type clusterLocker struct{ n *Node }

func (l clusterLocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	c := l.n.cl.c
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	release, err := cluster.TryLock(ctx, c.Client(), c.Prefix(), key, l.n.st.Cluster.Node, ttl)
	if errors.Is(err, cluster.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", cron.ErrLocked, err)
	}
	if err != nil {
		return nil, controlErr(err)
	}
	return release, nil
}

// newJobs builds the job runner; nil when the stack has no jobs.
func (n *Node) newJobs() (*cron.Runner, error) {
	if len(n.st.JobNames) == 0 {
		return nil, nil
	}
	var jobs []cron.Job
	for _, name := range n.st.JobNames {
		j := n.st.Jobs[name]
		sch, err := cron.Parse(j.Schedule)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		jobs = append(jobs, cron.Job{Name: name, Schedule: sch, Location: j.Location, Timeout: time.Duration(j.Timeout), Overlap: cron.Overlap(j.Overlap)})
	}
	return cron.New(cron.Options{
		Jobs:   jobs,
		Exec:   n.execJob,
		Locker: clusterLocker{n},
		Dir:    filepath.Join(n.st.Cluster.DataDir, "jobs"),
		Logger: n.log.With("part", "jobs"),
		OnRun:  n.jobRan,
	})
}

// execJob runs one run of a job as a one-shot process.
func (n *Node) execJob(ctx context.Context, name string, output func(string)) (int, error) {
	j := n.st.Jobs[name]
	spec := supervise.Spec{
		Name:    "job-" + name,
		App:     j.App,
		Command: j.Command,
		Dir:     j.Dir,
		Env:     slices.Clone(n.opts.Environ),
		Output:  func(_, line string) { output(line) },
	}
	if j.App != "" {
		a, err := n.app(j.App)
		if err != nil {
			return -1, err
		}
		a.mu.Lock()
		rel, ok := a.state.CurrentRelease()
		a.mu.Unlock()
		if !ok {
			return -1, fmt.Errorf("app %s has no release yet", j.App)
		}
		spec.Env = n.releaseEnv(a, rel)
		if spec.Dir == "" {
			spec.Dir = rel.Dir
		}
	}
	for _, k := range sortedKeys(j.Env) {
		spec.Env = append(spec.Env, k+"="+j.Env[k])
	}
	spec.Env = append(spec.Env, "TANDEM_JOB="+name)
	ex, err := n.sup.RunOnce(ctx, spec)
	if err != nil {
		return -1, err
	}
	return ex.Code, nil
}

// Jobs implements admin.Jobs.
func (n *Node) Jobs(ctx context.Context) ([]admin.JobStatus, error) {
	if n.jobs == nil {
		return []admin.JobStatus{}, nil
	}
	var out []admin.JobStatus
	for _, s := range n.jobs.Status() {
		js := admin.JobStatus{Name: s.Name, Schedule: s.Schedule, Timezone: s.Location, App: n.st.Jobs[s.Name].App,
			Overlap: string(s.Overlap), Timeout: s.Timeout, Next: s.Next, Queued: s.Queued,
			Runs: s.Counts.Runs, Failed: s.Counts.Failed, Skipped: s.Counts.Skipped, Missed: s.Counts.Missed, History: []admin.JobRun{}}
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

// RunJob implements admin.Jobs.
func (n *Node) RunJob(ctx context.Context, name string) (admin.JobRun, error) {
	if n.jobs == nil {
		return admin.JobRun{}, admin.Errorf(admin.ErrNotFound, "no job %q: the stack has no jobs", name)
	}
	run, err := n.jobs.RunNow(ctx, name)
	switch {
	case errors.Is(err, cron.ErrUnknownJob):
		return admin.JobRun{}, admin.Errorf(admin.ErrNotFound, "no job %q (jobs: %v)", name, n.st.JobNames)
	case errors.Is(err, cron.ErrRunning):
		return admin.JobRun{}, admin.Errorf(admin.ErrConflict, "%w", err)
	case err != nil:
		return admin.JobRun{}, err
	}
	return jobRunOf(run), nil
}

func jobRunOf(r cron.Run) admin.JobRun {
	return admin.JobRun{ID: r.ID, Trigger: r.Trigger, Scheduled: r.Scheduled, Started: r.Started, Finished: r.Finished,
		ExitCode: r.ExitCode, Result: string(r.Result), Error: r.Error, Output: r.Output, Missed: r.Missed}
}

// jobSummaries is the jobs' part of the node's status.
func (n *Node) jobSummaries() []admin.JobSummary {
	if n.jobs == nil {
		return nil
	}
	var out []admin.JobSummary
	for _, s := range n.jobs.Status() {
		js := admin.JobSummary{Name: s.Name, Next: s.Next, Running: s.Running != nil, Runs: s.Counts.Runs,
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
