package supervise

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Instance is one supervised instance: a process that is restarted when it
// exits, until Stop. Its methods are safe for concurrent use.
type Instance struct {
	sup  *Supervisor
	spec Spec // with defaults
	log  *slog.Logger
	// Set by the Supervisor before the instance's goroutine starts.
	spawner *spawner
	cg      *cgroups
	keeper  *keeperClient // nil: no keeper
	so      spawnOptions

	stopOnce   sync.Once
	stop       chan struct{} // closed by requestStop
	detachOnce sync.Once
	detach     chan struct{} // closed by requestDetach: a handover
	restart    chan string   // a pending Restart's reason; buffer 1
	done       chan struct{} // closed when the instance has stopped for good or was handed over

	// resume is what an adopted instance resumes from; nil for one
	// started by Start. handedOver is set by run, before done is closed,
	// when the instance was handed over.
	resume     *InstanceHandover
	handedOver *InstanceHandover

	mu     sync.Mutex // guards the fields below
	status Status     // without LogTail; see tail
	tail   *logTail
}

var unsafeCgroupChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// newInstance returns an instance that has not started; the Supervisor
// sets its run fields and starts run.
func newInstance(s *Supervisor, spec Spec) *Instance {
	return &Instance{
		sup:     s,
		spec:    spec,
		log:     s.log.With("app", spec.App, "instance", spec.Name),
		stop:    make(chan struct{}),
		detach:  make(chan struct{}),
		restart: make(chan string, 1),
		done:    make(chan struct{}),
		status:  Status{Name: spec.Name, App: spec.App, State: StateStarting},
		tail:    newLogTail(LogTailLines),
	}
}

// Name returns Spec.Name.
func (in *Instance) Name() string { return in.spec.Name }

// Spec returns the instance's spec, with defaults; for an instance
// adopted from a Handover, the spec it was started with, without Output.
func (in *Instance) Spec() Spec {
	sp := in.spec
	sp.Command, sp.Env = slices.Clone(sp.Command), slices.Clone(sp.Env)
	return sp
}

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
// good, by Stop or because the Supervisor's Run ended, or when it was
// handed over (see Supervisor.Handover): this Supervisor no longer runs it.
func (in *Instance) Done() <-chan struct{} { return in.done }

func (in *Instance) requestStop() { in.stopOnce.Do(func() { close(in.stop) }) }

func (in *Instance) requestDetach() { in.detachOnce.Do(func() { close(in.detach) }) }

func (in *Instance) detaching() bool {
	select {
	case <-in.detach:
		return true
	default:
		return false
	}
}

func (in *Instance) stopping() bool {
	select {
	case <-in.stop:
		return true
	default:
		return false
	}
}

// run is the instance's goroutine, owned by the Supervisor. It reports the
// first start's error on first (nil for an adopted instance); if that is
// not nil, it has cleaned up and there is no instance.
func (in *Instance) run(first chan<- error) {
	defer in.sup.wg.Done()
	defer close(in.done)
	h, err := in.loop(first)
	if h != nil {
		in.handedOver = h
		in.log.Info("instance handed over", "pid", in.Status().PID)
		return
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

// loop starts the process again and again until the instance is stopped
// or handed over. It returns the first start's error, or the state to
// hand over, or neither once stopped.
func (in *Instance) loop(first chan<- error) (*InstanceHandover, error) {
	policy := &restartPolicy{
		min: in.spec.MinBackoff, max: in.spec.MaxBackoff,
		stableAfter: in.spec.StableAfter, jitter: rand.Float64,
	}
	p, stop, delay := in.resumed(policy)
	for {
		if p == nil {
			if delay > 0 {
				left, woke := in.sleep(delay)
				switch woke {
				case wokeStop:
					return nil, nil
				case wokeDetach:
					return in.handoverState(nil, policy, left, stop), nil
				}
			}
			// The first start is neither stopped nor handed over: Start
			// waits for it.
			if first == nil && in.stopping() {
				return nil, nil
			}
			if first == nil && in.detaching() {
				return in.handoverState(nil, policy, 0, stop), nil
			}
			var err error
			p, err = in.start(first == nil)
			if first != nil {
				if err != nil {
					return nil, err
				}
				first <- nil
				first = nil
			}
			if err != nil {
				ex := in.startFailed(err)
				if in.stopping() || in.spec.Once {
					return nil, nil
				}
				delay = in.scheduleRestart(policy, ex.Uptime)
				continue
			}
		}
		if in.supervise(p, policy, &stop) {
			return in.handoverState(p, policy, 0, stop), nil
		}
		ex := in.exited(p, stop.requested)
		p, stop = nil, stopState{}
		switch {
		case in.stopping(), in.spec.Once:
			return nil, nil
		case ex.Requested:
			delay = 0 // Restart: start again at once
			continue
		}
		delay = in.scheduleRestart(policy, ex.Uptime)
	}
}

// start makes a new cgroup for the next process, tells the keeper about
// it, and starts the process in it. restart counts it as a restart.
func (in *Instance) start(restart bool) (*process, error) {
	in.update(func(st *Status) {
		st.State = StateStarting
		if restart {
			st.Restarts++
		}
	})
	id := in.sup.cgroupName(in.spec.Name)
	ic, reason := in.cg.newInstance(id, in.spec.MemoryLimit)
	in.update(func(st *Status) { st.MemoryLimitEnforced = in.spec.MemoryLimit > 0 && reason == "" })
	if reason != "" {
		in.sup.warnMemory(in, reason)
	}
	// Told before the fork: whatever runs in the cgroup is known to the
	// keeper even if tandem dies right after.
	if ic != nil {
		in.keeper.add(keeperMsg{ID: id, Cgroups: ic.dirs()})
	}
	p, err := startProcess(in.spawner, &in.spec, ic, in.so, in.output)
	ic.closeFD()
	if err != nil {
		in.keeper.del(id)
		if rmErr := ic.remove(); rmErr != nil {
			in.log.Error("remove instance cgroup", "err", rmErr)
		}
		return nil, err
	}
	// The process group too: where the process joined its cgroups only
	// after the fork, a child forked first is found through it.
	p.id = id
	in.keeper.add(keeperMsg{ID: id, PGID: p.pid, Cgroups: ic.dirs()})
	in.started(p)
	return p, nil
}

// scheduleRestart records an exit after uptime and returns the back-off.
func (in *Instance) scheduleRestart(policy *restartPolicy, uptime time.Duration) time.Duration {
	delay, crashLoop := policy.exited(uptime)
	in.backoff(delay, crashLoop)
	return delay
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

// exited reaps p after its exit, records how it ended and removes its
// cgroup.
func (in *Instance) exited(p *process, requested bool) Exit {
	state, err := p.reap(func() { in.keeper.del(p.id) })
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
	ooms := oomKills(p.cg, ex.Signal)
	if err := p.cg.remove(); err != nil {
		in.log.Error("remove instance cgroup", "err", err)
	}
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

// oomKills returns how many processes of the instance the OOM killer
// killed in the process's cgroup. Where the kernel does not count OOM kills
// (v1 before Linux 4.13), a hit limit followed by SIGKILL counts as one.
func oomKills(ic *instanceCgroup, sig syscall.Signal) int {
	after, ok := ic.counters()
	switch {
	case !ok:
		return 0
	case after.hasOOMKills:
		return int(max(0, after.oomKills))
	case after.failcnt > 0 && sig == syscall.SIGKILL:
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
