package supervise

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Instance is one supervised instance: a process that is restarted when it
// exits, until Stop. Its methods are safe for concurrent use.
type Instance struct {
	sup     *Supervisor
	spec    Spec // with defaults
	log     *slog.Logger
	spawner *spawner
	cg      *cgroups
	cgName  string // its cgroup directory's name

	stopOnce sync.Once
	stop     chan struct{} // closed by requestStop
	restart  chan string   // a pending Restart's reason; buffer 1
	done     chan struct{} // closed when the instance has stopped for good

	mu     sync.Mutex // guards the fields below
	status Status     // without LogTail; see tail
	tail   *logTail
}

var unsafeCgroupChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// newInstance is called with s.mu held, after Run's set-up.
func newInstance(s *Supervisor, spec Spec, seq int) *Instance {
	return &Instance{
		sup:     s,
		spec:    spec,
		log:     s.log.With("app", spec.App, "instance", spec.Name),
		spawner: s.spawner,
		cg:      s.cg,
		cgName:  fmt.Sprintf("%d-%.64s", seq, unsafeCgroupChars.ReplaceAllString(spec.Name, "_")),
		stop:    make(chan struct{}),
		restart: make(chan string, 1),
		done:    make(chan struct{}),
		status:  Status{Name: spec.Name, App: spec.App, State: StateStarting},
		tail:    newLogTail(LogTailLines),
	}
}

// Name returns Spec.Name.
func (in *Instance) Name() string { return in.spec.Name }

// Status returns a snapshot of the instance.
func (in *Instance) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.status
	if st.LastExit != nil {
		ex := *st.LastExit
		st.LastExit = &ex
	}
	st.LogTail = in.tail.snapshot()
	return st
}

// Restart stops the process gracefully (stop signal, grace, SIGKILL) and
// starts it again at once, without back-off; during back-off it starts it
// at once. reason is logged. It does not wait; Status and the events show
// the progress. It fails with ErrStopped once Stop was called.
func (in *Instance) Restart(reason string) error {
	select {
	case <-in.stop:
		return fmt.Errorf("restart instance %s: %w", in.spec.Name, ErrStopped)
	default:
	}
	select {
	case in.restart <- reason:
	default: // a restart is pending already
	}
	return nil
}

// Stop stops the instance for good: the stop signal to its process group,
// SIGKILL to the group and its cgroup after Spec.StopGrace, no more
// restarts. It returns when every process of the instance is gone, or
// with ctx's error if ctx ends first (the stop goes on). It may be called
// any number of times.
func (in *Instance) Stop(ctx context.Context) error {
	in.requestStop()
	select {
	case <-in.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop instance %s: %w", in.spec.Name, ctx.Err())
	}
}

// Done returns a channel that is closed when the instance has stopped for
// good, by Stop or because the Supervisor's Run ended.
func (in *Instance) Done() <-chan struct{} { return in.done }

func (in *Instance) requestStop() { in.stopOnce.Do(func() { close(in.stop) }) }

func (in *Instance) stopping() bool {
	select {
	case <-in.stop:
		return true
	default:
		return false
	}
}

// run is the instance's goroutine, owned by the Supervisor. It reports the
// first start's error on first; if that is not nil, it has cleaned up and
// there is no instance.
func (in *Instance) run(first chan<- error) {
	defer in.sup.wg.Done()
	defer close(in.done)
	ic, reason := in.cg.newInstance(in.cgName, in.spec.MemoryLimit)
	in.update(func(st *Status) { st.MemoryLimitEnforced = in.spec.MemoryLimit > 0 && reason == "" })
	if reason != "" {
		in.sup.warnMemory(in, reason)
	}
	err := in.loop(ic, first)
	if rmErr := ic.remove(); rmErr != nil {
		in.log.Error("remove instance cgroup", "err", rmErr)
	}
	in.sup.remove(in)
	if err != nil {
		first <- err
		return
	}
	in.update(func(st *Status) { st.State, st.PID = StateStopped, 0 })
	in.log.Info("instance stopped")
	in.sup.emit(in.event(EventStopped))
}

// loop starts the process again and again until the instance is stopped.
// It returns the first start's error, or nil once stopped.
func (in *Instance) loop(ic *instanceCgroup, first chan<- error) error {
	policy := &restartPolicy{
		min: in.spec.MinBackoff, max: in.spec.MaxBackoff,
		stableAfter: in.spec.StableAfter, jitter: rand.Float64,
	}
	for starts := 0; ; starts++ {
		in.update(func(st *Status) {
			st.State = StateStarting
			if starts > 0 {
				st.Restarts++
			}
		})
		before, _ := ic.counters()
		p, err := startProcess(in.spawner, &in.spec, ic, in.output)
		if err == nil {
			in.started(p)
		}
		if first != nil {
			if err != nil {
				return err
			}
			first <- nil
			first = nil
		}
		var ex Exit
		if err != nil {
			ex = in.startFailed(err)
		} else {
			ex = in.exited(p, ic, before, in.supervise(p, ic, policy))
		}
		switch {
		case in.stopping(), in.spec.Once:
			return nil
		case ex.Requested:
			continue // Restart: start again at once
		}
		delay, crashLoop := policy.exited(ex.Uptime)
		in.backoff(delay, crashLoop)
		if !in.sleep(delay) {
			return nil
		}
	}
}

// supervise waits until process p exits, sending the stop signal when Stop
// or Restart asks for it, and SIGKILL when the grace is over. It reports
// whether the exit was asked for.
func (in *Instance) supervise(p *process, ic *instanceCgroup, policy *restartPolicy) (requested bool) {
	stable := time.NewTimer(in.spec.StableAfter)
	defer stable.Stop()
	grace := time.NewTimer(in.spec.StopGrace)
	grace.Stop() // started by the first stop or restart request
	defer grace.Stop()
	var graceC <-chan time.Time
	stopC, restartC := in.stop, in.restart
	for {
		select {
		case <-p.exited:
			return requested
		case <-stopC:
			stopC = nil
		case reason := <-restartC:
			restartC = nil
			in.log.Info("instance restart requested", "reason", reason, "pid", p.pid)
		case <-graceC:
			graceC = nil
			in.log.Warn("instance did not stop within grace; killing it", "pid", p.pid, "grace", in.spec.StopGrace)
			if err := p.kill(ic); err != nil {
				in.log.Error("kill instance", "pid", p.pid, "err", err)
			}
			continue
		case <-stable.C:
			policy.stable()
			in.update(func(st *Status) { st.CrashLoop = false })
			continue
		}
		if !requested {
			requested = true
			in.update(func(st *Status) { st.State = StateStopping })
			if err := p.signal(in.spec.StopSignal); err != nil {
				in.log.Warn("signal instance", "pid", p.pid, "signal", in.spec.StopSignal, "err", err)
			}
			grace.Reset(in.spec.StopGrace)
			graceC = grace.C
		}
	}
}

// started records that p was started.
func (in *Instance) started(p *process) {
	in.update(func(st *Status) { st.State, st.PID, st.StartedAt = StateRunning, p.pid, p.started })
	in.log.Info("instance started", "pid", p.pid)
	ev := in.event(EventStarted)
	ev.PID = p.pid
	in.sup.emit(ev)
}

// startFailed records that no process could be started.
func (in *Instance) startFailed(err error) Exit {
	ex := Exit{Time: time.Now(), Code: -1, Err: err.Error()}
	in.update(func(st *Status) { st.State, st.PID, st.LastExit = StateBackoff, 0, &ex })
	in.log.Error("start instance", "err", err)
	ev := in.event(EventExited)
	ev.ExitCode, ev.Err = -1, err
	in.sup.emit(ev)
	return ex
}

// exited reaps p after its exit and records how it ended.
func (in *Instance) exited(p *process, ic *instanceCgroup, before memCounters, requested bool) Exit {
	state, err := p.reap(ic)
	if err != nil {
		in.log.Error("reap instance", "pid", p.pid, "err", err)
	}
	ex := Exit{Time: time.Now(), Code: -1, Requested: requested}
	ex.Uptime = ex.Time.Sub(p.started)
	if state != nil {
		ex.Err = state.String()
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.Signal = ws.Signal()
		} else {
			ex.Code = state.ExitCode()
		}
	}
	ooms := oomKills(before, ic, ex.Signal)
	ex.OOMKilled = ooms > 0 && ex.Signal == syscall.SIGKILL
	in.update(func(st *Status) { st.PID, st.LastExit, st.OOMKills = 0, &ex, st.OOMKills+ooms })

	kind, level, msg := EventExited, slog.LevelWarn, "instance exited"
	switch {
	case ex.OOMKilled:
		kind, level, msg = EventOOMKilled, slog.LevelError, "instance killed by the OOM killer"
	case ooms > 0:
		in.log.Warn("instance process killed by the OOM killer", "count", ooms, "limit", in.spec.MemoryLimit)
	case requested, in.spec.Once && ex.Code == 0:
		level = slog.LevelInfo
	}
	in.log.Log(context.Background(), level, msg, "pid", p.pid, "code", ex.Code, "signal", signalName(ex.Signal),
		"uptime", ex.Uptime.Round(time.Millisecond), "requested", requested, "limit", in.spec.MemoryLimit)
	ev := in.event(kind)
	ev.PID, ev.ExitCode, ev.Signal, ev.Requested = p.pid, ex.Code, ex.Signal, requested
	in.sup.emit(ev)
	return ex
}

// oomKills returns how many processes of the instance the OOM killer killed
// since before was read. Where the kernel does not count OOM kills (v1
// before Linux 4.13), a hit limit followed by SIGKILL counts as one.
func oomKills(before memCounters, ic *instanceCgroup, sig syscall.Signal) int {
	after, ok := ic.counters()
	switch {
	case !ok:
		return 0
	case after.hasOOMKills && before.hasOOMKills:
		return int(max(0, after.oomKills-before.oomKills))
	case after.failcnt > before.failcnt && sig == syscall.SIGKILL:
		return 1
	}
	return 0
}

// backoff records that the instance waits delay before its next start.
func (in *Instance) backoff(delay time.Duration, crashLoop bool) {
	var became bool
	in.update(func(st *Status) {
		became = crashLoop && !st.CrashLoop
		st.State, st.CrashLoop = StateBackoff, crashLoop
		if crashLoop {
			st.State = StateCrashLoop
		}
	})
	in.log.Info("instance restart scheduled", "delay", delay.Round(time.Millisecond))
	if became {
		in.log.Error("instance crash looping", "exits", CrashLoopExits, "retry_every", in.spec.MaxBackoff)
		in.sup.emit(in.event(EventCrashLoop))
	}
}

// sleep waits d, or less if Restart asks. It returns false if Stop asks.
func (in *Instance) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case reason := <-in.restart:
		in.log.Info("instance restart requested", "reason", reason)
		return true
	case <-in.stop:
		return false
	}
}

// output takes one line of the process's output.
func (in *Instance) output(stream, line string) {
	in.mu.Lock()
	in.tail.add(line)
	in.mu.Unlock()
	if in.spec.Output != nil {
		in.spec.Output(stream, line)
	}
	in.log.LogAttrs(context.Background(), slog.LevelInfo, "instance output",
		slog.String("stream", stream), slog.String("line", line))
}

func (in *Instance) update(fn func(st *Status)) {
	in.mu.Lock()
	fn(&in.status)
	in.mu.Unlock()
}

func (in *Instance) event(kind EventKind) Event {
	return Event{Time: time.Now(), Instance: in.spec.Name, App: in.spec.App, Kind: kind}
}

func signalName(sig syscall.Signal) string {
	if sig == 0 {
		return ""
	}
	return sig.String()
}
