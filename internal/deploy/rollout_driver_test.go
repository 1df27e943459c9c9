package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// peerBehaviour is how a fake node answers a roll.
type peerBehaviour int

const (
	peerSucceeds    peerBehaviour = iota // succeeds after the roll time
	peerRollsBack                        // its own deploy rolls back after the roll time
	peerUnreachable                      // the request never gets there
	peerRefuses                          // it answers with an error at once (HTTP 409)
	peerHangs                            // it never ends its roll
)

// fakePeers plays the other nodes: each roll takes take, and ends as the
// node's behaviour for that kind of roll says. Here a fake is right: it
// makes a node fail, hang or be unreachable on demand.
type fakePeers struct {
	take time.Duration
	// slowCancel is how long a call takes to return once its context
	// ends, as a connection slow to close would.
	slowCancel time.Duration
	deploy     map[string]peerBehaviour // node -> how its deploy ends; succeeds if absent
	rollback   map[string]peerBehaviour

	mu     sync.Mutex // guards the fields below
	calls  []string   // "deploy node-b v2", "rollback node-b v1", in call order
	active map[string]string
	mixed  []string // zones rolling at once, when more than one was
}

func newFakePeers() *fakePeers {
	return &fakePeers{take: 3 * time.Second, deploy: map[string]peerBehaviour{}, rollback: map[string]peerBehaviour{}, active: map[string]string{}}
}

func (p *fakePeers) Deploy(ctx context.Context, node Member, rel Release, onEvent func(Event)) (Event, error) {
	return p.roll(ctx, node, KindDeploy, rel.Version, p.deploy[node.Name], onEvent)
}

func (p *fakePeers) Rollback(ctx context.Context, node Member, version string, onEvent func(Event)) (Event, error) {
	return p.roll(ctx, node, KindRollback, version, p.rollback[node.Name], onEvent)
}

func (p *fakePeers) roll(ctx context.Context, node Member, op, version string, b peerBehaviour, onEvent func(Event)) (Event, error) {
	p.enter(node, op+" "+node.Name+" "+version)
	defer p.leave(node)
	switch b {
	case peerUnreachable:
		return Event{}, fmt.Errorf("%s web on %s: dial tcp %s: connect: connection refused: %w", op, node.Name, node.Addr, ErrUnreachable)
	case peerRefuses:
		return Event{}, fmt.Errorf("%s web on %s: a deploy of v0 -> v9 is in progress (HTTP 409)", op, node.Name)
	}
	onEvent(Event{Time: time.Now(), Step: StepBegin, Version: version, Message: op + " -> " + version})
	var ends <-chan time.Time
	if b != peerHangs {
		ends = time.After(p.take)
	}
	select {
	case <-ends:
	case <-ctx.Done():
		time.Sleep(p.slowCancel)
		return Event{}, fmt.Errorf("%s web on %s: %w", op, node.Name, ctx.Err())
	}
	last := Event{Time: time.Now(), Step: StepDone, Version: version, Result: ResultSucceeded, Message: "succeeded: " + version + " runs (3s)"}
	if b == peerRollsBack {
		last.Version, last.Result, last.Message = "v1", ResultRolledBack, "rolled back: web-3 did not become healthy within 5s; v1 runs (5s)"
	}
	onEvent(last)
	return last, nil
}

func (p *fakePeers) enter(node Member, call string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call)
	p.active[node.Name] = node.Zone
	for _, z := range p.active {
		if z != node.Zone {
			p.mixed = append(p.mixed, call)
		}
	}
}

func (p *fakePeers) leave(node Member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, node.Name)
}

func (p *fakePeers) state() (calls []string, active int, mixed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls), len(p.active), slices.Clone(p.mixed)
}

// fakeLocal is the coordinator's own deploys: real Drivers over a
// fakeRuntime, run by the fake as the node runs them.
type fakeLocal struct {
	t        *testing.T
	ctx      context.Context // the node's lifetime, not the rollout's
	bad      string          // a version whose instances never become healthy
	startErr error           // what starting a deploy returns
	wg       sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	current string
	calls   []string
	drivers []*Driver
}

func (l *fakeLocal) Deploy(rel Release, releasePhase bool) (EventLog, error) {
	call := "deploy " + rel.Version
	if releasePhase {
		call += " +release"
	}
	return l.start(call, rel, KindDeploy, releasePhase)
}

func (l *fakeLocal) Rollback(version string) (EventLog, error) {
	return l.start("rollback "+version, Release{Version: version}, KindRollback, false)
}

func (l *fakeLocal) start(call string, to Release, kind string, releasePhase bool) (EventLog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call)
	if l.startErr != nil {
		return nil, l.startErr
	}
	f := newFakeRuntime(l.t, "web-1", "web-2")
	f.bad = l.bad
	d, err := NewDriver(DriverOptions{From: Release{Version: l.current}, To: to, Old: []string{"web-1", "web-2"}, Want: 2, Surge: 1,
		Startup: 5 * time.Second, Drain: time.Second, ReleasePhase: releasePhase, Record: Record{Kind: kind, Who: "tester"}, Runtime: f})
	if err != nil {
		return nil, err
	}
	f.d = d
	l.current = to.Version
	l.drivers = append(l.drivers, d)
	l.wg.Go(func() {
		d.Run(l.ctx)
		f.wg.Wait()
	})
	return d, nil
}

func (l *fakeLocal) state() (calls []string, drivers []*Driver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls), slices.Clone(l.drivers)
}

// rolloutTest is a rollout of v2 over node-a (zone a, coordinating),
// node-b (zone b), node-c and node-c2 (zone c), with fakes that let the
// test change how each node answers.
type rolloutTest struct {
	t     *testing.T
	peers *fakePeers
	local *fakeLocal
	lost  chan struct{}
	opts  RolloutOptions
	// finished records Finish's outcome and whether the last event was
	// published already when it was called.
	finished  *RolloutOutcome
	doneEarly bool
}

func newRolloutTest(t *testing.T) *rolloutTest {
	rt := &rolloutTest{t: t, peers: newFakePeers(), local: &fakeLocal{t: t, ctx: t.Context(), current: "v1"}, lost: make(chan struct{})}
	rt.opts = RolloutOptions{
		Kind: KindDeploy, From: "v1", To: Release{Version: "v2", ReleaseCommand: []string{"migrate"}},
		Self:        Member{Name: "node-a", Zone: "a", Addr: "10.0.0.1:7946"},
		Nodes:       []Member{{Name: "node-c2", Zone: "c", Addr: "10.0.0.4:7946"}, {Name: "node-b", Zone: "b", Addr: "10.0.0.2:7946"}, {Name: "node-c", Zone: "c", Addr: "10.0.0.3:7946"}},
		NodeTimeout: time.Minute, Local: rt.local, Peers: rt.peers, LockLost: rt.lost,
	}
	return rt
}

// run runs the rollout to its end, followed by a watcher, and checks what
// every run must keep: Run returns only once every call it made has
// returned, Finish is called once before the last event is published,
// no two zones roll at once, the watcher sees every event.
func (rt *rolloutTest) run(ctx context.Context) (*RolloutDriver, RolloutOutcome) {
	rt.t.Helper()
	var d *RolloutDriver
	rt.opts.Finish = func(o RolloutOutcome) {
		if rt.finished != nil {
			rt.t.Errorf("Finish called twice: %+v, then %+v", *rt.finished, o)
		}
		rt.finished = &o
		_, rt.doneEarly, _ = d.Events(0)
	}
	d, err := NewRolloutDriver(rt.opts)
	if err != nil {
		rt.t.Fatal(err)
	}
	var seen []Event
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			evs, done, changed := d.Events(len(seen))
			seen = append(seen, evs...)
			if done {
				return
			}
			<-changed
		}
	})
	out := d.Run(ctx)
	watcher.Wait()
	if _, active, mixed := rt.peers.state(); active > 0 || len(mixed) > 0 {
		rt.t.Errorf("after Run: %d calls to other nodes still running, zones rolling at once at %q; want none", active, mixed)
	}
	if rt.finished == nil || rt.doneEarly || !equalOutcomes(*rt.finished, out) {
		rt.t.Errorf("Finish got %+v (last event published already: %v); want %+v before the last event", rt.finished, rt.doneEarly, out)
	}
	evs, done, _ := d.Events(0)
	if len(seen) != len(evs) {
		rt.t.Errorf("the watcher saw %d events; want all %d", len(seen), len(evs))
	}
	if last := evs[len(evs)-1]; !done || last.Step != StepDone || last.Node != "" || last.Result != out.Result || last.Message != out.Message {
		rt.t.Errorf("last event %+v (done %v); want the rollout's own done event with %s", last, done, out.Result)
	}
	rt.local.wg.Wait()
	return d, out
}

func equalOutcomes(a, b RolloutOutcome) bool {
	return a.Result == b.Result && a.Version == b.Version && a.Message == b.Message && slices.Equal(a.Unreached, b.Unreached)
}

// outline writes a rollout's events compactly: the rollout's own steps
// as "zone" or "rollback", a node's first and last events as
// "node-b:begin" and "node-b:done"; the events in between are left out.
func outline(evs []Event) string {
	var out []string
	for _, ev := range evs {
		switch {
		case ev.Node == "":
			out = append(out, ev.Step)
		case ev.Step == StepBegin || ev.Step == StepDone:
			out = append(out, ev.Node+":"+ev.Step)
		case ev.Step == StepZone:
			out = append(out, "zone:"+ev.Node)
		}
	}
	return strings.Join(out, " ")
}

// without leaves node's events out.
func without(evs []Event, node string) []Event {
	return slices.DeleteFunc(slices.Clone(evs), func(ev Event) bool { return ev.Node == node })
}

func TestRolloutDriverSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		begin := time.Now()
		d, out := rt.run(t.Context())
		if out.Result != ResultSucceeded || out.Version != "v2" || len(out.Unreached) != 0 {
			t.Fatalf("Run() = %+v; want succeeded with v2 everywhere", out)
		}
		// node-a: a 0.5s release phase, two gates of 1s, a 0.2s drain;
		// then zone b and zone c, 3s each.
		if took, want := time.Since(begin), 8700*time.Millisecond; took != want {
			t.Errorf("rollout took %s; want %s", took, want)
		}
		if want := "succeeded: v2 runs on node-a, node-b, node-c, node-c2 (8.7s)"; out.Message != want {
			t.Errorf("message %q; want %q", out.Message, want)
		}
		evs, _, _ := d.Events(0)
		// node-c and node-c2 roll at once: their events interleave.
		for _, c := range []string{"node-c", "node-c2"} {
			other := map[string]string{"node-c": "node-c2", "node-c2": "node-c"}[c]
			want := "zone node-a:begin node-a:done zone node-b:begin node-b:done zone " + c + ":begin " + c + ":done done"
			if got := outline(without(evs, other)); got != want {
				t.Errorf("events but %s's: %s\nwant: %s", other, got, want)
			}
		}
		// Every event of the coordinator's own deploy is relayed, in
		// order, marked with its name and without its result.
		_, drivers := rt.local.state()
		own, _, _ := drivers[0].Events(0)
		var relayed []Event
		for _, ev := range evs {
			if ev.Result != "" && ev.Node != "" {
				t.Errorf("relayed event %+v has a result; only the rollout's last event has one", ev)
			}
			if ev.Node == "node-a" {
				ev.Node = ""
				relayed = append(relayed, ev)
			}
		}
		if len(relayed) != len(own) {
			t.Fatalf("relayed %d events of node-a's own deploy; want its %d", len(relayed), len(own))
		}
		for i := range own {
			own[i].Result = ""
			if relayed[i] != own[i] {
				t.Errorf("relayed event %d = %+v; want %+v", i, relayed[i], own[i])
			}
		}
		calls, _ := rt.local.state()
		peerCalls, _, _ := rt.peers.state()
		slices.Sort(peerCalls[1:]) // node-c and node-c2 roll at once
		if !slices.Equal(calls, []string{"deploy v2 +release"}) || !slices.Equal(peerCalls, []string{"deploy node-b v2", "deploy node-c v2", "deploy node-c2 v2"}) {
			t.Errorf("calls: local %q, peers %q; want the release phase on node-a alone, then the zones in order", calls, peerCalls)
		}
		if p := d.Progress(); p.Phase != PhaseDone || p.Result != ResultSucceeded || p.Runs["node-c2"] != "v2" {
			t.Errorf("Progress() = %+v; want done, v2 on node-c2", p)
		}
	})
}

// TestRolloutDriverUnreachableIsNotFailed: a node not reached is named
// and left to converge; a node that refuses fails the rollout, which
// rolls back the nodes reached.
func TestRolloutDriverUnreachableIsNotFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.peers.deploy["node-b"] = peerUnreachable
		_, out := rt.run(t.Context())
		want := "succeeded: v2 runs on node-a, node-c, node-c2 (5.7s); not reached: node-b (it converges to v2 when it returns)"
		if out.Result != ResultSucceeded || out.Message != want || !slices.Equal(out.Unreached, []string{"node-b"}) {
			t.Errorf("Run() = %+v; want succeeded: %s", out, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.peers.deploy["node-b"] = peerUnreachable
		rt.peers.deploy["node-c"] = peerRefuses
		rt.peers.rollback["node-c2"] = peerUnreachable
		d, out := rt.run(t.Context())
		want := "rolled back: node-c did not succeed (deploy web on node-c: a deploy of v0 -> v9 is in progress (HTTP 409)); v1 runs on node-a again (7.9s); " +
			"not reached: node-b; not reached to roll back: node-c2, still on v2 (they converge to v1 when they return)"
		if out.Result != ResultRolledBack || out.Version != "v1" || out.Message != want || !slices.Equal(out.Unreached, []string{"node-b", "node-c2"}) {
			t.Errorf("Run() = %+v; want rolled back: %s", out, want)
		}
		calls, _ := rt.local.state()
		peerCalls, _, _ := rt.peers.state()
		slices.Sort(peerCalls[1:3])
		if !slices.Equal(calls, []string{"deploy v2 +release", "rollback v1"}) ||
			!slices.Equal(peerCalls, []string{"deploy node-b v2", "deploy node-c v2", "deploy node-c2 v2", "rollback node-c2 v1"}) {
			t.Errorf("calls: local %q, peers %q; want node-c2 asked to roll back, then node-a", calls, peerCalls)
		}
		evs, _, _ := d.Events(0)
		if got, want := outline(evs), "zone node-a:begin node-a:done zone zone:node-b zone node-c2:begin node-c2:done rollback zone zone:node-c2 node-a:begin node-a:done done"; got != want {
			t.Errorf("events: %s\nwant: %s", got, want)
		}
	})
}

// TestRolloutDriverNodeHangs: a node that never ends its roll is given
// up on after the node timeout: its call is cancelled and the rollout
// rolls back; Run returns only once that call has returned too.
func TestRolloutDriverNodeHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.peers.deploy["node-b"] = peerHangs
		rt.peers.slowCancel = 10 * time.Second
		begin := time.Now()
		_, out := rt.run(t.Context())
		want := "rolled back: node-b did not end its deploy within 1m0s; v1 runs on node-a again (1m4.9s)"
		if out.Result != ResultRolledBack || out.Message != want {
			t.Errorf("Run() = %+v; want %s", out, want)
		}
		// 2.7s for node-a, a minute for node-b, then 2.2s for node-a's
		// rollback while node-b's call takes 10s to return.
		if took := time.Since(begin); took != 72700*time.Millisecond {
			t.Errorf("Run returned after %s; want 1m12.7s, when the call given up on returned", took)
		}
	})
}

// TestRolloutDriverLockLost: once the lock is lost the rolls in flight
// end, nothing more starts, nothing rolls back, and the result says so.
func TestRolloutDriverLockLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.peers.deploy["node-b"] = peerRollsBack // it would roll node-a back, with the lock
		time.AfterFunc(4*time.Second, func() { close(rt.lost) })
		d, out := rt.run(t.Context())
		want := "interrupted: lost the cluster-wide deploy lock; nothing more was started, nothing rolled back; " +
			"node-b did not succeed (rolled back: web-3 did not become healthy within 5s; v1 runs (5s)); " +
			"v2 runs on node-a; v1 runs on node-b; not changed: node-c, node-c2 (5.7s)"
		if out.Result != ResultInterrupted || out.Message != want {
			t.Errorf("Run() = %+v; want %s", out, want)
		}
		calls, _ := rt.local.state()
		peerCalls, _, _ := rt.peers.state()
		if !slices.Equal(calls, []string{"deploy v2 +release"}) || !slices.Equal(peerCalls, []string{"deploy node-b v2"}) {
			t.Errorf("calls: local %q, peers %q; want node-a's deploy and node-b's, nothing after", calls, peerCalls)
		}
		evs, _, _ := d.Events(0)
		if got, want := outline(evs), "zone node-a:begin node-a:done zone node-b:begin zone node-b:done done"; got != want {
			t.Errorf("events: %s\nwant: %s", got, want)
		}
	})
}

// TestRolloutDriverStopped: when its context ends the rollout cancels
// the calls in flight and ends interrupted, without a rollback.
func TestRolloutDriverStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.peers.deploy["node-c"] = peerHangs
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		begin := time.Now()
		_, out := rt.run(ctx)
		if took := time.Since(begin); took != 10*time.Second {
			t.Errorf("Run returned after %s; want 10s, when its context ended", took)
		}
		want := "interrupted: tandem stopped during the deploy; nothing more was started, nothing rolled back; " +
			"node-c did not succeed (deploy web on node-c: context deadline exceeded); v2 runs on node-a, node-b, node-c2; unknown what runs on node-c (10s)"
		if out.Result != ResultInterrupted || out.Message != want {
			t.Errorf("Run() = %+v; want %s", out, want)
		}
	})
}

// TestRolloutDriverLocalFails: the coordinator's own deploy decides
// alone when it fails — to start, or to become healthy.
func TestRolloutDriverLocalFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.local.startErr = errors.New("deploy web: a deploy of v1 -> v9 by ann is in progress")
		rt.opts.Finish = func(RolloutOutcome) {}
		d, err := NewRolloutDriver(rt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); !errors.Is(err, rt.local.startErr) {
			t.Fatalf("Start() = %v; want the local deploy's error", err)
		}
		if evs, done, _ := d.Events(0); outline(evs) != "zone" || done {
			t.Errorf("events after Start: %s (done %v); want the plan alone", outline(evs), done)
		}
		out := d.Run(t.Context())
		if want := "failed: node-a did not succeed (deploy web: a deploy of v1 -> v9 by ann is in progress); no other node was changed"; out.Result != ResultFailed || out.Message != want {
			t.Errorf("Run() after a failed Start = %+v; want %s", out, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		rt := newRolloutTest(t)
		rt.local.bad = "v2"
		_, out := rt.run(t.Context())
		want := "rolled back: node-a did not succeed (rolled back: web-4 did not become healthy within 5s (last check: connection refused); v1 runs (5.7s)); no other node was changed"
		if out.Result != ResultRolledBack || out.Version != "v1" || out.Message != want {
			t.Errorf("Run() = %+v; want %s", out, want)
		}
		if peerCalls, _, _ := rt.peers.state(); len(peerCalls) > 0 {
			t.Errorf("peers asked %q; want no other node touched", peerCalls)
		}
	})
}

func TestNewRolloutDriverRefuses(t *testing.T) {
	rt := newRolloutTest(t)
	opts := rt.opts
	opts.Peers = nil
	if _, err := NewRolloutDriver(opts); err == nil {
		t.Error("NewRolloutDriver without Peers: no error")
	}
	opts = rt.opts
	opts.NodeTimeout = 0
	if _, err := NewRolloutDriver(opts); !errors.Is(err, ErrBadConfig) {
		t.Errorf("NewRolloutDriver with no node timeout = %v; want ErrBadConfig", err)
	}
}
