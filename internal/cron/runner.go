package cron

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Errors of Runner.RunNow, wrapped.
var (
	ErrUnknownJob = errors.New("no such job")
	ErrRunning    = errors.New("job is running")
	ErrNotRunning = errors.New("job runner is not running")
)

// Overlap is what happens when a job fires while its previous run still runs.
type Overlap string

// Overlap policies.
const (
	OverlapSkip  Overlap = "skip"  // the firing is skipped and counted
	OverlapQueue Overlap = "queue" // it runs when the previous run ends
)

// maxQueue bounds the queued firings of one job; beyond, they are skipped.
const maxQueue = 10

// Job is one scheduled job, as the Runner needs it.
type Job struct {
	Name     string
	Schedule Schedule
	Location *time.Location // the time zone of the schedule; nil means time.Local
	Timeout  time.Duration  // a run is killed after this; 0 means never
	Overlap  Overlap        // "" means OverlapSkip
}

// Exec runs a job's command once, passing each line of its output to
// output (from one goroutine at a time), and returns its exit code. It
// returns an error, and exit code -1, when the command could not start or
// was stopped because ctx ended.
type Exec func(ctx context.Context, job string, output func(line string)) (exitCode int, err error)

// Options configure a Runner.
type Options struct {
	Jobs   []Job
	Exec   Exec
	Locker Locker // nil means a LocalLocker of its own
	// Dir keeps each job's history as a JSON file; "" keeps none.
	Dir    string
	Logger *slog.Logger
	// OnRun, if set, is told of every run that ended and every firing
	// skipped or missed, by its Result (ok, failed, timeout, skipped,
	// missed; Run.Missed says how many firings). It is called from the
	// runner's goroutines, outside any lock, and must not block (metrics).
	OnRun func(job string, run Run)
}

// Runner fires jobs at their times and keeps their histories. Create it
// with New and run it with Run.
type Runner struct {
	log    *slog.Logger
	exec   Exec
	onRun  func(job string, run Run) // never nil
	locker Locker
	hist   history
	jobs   []*job // sorted by name

	mu      sync.Mutex // guards the fields below
	runCtx  context.Context
	stopped bool
	runs    sync.WaitGroup // runs in progress; Add under mu while !stopped
}

// job is a Job with its live state.
type job struct {
	Job
	saveMu sync.Mutex // serialises writes of the history file

	mu      sync.Mutex // guards the fields below
	st      state
	busy    bool        // a run is starting or running
	running *Run        // the run in progress
	queue   []time.Time // firings waiting for the run in progress
	next    time.Time
	done    map[int]chan struct{} // closed when the run with that id ends
}

// New checks opts and loads the jobs' histories. It starts nothing.
func New(opts Options) (*Runner, error) {
	if opts.Exec == nil {
		return nil, errors.New("new job runner: no exec")
	}
	r := &Runner{log: opts.Logger, exec: opts.Exec, onRun: opts.OnRun, locker: opts.Locker, hist: history{dir: opts.Dir}}
	if r.onRun == nil {
		r.onRun = func(string, Run) {}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.locker == nil {
		r.locker = new(LocalLocker)
	}
	for _, jb := range opts.Jobs {
		if jb.Name == "" || jb.Schedule.spec == "" {
			return nil, fmt.Errorf("new job runner: job %q: name and schedule are required", jb.Name)
		}
		if jb.Location == nil {
			jb.Location = time.Local
		}
		if jb.Overlap == "" {
			jb.Overlap = OverlapSkip
		}
		st, err := r.hist.load(jb.Name)
		if err != nil {
			return nil, fmt.Errorf("new job runner: %w", err)
		}
		r.jobs = append(r.jobs, &job{Job: jb, st: st, done: make(map[int]chan struct{})})
	}
	slices.SortFunc(r.jobs, func(a, b *job) int { return cmp.Compare(a.Name, b.Name) })
	return r, nil
}

// Run fires the jobs until ctx ends, then stops the runs in progress and
// returns once they have ended. It may be called once.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return errors.New("run job runner: already run")
	}
	r.runCtx = ctx
	r.mu.Unlock()

	var loops sync.WaitGroup
	now := time.Now()
	for _, j := range r.jobs {
		r.recover(j, now)
		loops.Go(func() { r.schedule(ctx, j) })
	}
	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	loops.Wait()
	r.runs.Wait()
	return nil
}

// recover settles what a previous runner left: a run it did not finish,
// and firings nobody ran while no runner was running.
func (r *Runner) recover(j *job, now time.Time) {
	j.mu.Lock()
	for i := range j.st.Runs {
		if run := &j.st.Runs[i]; run.Result == ResultRunning {
			run.Result, run.Error = ResultFailed, "interrupted: tandem stopped during the run"
			j.st.Counts.Failed++
		}
	}
	var first time.Time
	missed := 0
	if j.st.Schedule == j.Schedule.String() && !j.st.LastFiring.IsZero() {
		for t := j.Schedule.Next(j.st.LastFiring, j.Location); !t.IsZero() && !t.After(now) && missed < 100_000; t = j.Schedule.Next(t, j.Location) {
			if missed == 0 {
				first = t
			}
			missed++
			j.st.LastFiring = t
		}
	}
	j.st.Schedule = j.Schedule.String()
	j.mu.Unlock()
	if missed > 0 {
		r.missed(j, first, missed, "tandem was not running")
		return
	}
	r.save(j)
}

// schedule fires j at its times until ctx ends.
func (r *Runner) schedule(ctx context.Context, j *job) {
	next := j.Schedule.Next(time.Now(), j.Location)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for !next.IsZero() {
		j.mu.Lock()
		j.next = next
		j.mu.Unlock()
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// Of the firings that are due, run the latest; the others were
		// missed (the machine slept, or tandem was starved).
		now := time.Now()
		due, missed := next, 0
		var first time.Time
		for n := j.Schedule.Next(due, j.Location); !n.IsZero() && !n.After(now); n = j.Schedule.Next(due, j.Location) {
			if missed == 0 {
				first = due
			}
			missed++
			due = n
		}
		if missed > 0 {
			r.missed(j, first, missed, "tandem fired too late")
		}
		r.fire(ctx, j, due)
		next = j.Schedule.Next(due, j.Location)
	}
}

// fire claims the firing of j at `at` and runs it, unless another runner
// claimed it first.
func (r *Runner) fire(ctx context.Context, j *job, at time.Time) {
	ttl := 10 * time.Second
	if n := j.Schedule.Next(at, j.Location); !n.IsZero() {
		ttl = min(max(2*n.Sub(at), ttl), 24*time.Hour)
	}
	if _, err := r.locker.TryLock(ctx, "cron/firing/"+j.Name+"/"+strconv.FormatInt(at.Unix(), 10), ttl); err != nil {
		if errors.Is(err, ErrLocked) {
			r.log.Debug("job firing taken by another runner", "job", j.Name, "at", at)
			r.firedElsewhere(j, at)
			return
		}
		if ctx.Err() == nil {
			r.missed(j, at, 1, "could not claim the firing: "+err.Error())
		}
		return
	}
	if _, _, err := r.start(j, TriggerSchedule, at); err != nil && !errors.Is(err, ErrRunning) {
		r.log.Warn("job not run", "job", j.Name, "at", at, "err", err)
	}
}

// firedElsewhere records that another runner claimed the firing of j at
// `at`. Firings are aligned, so every runner of a cluster sees each one;
// without this, a runner that rarely wins a claim keeps an old LastFiring
// and, once restarted, recover would count every firing the others ran
// since as missed. It is saved at once, like a run or a skip.
func (r *Runner) firedElsewhere(j *job, at time.Time) {
	j.mu.Lock()
	changed := at.After(j.st.LastFiring)
	if changed {
		j.st.LastFiring = at
	}
	j.mu.Unlock()
	if changed {
		r.save(j)
	}
}

// start begins a run of j, or applies the overlap policy when one is in
// progress. It returns the run and a channel closed when it ends.
func (r *Runner) start(j *job, trigger string, at time.Time) (Run, <-chan struct{}, error) {
	r.mu.Lock()
	ctx, stopped := r.runCtx, r.stopped
	r.mu.Unlock()
	if ctx == nil || stopped {
		return Run{}, nil, fmt.Errorf("run job %s: %w", j.Name, ErrNotRunning)
	}
	j.mu.Lock()
	if j.busy {
		why, err := r.overlapLocked(j, trigger, at)
		j.mu.Unlock()
		if why != "" {
			r.skip(j, at, why)
		}
		return Run{}, nil, err
	}
	j.busy = true
	j.mu.Unlock()

	ttl := 24 * time.Hour
	if j.Timeout > 0 {
		ttl = j.Timeout + time.Minute
	}
	release, err := r.locker.TryLock(ctx, RunningKey+j.Name, ttl)
	j.mu.Lock()
	if err != nil {
		j.busy = false
		j.mu.Unlock()
		if errors.Is(err, ErrLocked) && trigger == TriggerSchedule {
			r.skip(j, at, "the previous run is still running on another node")
			return Run{}, nil, nil
		}
		return Run{}, nil, fmt.Errorf("run job %s: %w", j.Name, err)
	}
	run := j.st.add(Run{Trigger: trigger, Scheduled: at, Started: time.Now(), ExitCode: -1, Result: ResultRunning})
	j.st.Counts.Runs++
	if !at.IsZero() {
		j.st.LastFiring = at
	}
	j.running = &run
	done := make(chan struct{})
	j.done[run.ID] = done
	j.mu.Unlock()
	r.save(j)

	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		r.finish(j, run, -1, fmt.Errorf("not started: %w", ErrNotRunning), release, false)
		return run, done, nil
	}
	r.runs.Add(1)
	r.mu.Unlock()
	r.log.Info("job started", "job", j.Name, "run", run.ID, "trigger", trigger, "scheduled", at)
	go func() {
		defer r.runs.Done()
		r.execute(ctx, j, run, release)
	}()
	return run, done, nil
}

// overlapLocked applies j's overlap policy to a firing that came while a
// run is in progress: it queues the firing, refuses a manual run, or
// returns why the firing is to be skipped.
func (r *Runner) overlapLocked(j *job, trigger string, at time.Time) (skip string, err error) {
	switch {
	case trigger == TriggerManual && j.running != nil:
		return "", fmt.Errorf("run job %s: %w (run %d started %s)", j.Name, ErrRunning, j.running.ID, j.running.Started.Format(time.RFC3339))
	case trigger == TriggerManual:
		return "", fmt.Errorf("run job %s: %w", j.Name, ErrRunning)
	case j.Overlap == OverlapQueue && len(j.queue) < maxQueue:
		j.queue = append(j.queue, at)
		r.log.Info("job firing queued", "job", j.Name, "at", at, "queued", len(j.queue))
		return "", nil
	case j.Overlap == OverlapQueue:
		return fmt.Sprintf("%d firings are queued already", len(j.queue)), nil
	case j.running != nil:
		return fmt.Sprintf("run %d (started %s) is still running", j.running.ID, j.running.Started.Format(time.TimeOnly)), nil
	}
	return "the previous run is still starting", nil
}

func (r *Runner) skip(j *job, at time.Time, why string) {
	j.mu.Lock()
	run := j.st.add(Run{Trigger: TriggerSchedule, Scheduled: at, ExitCode: -1, Result: ResultSkipped, Error: why})
	j.st.Counts.Skipped++
	j.st.LastFiring = at
	j.mu.Unlock()
	r.onRun(j.Name, run)
	r.log.Warn("job firing skipped", "job", j.Name, "at", at, "reason", why)
	r.save(j)
}

func (r *Runner) missed(j *job, first time.Time, n int, why string) {
	j.mu.Lock()
	msg := fmt.Sprintf("%d %s missed: %s", n, plural(n, "firing", "firings"), why)
	run := j.st.add(Run{Trigger: TriggerSchedule, Scheduled: first, ExitCode: -1, Result: ResultMissed, Error: msg, Missed: n})
	j.st.Counts.Missed += n
	j.mu.Unlock()
	r.onRun(j.Name, run)
	r.log.Warn("job firings missed", "job", j.Name, "first", first, "count", n, "reason", why)
	r.save(j)
}

// execute runs one run to its end.
func (r *Runner) execute(ctx context.Context, j *job, run Run, release func(context.Context) error) {
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	out := tail{n: tailLines}
	var outMu sync.Mutex
	code, err := r.exec(ctx, j.Name, func(line string) {
		outMu.Lock()
		out.add(line)
		outMu.Unlock()
	})
	outMu.Lock()
	run.Output = out.lines
	outMu.Unlock()
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.finish(j, run, code, fmt.Errorf("killed after its timeout of %s", j.Timeout), release, true)
		return
	case err != nil && ctx.Err() != nil:
		err = errors.New("interrupted: tandem stopped during the run")
	}
	r.finish(j, run, code, err, release, false)
}

// finish records the end of a run and starts a queued one.
func (r *Runner) finish(j *job, run Run, code int, err error, release func(context.Context) error, timedOut bool) {
	// The lock is released even when the runner stops: it is not the
	// run's context that bounds it.
	if rerr := release(context.WithoutCancel(context.Background())); rerr != nil {
		r.log.Warn("release job lock", "job", j.Name, "err", rerr)
	}
	run.Finished, run.ExitCode = time.Now(), code
	switch {
	case timedOut:
		run.Result, run.Error = ResultTimeout, err.Error()
	case err != nil:
		run.Result, run.Error = ResultFailed, err.Error()
	case code != 0:
		run.Result, run.Error = ResultFailed, "exit code "+strconv.Itoa(code)
	default:
		run.Result = ResultOK
	}
	j.mu.Lock()
	j.st.update(run)
	if run.Result != ResultOK {
		j.st.Counts.Failed++
	}
	j.busy, j.running = false, nil
	done := j.done[run.ID]
	delete(j.done, run.ID)
	var queued []time.Time
	if len(j.queue) > 0 {
		queued = []time.Time{j.queue[0]}
		j.queue = j.queue[1:]
	}
	j.mu.Unlock()
	r.onRun(j.Name, run)
	r.save(j)
	close(done)
	level := slog.LevelInfo
	if run.Result != ResultOK {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "job finished", "job", j.Name, "run", run.ID, "result", string(run.Result),
		"exit_code", code, "error", run.Error, "duration", run.Finished.Sub(run.Started).Round(time.Millisecond))
	for _, at := range queued {
		if _, _, err := r.start(j, TriggerSchedule, at); err != nil && !errors.Is(err, ErrNotRunning) {
			r.log.Warn("queued job not run", "job", j.Name, "at", at, "err", err)
		}
	}
}

// save writes j's history; a failure is logged: the run itself happened.
func (r *Runner) save(j *job) {
	j.saveMu.Lock()
	defer j.saveMu.Unlock()
	j.mu.Lock()
	st := j.st
	st.Runs = slices.Clone(st.Runs)
	j.mu.Unlock()
	if err := r.hist.save(st); err != nil {
		r.log.Error("save job history", "job", j.Name, "err", err)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
