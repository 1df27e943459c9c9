package supervise

import "runtime"

// spawner runs the forks of a Supervisor on one dedicated OS thread, for
// two reasons.
//
// On cgroup v1 the thread joins an instance's cgroup for each fork (see
// instanceCgroup.enterV1), so only a thread that runs nothing else may do
// it. Go never creates a thread from one that is locked to its goroutine
// (it asks a template thread), so no runtime thread is born there either.
//
// Without a keeper, children get Pdeathsig=SIGKILL so that they die with
// tandem. Linux sends Pdeathsig when the *thread* that forked the child
// exits, not when the process does (golang/go#27505). A goroutine may run
// on any thread, and Go ends the thread of a goroutine that exits while
// locked to it (runtime.LockOSThread), so a child forked from an arbitrary
// goroutine could be killed while tandem still runs. The spawner's
// goroutine locks itself to its thread and never unlocks: the thread lives
// exactly as long as Supervisor.Run, which reaps every child (or hands it
// over) before it lets the thread go.
type spawner struct {
	reqs chan func()   // work to run on the thread; closed by close
	done chan struct{} // closed when the thread has been released
}

func newSpawner() *spawner {
	return &spawner{reqs: make(chan func()), done: make(chan struct{})}
}

// run serves do until close is called. The caller owns the goroutine.
func (s *spawner) run() {
	defer close(s.done)
	// Not unlocked on purpose: the thread exits with this goroutine.
	runtime.LockOSThread()
	for fn := range s.reqs {
		fn()
	}
}

// do runs fn on the spawner's thread and returns when fn has returned.
// It must not be called after close.
func (s *spawner) do(fn func()) {
	ran := make(chan struct{})
	s.reqs <- func() {
		defer close(ran)
		fn()
	}
	<-ran
}

// close ends run once the pending do calls are served.
func (s *spawner) close() { close(s.reqs) }
