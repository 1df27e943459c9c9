package supervise

import "time"

// stopState is whether the process was asked to stop (by Stop or Restart)
// and when its grace ends.
type stopState struct {
	requested bool
	graceEnds time.Time
}

// supervise waits until process p exits, sending the stop signal when Stop
// or Restart asks for it, and SIGKILL when the grace is over. It updates
// stop; it returns true when the Supervisor hands the instance over
// before p exits.
func (in *Instance) supervise(p *process, policy *restartPolicy, stop *stopState) (detached bool) {
	stable := time.NewTimer(max(0, in.spec.StableAfter-time.Since(p.started)))
	defer stable.Stop()
	grace := time.NewTimer(time.Until(stop.graceEnds))
	if !stop.requested {
		grace.Stop() // started by the first stop or restart request
	}
	defer grace.Stop()
	var graceC <-chan time.Time
	stopC, restartC := in.stop, in.restart
	if stop.requested {
		graceC, stopC, restartC = grace.C, nil, nil
	}
	for {
		select {
		case <-p.exited:
			return false
		case <-in.detach:
			return true
		case <-stopC:
			stopC = nil
		case reason := <-restartC:
			restartC = nil
			in.log.Info("instance restart requested", "reason", reason, "pid", p.pid)
		case <-graceC:
			graceC = nil
			in.log.Warn("instance did not stop within grace; killing it", "pid", p.pid, "grace", in.spec.StopGrace)
			if err := p.kill(); err != nil {
				in.log.Error("kill instance", "pid", p.pid, "err", err)
			}
			continue
		case <-stable.C:
			policy.stable()
			in.update(func(st *Status) { st.CrashLoop = false })
			continue
		}
		if !stop.requested {
			stop.requested, stop.graceEnds = true, time.Now().Add(in.spec.StopGrace)
			stopC, restartC = nil, nil
			in.update(func(st *Status) { st.State = StateStopping })
			if err := p.signal(in.spec.StopSignal); err != nil {
				in.log.Warn("signal instance", "pid", p.pid, "signal", in.spec.StopSignal, "err", err)
			}
			grace.Reset(in.spec.StopGrace)
			graceC = grace.C
		}
	}
}

// woke says why sleep returned.
type woke int

const (
	wokeTimer  woke = iota // the delay passed, or Restart asked
	wokeStop               // Stop asked
	wokeDetach             // the Supervisor hands the instance over
)

// sleep waits d, or less if Restart, Stop or a handover asks. left is
// what was left of d.
func (in *Instance) sleep(d time.Duration) (left time.Duration, why woke) {
	end := time.Now().Add(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, wokeTimer
	case reason := <-in.restart:
		in.log.Info("instance restart requested", "reason", reason)
		return 0, wokeTimer
	case <-in.stop:
		return 0, wokeStop
	case <-in.detach:
		return max(0, time.Until(end)), wokeDetach
	}
}
