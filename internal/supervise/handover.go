package supervise

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// handoverVersion is the version of the Handover format this package
// writes; New refuses to adopt another.
const handoverVersion = 1

// ErrNoKeeper: Handover needs a keeper (Options.KeeperPath). Without one,
// instances carry a parent-death signal and would die with the exec.
var ErrNoKeeper = errors.New("supervisor has no keeper")

// Handover describes what a Supervisor hands to the next one in the same
// process, across an execve of a new tandem binary: the instances'
// processes (which stay children of the process, since execve keeps its
// pid), their cgroups, output pipes and restart state, and the keeper.
// Marshal it with encoding/json; apart from FDs it is opaque to callers.
// It holds the instances' environments: keep it private.
type Handover struct {
	Version   int                `json:"version"`
	Seq       int                `json:"seq"` // names cgroups; continued by the next Supervisor
	Cgroups   CgroupsHandover    `json:"cgroups"`
	Keeper    KeeperHandover     `json:"keeper"`
	Instances []InstanceHandover `json:"instances"`
}

// InstanceHandover is one instance in a Handover.
type InstanceHandover struct {
	Spec   Spec   `json:"spec"` // Output is not handed over
	Status Status `json:"status"`
	// Failures is the restart policy's count of short-lived exits.
	Failures int `json:"failures"`
	// Stopped: Stop was called; the instance finishes stopping and is not
	// started again.
	Stopped bool `json:"stopped,omitempty"`
	// Restart and RestartReason: a Restart was asked for and not served.
	Restart       bool   `json:"restart,omitempty"`
	RestartReason string `json:"restart_reason,omitempty"`
	// Backoff is, without Process, how long until the instance is started.
	Backoff time.Duration `json:"backoff,omitempty"`
	// Process is the running process; nil during a back-off.
	Process *ProcessHandover `json:"process,omitempty"`
}

// ProcessHandover is an instance's running process in a Handover.
type ProcessHandover struct {
	ID      string         `json:"id"` // its name for the keeper
	PID     int            `json:"pid"`
	Started time.Time      `json:"started"`
	Cgroup  CgroupHandover `json:"cgroup"`
	// Stdout and Stderr are the read ends of its output pipes, inherited
	// across exec.
	Stdout int `json:"stdout"`
	Stderr int `json:"stderr"`
	// StopRequested: it got the stop signal; GraceEnds is when it gets
	// SIGKILL.
	StopRequested bool      `json:"stop_requested,omitempty"`
	GraceEnds     time.Time `json:"grace_ends,omitzero"`
}

// FDs returns the descriptors h holds: they must stay open, at the same
// numbers, in the process that adopts h. Handover has cleared their
// close-on-exec flag.
func (h *Handover) FDs() []int {
	var fds []int
	if h.Keeper.PID != 0 {
		fds = append(fds, h.Keeper.FD)
	}
	for _, in := range h.Instances {
		if in.Process != nil {
			fds = append(fds, in.Process.Stdout, in.Process.Stderr)
		}
	}
	return fds
}

// handoverResult is what Run answers a Handover with.
type handoverResult struct {
	h   *Handover
	err error
}

// Handover stops supervising without stopping any process, ends Run (which
// returns nil) and returns the description of every instance for the
// Supervisor that the next program run by this process creates with
// Options.Adopt. The descriptors it lists in FDs are no longer
// close-on-exec: call execve at once, since a process forked meanwhile
// would inherit them. An instance being stopped or restarted is handed
// over as it is; the next Supervisor finishes that. Handover waits for
// Run's set-up; it returns once every instance's goroutine has let go,
// which takes at most a start or a reap in progress (bounded by the kill
// timeout and the output drain). It fails with ErrNoKeeper without a
// keeper, and with ErrClosed once Run has ended; then nothing is handed
// over and Run goes on.
func (s *Supervisor) Handover() (*Handover, error) {
	if s.opts.KeeperPath == "" {
		return nil, fmt.Errorf("hand over: %w", ErrNoKeeper)
	}
	<-s.ready
	s.mu.Lock()
	if s.phase != phaseRunning {
		s.mu.Unlock()
		return nil, fmt.Errorf("hand over: %w", ErrClosed)
	}
	s.mu.Unlock()
	res := make(chan handoverResult, 1)
	select {
	case s.handoverReq <- res:
	case <-s.done:
		return nil, fmt.Errorf("hand over: %w", ErrClosed)
	}
	r := <-res
	if r.err != nil {
		return nil, fmt.Errorf("hand over: %w", r.err)
	}
	return r.h, nil
}

// handOver is Run's part of Handover: it detaches the keeper and every
// instance. If the keeper cannot be handed over, nothing is, and Run goes
// on.
func (s *Supervisor) handOver(sp *spawner, cg *cgroups, keeper *keeperClient) (h *Handover, err error) {
	var running []*Instance
	kh, err := keeper.handover(func() {
		s.mu.Lock()
		s.phase = phaseClosing
		for _, in := range s.instances {
			running = append(running, in)
		}
		clear(s.instances) // this Supervisor runs none of them any more
		s.mu.Unlock()
		for _, in := range running {
			in.requestDetach()
		}
		s.wg.Wait()
	})
	if err != nil {
		return nil, err
	}
	sp.close()
	<-sp.done

	h = &Handover{Version: handoverVersion, Seq: s.seq, Cgroups: cg.handover(), Keeper: kh}
	slices.SortFunc(running, func(a, b *Instance) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	for _, in := range running {
		if in.handedOver != nil {
			h.Instances = append(h.Instances, *in.handedOver)
		}
	}
	for _, fd := range h.FDs() {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			s.log.Error("clear close-on-exec", "fd", fd, "err", err)
		}
	}
	s.log.Info("supervisor handed over", "instances", len(h.Instances), "keeper", kh.PID)
	return h, nil
}

// handoverState returns what to hand over of the instance, with process p
// (nil: none runs) and back-off left.
func (in *Instance) handoverState(p *process, policy *restartPolicy, backoff time.Duration, stop stopState) *InstanceHandover {
	h := &InstanceHandover{Spec: in.spec, Failures: policy.failures, Stopped: in.stopping(), Backoff: backoff}
	select {
	case reason := <-in.restart:
		h.Restart, h.RestartReason = true, reason
	default:
	}
	if p != nil {
		stdout, stderr, err := p.detach()
		if err == nil {
			h.Process = &ProcessHandover{
				ID: p.id, PID: p.pid, Started: p.started, Cgroup: p.cg.handover(),
				Stdout: stdout, Stderr: stderr, StopRequested: stop.requested, GraceEnds: stop.graceEnds,
			}
		} else {
			// Without its output pipes the process cannot be handed over:
			// it is stopped, and the next Supervisor starts a new one.
			in.log.Error("hand over instance; killing its process", "pid", p.pid, "err", err)
			in.discard(p.pid, p.id, p.cg)
			in.update(func(st *Status) { st.State, st.PID = StateBackoff, 0 })
		}
	}
	h.Status = in.Status()
	return h
}

// discard kills and reaps process pid, a child that cannot be supervised,
// with its cgroup.
func (in *Instance) discard(pid int, id string, ic *instanceCgroup) {
	_ = syscall.Kill(-pid, syscall.SIGKILL) // a child: its group id is not reused
	if err := ic.remove(); err != nil {
		in.log.Error("remove instance cgroup", "err", err)
	}
	in.keeper.del(id)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// resumed returns, for an adopted instance, its process (nil: none runs),
// the state of a stop in progress and the back-off left; for others nil,
// no stop and no back-off.
func (in *Instance) resumed(policy *restartPolicy) (*process, stopState, time.Duration) {
	r := in.resume
	if r == nil {
		return nil, stopState{}, 0
	}
	policy.failures = r.Failures
	if r.Stopped {
		in.requestStop()
	}
	if r.Restart {
		in.restart <- r.RestartReason // empty: nothing else sends yet
	}
	if r.Process == nil {
		return nil, stopState{}, r.Backoff
	}
	rp := r.Process
	ic := in.cg.adoptCgroup(rp.Cgroup)
	p, err := adoptProcess(rp.PID, rp.Started, ic, rp.Stdout, rp.Stderr)
	if err != nil {
		in.log.Error("adopt instance; starting it afresh", "pid", rp.PID, "err", err)
		in.discard(rp.PID, rp.ID, ic)
		return nil, stopState{}, 0
	}
	p.id = rp.ID
	p.read(in.output)
	in.log.Info("instance adopted", "pid", p.pid)
	return p, stopState{requested: rp.StopRequested, graceEnds: rp.GraceEnds}, 0
}

// adopt checks h, made by a Supervisor of this process before an exec, and
// creates its instances; Run starts them.
func (s *Supervisor) adopt(h *Handover) error {
	switch {
	case h.Version != handoverVersion:
		return fmt.Errorf("adopt: version %d: want %d", h.Version, handoverVersion)
	case s.opts.KeeperPath == "":
		return errors.New("adopt: keeper path: must be set to take over the keeper")
	case h.Keeper.PID != 0 && !isChild(h.Keeper.PID):
		return fmt.Errorf("adopt: keeper %d: not a child of this process", h.Keeper.PID)
	}
	for i := range h.Instances {
		r := h.Instances[i]
		spec, err := r.Spec.withDefaults()
		switch {
		case err != nil:
			return fmt.Errorf("adopt instance %s: %w", r.Spec.Name, err)
		case s.instances[spec.Name] != nil:
			return fmt.Errorf("adopt instance %s: %w", spec.Name, ErrExists)
		case r.Process != nil && !isChild(r.Process.PID):
			// Its pid may be reused: never signal it.
			return fmt.Errorf("adopt instance %s: process %d: not a child of this process", spec.Name, r.Process.PID)
		}
		in := newInstance(s, spec)
		in.resume = &r
		in.status = r.Status
		in.status.LogTail = nil
		for _, line := range r.Status.LogTail {
			in.tail.add(line)
		}
		s.instances[spec.Name] = in
	}
	s.seq = h.Seq
	return nil
}
