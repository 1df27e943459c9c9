package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Errors returned by Supervisor and Instance methods, wrapped.
var (
	// ErrClosed: the Supervisor's Run has ended (or is ending).
	ErrClosed = errors.New("supervisor closed")
	// ErrExists: an instance with that name has not stopped yet.
	ErrExists = errors.New("instance already exists")
	// ErrStopped: the instance is stopping or has stopped.
	ErrStopped = errors.New("instance stopped")
)

// Options configure a Supervisor.
type Options struct {
	// Logger receives the supervisor's log lines and the instances'
	// output; nil discards them.
	Logger *slog.Logger
	// CgroupParent is the cgroup below which each Supervisor run makes its
	// own directory with one cgroup per instance, as a path relative to
	// the root of each cgroup hierarchy (such as "tandem.slice" or
	// "system.slice/tandem.service/apps"). "" means auto:
	// "tandem.slice" below the cgroup v2 root, and "tandem.slice" below
	// tandem's own cgroup in the cgroup v1 memory hierarchy. On cgroup v2
	// every cgroup from the root down must be able to hand the memory
	// controller to its children, so tandem itself must not run in one of
	// them (under systemd: Delegate=yes with DelegateSubgroup=, and the
	// parent next to that subgroup); otherwise limits are not enforced and
	// the log says why.
	CgroupParent string
	// KeeperPath, if not "", is the tandem binary, which Run starts as
	// `KeeperPath KeeperArg` to be the keeper: a small process that
	// SIGKILLs every instance's processes, descendants included, when
	// tandem dies, however it dies (see KeeperMain). "" means no keeper:
	// then each instance's own process gets SIGKILL as parent-death signal
	// and nothing else dies with tandem until the next Supervisor removes
	// the cgroups left behind. Handover needs a keeper.
	KeeperPath string
	// Adopt, if not nil, is the Handover of a Supervisor that ran in this
	// process before it exec'd the current program: New creates its
	// instances (Instances lists them at once) and Run takes over their
	// processes, cgroups and keeper instead of starting anew. KeeperPath
	// must be set.
	Adopt *Handover
	// OnEvent, if not nil, is called for every Event. It is called from
	// the instance's goroutine, without locks held, in the order the
	// events happen for that instance (events of different instances may
	// interleave). It must return quickly: until it does, that instance
	// is not restarted or stopped. It may call Status and Restart, but
	// must not wait for Stop of the instance it is told about.
	OnEvent func(Event)

	// cgroupFS and procFS replace /sys/fs/cgroup and /proc in tests.
	cgroupFS, procFS string
}

// phase is where a Supervisor is in its life.
type phase int

const (
	phaseNew      phase = iota
	phaseStarting       // Run sets up cgroups, the keeper and the spawner
	phaseRunning        // Start works
	phaseClosing        // Run stops the instances
	phaseDone           // Run has returned
)

// Supervisor runs instances as supervised processes; see the package
// documentation. Create it with New, run it with Run, add instances with
// Start.
type Supervisor struct {
	opts  Options
	log   *slog.Logger
	ready chan struct{} // closed when Run has set up or has ended
	done  chan struct{} // closed when Run has returned
	// handoverReq takes Handover's requests; Run answers on the channel.
	handoverReq chan chan handoverResult
	// wg counts the instances' goroutines; Add is called under mu while
	// phase is phaseRunning, so that Run's Wait sees every Add.
	wg sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	phase     phase
	cg        *cgroups      // set before ready is closed
	spawner   *spawner      // set before ready is closed
	keeper    *keeperClient // set before ready is closed; nil: none
	instances map[string]*Instance
	seq       int             // counts processes started; names their cgroups
	warned    map[string]bool // apps whose unenforced memory limit was logged
}

// New returns a Supervisor. It starts nothing; see Run.
func New(opts Options) (*Supervisor, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.cgroupFS == "" {
		opts.cgroupFS = "/sys/fs/cgroup"
	}
	if opts.procFS == "" {
		opts.procFS = "/proc"
	}
	if strings.Contains("/"+opts.CgroupParent+"/", "/../") {
		return nil, fmt.Errorf("new supervisor: cgroup parent %q: must not contain ..", opts.CgroupParent)
	}
	s := &Supervisor{
		opts:        opts,
		log:         log,
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
		handoverReq: make(chan chan handoverResult),
		instances:   make(map[string]*Instance),
		warned:      make(map[string]bool),
	}
	if opts.Adopt != nil {
		if err := s.adopt(opts.Adopt); err != nil {
			return nil, fmt.Errorf("new supervisor: %w", err)
		}
	}
	return s, nil
}

// Run sets up cgroups (removing those of a previous tandem that is gone),
// the keeper and the spawner thread, or takes over those of Options.Adopt,
// then supervises the instances until ctx ends. Then it stops every
// instance (stop signal, grace, SIGKILL) and returns once every process is
// reaped and every goroutine it started has exited. It returns nil after a
// shutdown by ctx or a Handover, and an error if the keeper cannot be
// started. It may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.phase != phaseNew {
		s.mu.Unlock()
		return errors.New("run supervisor: already run")
	}
	s.phase = phaseStarting
	s.mu.Unlock()
	defer close(s.done)

	cg, keeper, err := s.setUp()
	if err != nil {
		s.mu.Lock()
		s.phase = phaseDone
		s.mu.Unlock()
		close(s.ready)
		return fmt.Errorf("run supervisor: %w", err)
	}
	sp := newSpawner()
	go sp.run()

	s.mu.Lock()
	s.cg, s.spawner, s.keeper, s.phase = cg, sp, keeper, phaseRunning
	adopted := make([]*Instance, 0, len(s.instances))
	for _, in := range s.instances {
		s.prepareLocked(in)
		adopted = append(adopted, in)
	}
	s.mu.Unlock()
	close(s.ready)
	for _, in := range adopted {
		go in.run(nil)
	}

	for {
		select {
		case <-ctx.Done():
			return s.shutDown(sp, cg, keeper)
		case res := <-s.handoverReq:
			h, err := s.handOver(sp, cg, keeper)
			res <- handoverResult{h, err}
			if err == nil {
				s.mu.Lock()
				s.phase = phaseDone
				s.mu.Unlock()
				return nil
			}
		}
	}
}

// setUp opens the cgroups and starts the keeper, or adopts them.
func (s *Supervisor) setUp() (*cgroups, *keeperClient, error) {
	if h := s.opts.Adopt; h != nil {
		cg := adoptCgroups(h.Cgroups, s.log)
		keeper, err := adoptKeeper(s.opts.KeeperPath, h.Keeper, s.log)
		s.log.Info("supervisor adopted", "instances", len(h.Instances), "cgroup_v2", cg.v2Run, "cgroup_v1_memory", cg.v1Run)
		return cg, keeper, err
	}
	cg := openCgroups(cgroupConfig{fs: s.opts.cgroupFS, proc: s.opts.procFS, parent: s.opts.CgroupParent}, s.log)
	s.log.Info("supervisor started", "cgroup_v2", cg.v2Run, "cgroup_v1_memory", cg.v1Run, "memory_limits", cg.noMemory == "")
	if s.opts.KeeperPath == "" {
		return cg, nil, nil
	}
	keeper, err := startKeeper(s.opts.KeeperPath, s.log)
	if err != nil {
		return nil, nil, errors.Join(err, cg.close())
	}
	return cg, keeper, nil
}

// shutDown stops every instance, then the spawner, the keeper (told that
// nothing is left) and the cgroups.
func (s *Supervisor) shutDown(sp *spawner, cg *cgroups, keeper *keeperClient) error {
	s.mu.Lock()
	s.phase = phaseClosing
	running := make([]*Instance, 0, len(s.instances))
	for _, in := range s.instances {
		running = append(running, in)
	}
	s.mu.Unlock()
	for _, in := range running {
		in.requestStop()
	}
	s.wg.Wait()
	sp.close()
	<-sp.done
	err := errors.Join(keeper.close(), cg.close())

	s.mu.Lock()
	s.phase = phaseDone
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("run supervisor: %w", err)
	}
	return nil
}

// prepareLocked gives in what it needs from Run's set-up and counts its
// goroutine, which the caller starts. s.mu is held, in phaseRunning.
func (s *Supervisor) prepareLocked(in *Instance) {
	in.spawner, in.cg, in.keeper = s.spawner, s.cg, s.keeper
	// With a keeper, children get no parent-death signal. The keeper
	// kills all of an instance when tandem dies, not just the process
	// tandem forked, so the signal adds nothing; and it would kill every
	// instance at a Handover: Linux sends it when the thread that forked
	// the child ends, and execve ends every thread but the one calling it.
	// Without a keeper it is the only thing that kills instances with
	// tandem, so it stays (see spawner for the thread it needs).
	in.so = spawnOptions{pdeathsig: s.keeper == nil}
	s.wg.Add(1)
}

// cgroupName returns a new name for the cgroup of the next process of
// instance name, unique in the run.
func (s *Supervisor) cgroupName(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%d-%.64s", s.seq, unsafeCgroupChars.ReplaceAllString(name, "_"))
}

// Start starts an instance and returns once its first process has been
// started, or with the error why it could not be (then there is no
// instance): start instance web-1: exec "./bin/wiki": no such file or
// directory. Later exits are restarted with back-off until Stop, or until
// Run ends. If Run has not set up yet, Start waits for it; ctx bounds only
// that wait, not the instance's life.
func (s *Supervisor) Start(ctx context.Context, spec Spec) (*Instance, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, err)
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, ctx.Err())
	}
	s.mu.Lock()
	switch {
	case s.phase != phaseRunning:
		s.mu.Unlock()
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, ErrClosed)
	case s.instances[spec.Name] != nil:
		s.mu.Unlock()
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, ErrExists)
	}
	in := newInstance(s, spec)
	s.prepareLocked(in)
	s.instances[spec.Name] = in
	s.mu.Unlock()

	first := make(chan error, 1)
	go in.run(first)
	if err := <-first; err != nil {
		return nil, fmt.Errorf("start instance %s: %w", spec.Name, err)
	}
	return in, nil
}

// Instances returns the instances that have not stopped, by name.
func (s *Supervisor) Instances() []*Instance {
	s.mu.Lock()
	out := make([]*Instance, 0, len(s.instances))
	for _, in := range s.instances {
		out = append(out, in)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b *Instance) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	return out
}

// remove forgets in once it has stopped.
func (s *Supervisor) remove(in *Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instances[in.spec.Name] == in {
		delete(s.instances, in.spec.Name)
	}
}

// warnMemory logs, once per app, that its memory limit is not enforced.
func (s *Supervisor) warnMemory(in *Instance, reason string) {
	s.mu.Lock()
	first := !s.warned[in.spec.App]
	s.warned[in.spec.App] = true
	s.mu.Unlock()
	if first {
		s.log.Warn("memory limit not enforced", "app", in.spec.App, "instance", in.spec.Name,
			"limit", in.spec.MemoryLimit, "reason", reason)
	}
}

// emit calls Options.OnEvent; the caller holds no lock.
func (s *Supervisor) emit(ev Event) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(ev)
	}
}
