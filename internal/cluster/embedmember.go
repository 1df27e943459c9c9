package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// member is this node's embedded etcd member. It runs from Open until
// Close, except while the disk guard holds it stopped (DataDir below its
// floor) or after it failed: a listener error stops it until it is
// started again; a fatal error of etcd (a write that failed) leaves it
// failed for the rest of the process, since etcd then holds its files and
// locks in a state only a new process recovers from.
type member struct {
	// config builds the configuration the member is started again with;
	// its data directory holds the member, so etcd ignores the initial
	// cluster settings.
	config func() (*embed.Config, error)

	mu    sync.Mutex  // guards the fields below
	etcd  *embed.Etcd // nil while it does not run
	state memberState
	why   error // why it does not run; nil while it runs
}

// memberState is where a member is in its life.
type memberState int

const (
	memberRunning memberState = iota
	memberStopped             // stopped by the node (space, a listener error); may start again
	memberFailed              // etcd failed fatally or stopped by itself; not started again
	memberClosed              // closed with the node
)

// errEtcdFatal marks a member failed by a fatal error of etcd.
var errEtcdFatal = errors.New("etcd failed")

// startMember starts the embedded etcd with cfg and waits until it has
// joined its cluster and serves clients, or until ctx ends. A member that
// restarts needs a quorum of its cluster running to become ready.
func startMember(ctx context.Context, cfg *embed.Config, again func() (*embed.Config, error)) (*member, error) {
	e, err := launch(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &member{config: again, etcd: e}, nil
}

// launch starts etcd and waits until it is ready. etcd is started in a
// goroutine of its own: a fatal error while it starts ends that
// goroutine (see fatalHook), not the caller's.
func launch(ctx context.Context, cfg *embed.Config) (*embed.Etcd, error) {
	type started struct {
		e   *embed.Etcd
		err error
	}
	ch := make(chan started, 1)
	go func() {
		s := started{err: fmt.Errorf("%w while starting (see the log)", errEtcdFatal)}
		defer func() { ch <- s }() // also when a fatal error ended the goroutine
		s.e, s.err = embed.StartEtcd(cfg)
	}()
	s := <-ch
	if s.err != nil {
		return nil, fmt.Errorf("start etcd: %w", s.err)
	}
	e := s.e
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start etcd: %w", err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, errors.New("start etcd: server stopped before it was ready (see the log)")
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("start etcd: not ready (a restarting member needs a quorum of its cluster running): %w", ctx.Err())
	}
}

// channels returns the running etcd's error channel (a listener failed)
// and the channel closed when its server stops; nil ones when it does not
// run.
func (m *member) channels() (<-chan error, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd == nil {
		return nil, nil
	}
	return m.etcd.Err(), m.etcd.Server.StopNotify()
}

// down returns nil while the member runs, else why it does not.
func (m *member) down() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == memberRunning {
		return nil
	}
	return m.why
}

// current returns the member's state and the running etcd (nil if none).
func (m *member) current() (memberState, *embed.Etcd) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, m.etcd
}

// memberStopTimeout bounds the wait for etcd to stop. A leader hands its
// leadership over first, which takes an election timeout or so.
const memberStopTimeout = 30 * time.Second

// stop closes a running etcd cleanly, recording why; it may be started
// again. It returns false if the member was not running. An etcd that
// does not stop within memberStopTimeout is wedged (a fatal error hit
// it): stop returns an error for the caller to mark the member failed,
// and leaves the goroutine closing it to the end of the process, the
// only thing that can stop it.
func (m *member) stop(why error) (bool, error) {
	m.mu.Lock()
	e := m.etcd
	if m.state != memberRunning || e == nil {
		m.mu.Unlock()
		return false, nil
	}
	m.etcd, m.state, m.why = nil, memberStopped, why
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Close()
	}()
	t := time.NewTimer(memberStopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return true, nil
	case <-t.C:
		return true, fmt.Errorf("%w: it did not stop within %v", errEtcdFatal, memberStopTimeout)
	}
}

// fail marks the member failed and drops the etcd without closing it:
// after a fatal error, closing it would wait forever on the locks the
// failed goroutine held. The process must end for it to start again.
// It reports whether the member was not failed (or closed) before.
func (m *member) fail(why error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == memberClosed || m.state == memberFailed {
		return false
	}
	m.etcd, m.state, m.why = nil, memberFailed, why
	return true
}

// start starts a stopped member again and waits until it is ready or
// ctx ends.
func (m *member) start(ctx context.Context) error {
	m.mu.Lock()
	if m.state != memberStopped {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	cfg, err := m.config()
	if err != nil {
		return err
	}
	e, err := launch(ctx, cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != memberStopped { // closed meanwhile
		e.Close()
		return nil
	}
	m.etcd, m.state, m.why = e, memberRunning, nil
	return nil
}

// close stops the member for good. A failed one is left as it is.
func (m *member) close() {
	m.mu.Lock()
	e := m.etcd
	failed := m.state == memberFailed
	m.etcd, m.state, m.why = nil, memberClosed, errors.New("closed")
	m.mu.Unlock()
	if e != nil && !failed {
		e.Close()
	}
}

// leaderName is the name of the member this member follows, "" when it
// knows no leader or does not run. It asks the server in-process rather
// than through a status call (see recoverStatus).
func (m *member) leaderName() string {
	_, e := m.current()
	if e == nil {
		return ""
	}
	id := e.Server.Leader()
	if id == 0 {
		return ""
	}
	if lm := e.Server.Cluster().Member(id); lm != nil {
		return lm.Name
	}
	return ""
}
