package deploy

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// rstep is one input to a rollout at an offset from t0, and the actions
// it must return, written as by describeRollout.
type rstep struct {
	at   time.Duration
	in   RolloutInput
	want []string
}

func nodeOK(node, runs string) RolloutInput {
	return RolloutInput{Kind: NodeEnded, Node: node, Result: ResultSucceeded, Version: runs, Message: "succeeded: " + runs + " runs"}
}

func nodeBad(node string, r Result, runs, msg string) RolloutInput {
	return RolloutInput{Kind: NodeEnded, Node: node, Result: r, Version: runs, Message: msg}
}

func nodeGone(node string) RolloutInput {
	return RolloutInput{Kind: NodeUnreachable, Node: node, Message: "connection refused"}
}

func rtick() RolloutInput { return RolloutInput{Kind: RolloutTick} }

// describeRollout writes actions compactly: "forward a v2 +release",
// "back b v1", "cancel c", "report zone", "report zone c" (a step and
// the node it concerns), "finish rolled back v1 [c]" (the nodes not
// reached). Messages are checked apart.
func describeRollout(acts []RolloutAction) []string {
	var out []string
	for _, a := range acts {
		switch a.Kind {
		case RollForward:
			s := "forward " + a.Node + " " + a.Version
			if a.ReleasePhase {
				s += " +release"
			}
			out = append(out, s)
		case RollBack:
			out = append(out, "back "+a.Node+" "+a.Version)
		case RollCancel:
			out = append(out, "cancel "+a.Node)
		case RollReport:
			out = append(out, strings.TrimSpace("report "+a.Step+" "+a.Node))
		case RollFinish:
			s := fmt.Sprintf("finish %s %s", a.Result, a.Version)
			if len(a.Unreached) > 0 {
				s += fmt.Sprintf(" %v", a.Unreached)
			}
			out = append(out, s)
		}
	}
	return out
}

// A cluster of five nodes over three zones; node-a coordinates.
var (
	mA  = Member{Name: "node-a", Zone: "a"}
	mA2 = Member{Name: "node-a2", Zone: "a"}
	mB  = Member{Name: "node-b", Zone: "b"}
	mB2 = Member{Name: "node-b2", Zone: "b"}
	mC  = Member{Name: "node-c", Zone: "c"}
)

func rolloutConfig(nodes ...Member) RolloutConfig {
	return RolloutConfig{Kind: KindDeploy, From: "v1", To: "v2", Self: mA, Nodes: nodes, NodeTimeout: time.Minute}
}

func TestRolloutDecisions(t *testing.T) {
	rollbackKind := rolloutConfig(mB)
	rollbackKind.Kind, rollbackKind.From, rollbackKind.To = KindRollback, "v3", "v2"
	tests := []struct {
		name  string
		cfg   RolloutConfig
		start []string
		steps []rstep
		msg   string // the final message
	}{
		{
			name:  "zone order: the coordinator, its own zone, then the others by name; a zone's nodes at once",
			cfg:   rolloutConfig(mC, mB2, mA2, mB),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{2 * time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-a2 v2"}},
				{3 * time.Second, nodeOK("node-a2", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{4 * time.Second, nodeOK("node-b2", "v2"), nil},
				{5 * time.Second, nodeOK("node-b", "v2"), []string{"report zone", "forward node-c v2"}},
				{6 * time.Second, nodeOK("node-c", "v2"), []string{"finish succeeded v2"}},
			},
			msg: "succeeded: v2 runs on node-a, node-a2, node-b, node-b2, node-c (6s)",
		},
		{
			name:  "alone",
			cfg:   rolloutConfig(mA),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{{time.Second, nodeOK("node-a", "v2"), []string{"finish succeeded v2"}}},
			msg:   "succeeded: v2 runs on node-a (1s)",
		},
		{
			name:  "a rollback across the cluster: no release phase anywhere",
			cfg:   rollbackKind,
			start: []string{"report zone", "forward node-a v2"},
			steps: []rstep{
				{time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{2 * time.Second, nodeOK("node-b", "v2"), []string{"finish succeeded v2"}},
			},
			msg: "succeeded: v2 runs on node-a, node-b (2s)",
		},
		{
			name:  "the coordinator fails: nothing else is touched",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{3 * time.Second, nodeBad("node-a", ResultRolledBack, "v1", "rolled back: web-3 did not become healthy within 5s; v1 runs (3s)"), []string{"finish rolled back v1"}},
				{4 * time.Second, nodeOK("node-b", "v2"), nil},
			},
			msg: "rolled back: node-a did not succeed (rolled back: web-3 did not become healthy within 5s; v1 runs (3s)); no other node was changed",
		},
		{
			name:  "the coordinator's release phase fails",
			cfg:   rolloutConfig(mB),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, nodeBad("node-a", ResultFailed, "v1", "failed: release phase failed: exit status 1; v1 runs (1s)"), []string{"finish failed v1"}},
			},
			msg: "failed: node-a did not succeed (failed: release phase failed: exit status 1; v1 runs (1s)); no other node was changed",
		},
		{
			name:  "the coordinator's deploy cannot start",
			cfg:   rolloutConfig(mB),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, RolloutInput{Kind: NodeUnreachable, Node: "node-a", Message: "a deploy is in progress"}, []string{"finish failed v1"}},
			},
			msg: "failed: node-a did not succeed (a deploy is in progress); no other node was changed",
		},
		{
			name:  "a zone fails: the zones done roll back, the last first, the coordinator last",
			cfg:   rolloutConfig(mA2, mB, mB2, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-a2 v2"}},
				{2 * time.Second, nodeOK("node-a2", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{3 * time.Second, nodeBad("node-b", ResultRolledBack, "v1", "rolled back: web-2 crash looping"), nil},
				{4 * time.Second, nodeOK("node-b2", "v2"), []string{"report rollback", "report zone", "back node-b2 v1"}},
				{5 * time.Second, nodeOK("node-b2", "v1"), []string{"report zone", "back node-a2 v1"}},
				{6 * time.Second, nodeOK("node-a2", "v1"), []string{"back node-a v1"}},
				{7 * time.Second, nodeOK("node-a", "v1"), []string{"finish rolled back v1"}},
				{8 * time.Second, nodeOK("node-c", "v2"), nil}, // never asked: ignored
			},
			msg: "rolled back: node-b did not succeed (rolled back: web-2 crash looping); v1 runs on node-a, node-a2, node-b2 again (7s)",
		},
		{
			name:  "the rollback fails too: the others still roll back",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{2 * time.Second, nodeOK("node-b", "v2"), []string{"report zone", "forward node-c v2"}},
				{3 * time.Second, nodeBad("node-c", ResultFailed, "", "deploy web on node-c: a deploy is in progress (HTTP 409)"), []string{"report rollback", "report zone", "back node-b v1"}},
				{4 * time.Second, nodeBad("node-b", ResultFailed, "v1", "failed: rollback to v1 failed"), []string{"back node-a v1"}},
				{5 * time.Second, nodeOK("node-a", "v1"), []string{"finish failed v1"}},
			},
			msg: "failed: node-c did not succeed (deploy web on node-c: a deploy is in progress (HTTP 409)); the rollback to v1 failed too: node-b did not succeed (failed: rollback to v1 failed) (5s)",
		},
		{
			name:  "a node unreachable is no failure: the rollout goes on and names it",
			cfg:   rolloutConfig(mB, mB2, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{time.Second, nodeGone("node-b"), []string{"report zone node-b"}},
				{2 * time.Second, nodeOK("node-b2", "v2"), []string{"report zone", "forward node-c v2"}},
				{3 * time.Second, nodeOK("node-c", "v2"), []string{"finish succeeded v2 [node-b]"}},
			},
			msg: "succeeded: v2 runs on node-a, node-b2, node-c (3s); not reached: node-b (it converges to v2 when it returns)",
		},
		{
			name:  "every other node unreachable: the coordinator's success stands",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{time.Second, nodeGone("node-b"), []string{"report zone node-b", "report zone", "forward node-c v2"}},
				{time.Second, nodeGone("node-c"), []string{"report zone node-c", "finish succeeded v2 [node-b node-c]"}},
			},
			msg: "succeeded: v2 runs on node-a (1s); not reached: node-b, node-c (they converge to v2 when they return)",
		},
		{
			name:  "a node that does not answer in time counts as failed",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Hour, rtick(), nil}, // the coordinator has no deadline here
				{time.Hour, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{time.Hour + 59*time.Second, rtick(), nil},
				{time.Hour + time.Minute, rtick(), []string{"cancel node-b", "report zone node-b", "report rollback", "back node-a v1"}},
				{time.Hour + time.Minute, nodeOK("node-b", "v2"), nil}, // too late: ignored
				{time.Hour + 61*time.Second, nodeOK("node-a", "v1"), []string{"finish rolled back v1"}},
			},
			msg: "rolled back: node-b did not end its deploy within 1m0s; v1 runs on node-a again (1h1m1s)",
		},
		{
			name:  "a node that does not roll back in time: the rollback failed",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{0, nodeOK("node-b", "v2"), []string{"report zone", "forward node-c v2"}},
				{time.Second, nodeBad("node-c", ResultRolledBack, "v1", "rolled back"), []string{"report rollback", "report zone", "back node-b v1"}},
				{time.Minute + time.Second, rtick(), []string{"cancel node-b", "report zone node-b", "back node-a v1"}},
				{time.Minute + 2*time.Second, nodeOK("node-a", "v1"), []string{"finish failed v1"}},
			},
			msg: "failed: node-c did not succeed (rolled back); the rollback to v1 failed too: node-b did not end its rollback within 1m0s (1m2s)",
		},
		{
			name:  "rollback across zones with a node unreachable during it",
			cfg:   rolloutConfig(mB, mB2, mC, Member{Name: "node-d", Zone: "d"}),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{0, nodeOK("node-b", "v2"), nil},
				{0, nodeOK("node-b2", "v2"), []string{"report zone", "forward node-c v2"}},
				{0, nodeOK("node-c", "v2"), []string{"report zone", "forward node-d v2"}},
				{time.Second, nodeBad("node-d", ResultRolledBack, "v1", "rolled back"), []string{"report rollback", "report zone", "back node-c v1"}},
				{2 * time.Second, nodeGone("node-c"), []string{"report zone node-c", "report zone", "back node-b v1", "back node-b2 v1"}},
				{3 * time.Second, nodeOK("node-b2", "v1"), nil},
				{3 * time.Second, nodeOK("node-b", "v1"), []string{"back node-a v1"}},
				{4 * time.Second, nodeOK("node-a", "v1"), []string{"finish rolled back v1 [node-c]"}},
			},
			msg: "rolled back: node-d did not succeed (rolled back); v1 runs on node-a, node-b, node-b2 again (4s); not reached to roll back: node-c, still on v2 (it converges to v1 when it returns)",
		},
		{
			name:  "lock lost mid-zone: the zone's rolls end, nothing more starts",
			cfg:   rolloutConfig(mB, mB2, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{time.Second, RolloutInput{Kind: LockLost}, []string{"report zone"}},
				{time.Second, RolloutInput{Kind: LockLost}, nil},
				{2 * time.Second, nodeOK("node-b", "v2"), nil},
				{3 * time.Second, nodeOK("node-b2", "v2"), []string{"finish interrupted "}},
			},
			msg: "interrupted: lost the cluster-wide deploy lock; nothing more was started, nothing rolled back; v2 runs on node-a, node-b, node-b2; not changed: node-c (3s)",
		},
		{
			name:  "lock lost while a zone fails: no rollback without the lock",
			cfg:   rolloutConfig(mB, mB2, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{time.Second, nodeBad("node-b", ResultRolledBack, "v1", "rolled back"), nil},
				{time.Second, RolloutInput{Kind: LockLost}, []string{"report zone"}},
				{2 * time.Second, nodeGone("node-b2"), []string{"report zone node-b2", "finish interrupted  [node-b2]"}},
			},
			msg: "interrupted: lost the cluster-wide deploy lock; nothing more was started, nothing rolled back; node-b did not succeed (rolled back); v2 runs on node-a; v1 runs on node-b; not changed: node-c (2s); not reached: node-b2 (it converges to the cluster's release when it returns)",
		},
		{
			name:  "lock lost during the rollback: it stops where it is",
			cfg:   rolloutConfig(mB, mC),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{0, nodeOK("node-b", "v2"), []string{"report zone", "forward node-c v2"}},
				{time.Second, nodeBad("node-c", ResultRolledBack, "v1", "rolled back"), []string{"report rollback", "report zone", "back node-b v1"}},
				{time.Second, RolloutInput{Kind: LockLost}, []string{"report zone"}},
				{2 * time.Second, nodeOK("node-b", "v1"), []string{"finish interrupted "}},
			},
			msg: "interrupted: lost the cluster-wide deploy lock; nothing more was started, nothing rolled back; node-c did not succeed (rolled back); v2 runs on node-a; v1 runs on node-b, node-c (2s)",
		},
		{
			name:  "lock lost while the coordinator rolls",
			cfg:   rolloutConfig(mB),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{time.Second, RolloutInput{Kind: LockLost}, []string{"report zone"}},
				{2 * time.Second, nodeOK("node-a", "v2"), []string{"finish interrupted "}},
				{3 * time.Second, RolloutInput{Kind: LockLost}, nil},
			},
			msg: "interrupted: lost the cluster-wide deploy lock; nothing more was started, nothing rolled back; v2 runs on node-a; not changed: node-b (2s)",
		},
		{
			name:  "tandem stops: in-flight calls end, a node that timed out is unknown",
			cfg:   rolloutConfig(mB, mB2),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2", "forward node-b2 v2"}},
				{time.Minute, rtick(), []string{"cancel node-b", "report zone node-b", "cancel node-b2", "report zone node-b2", "report rollback", "back node-a v1"}},
				{time.Minute, RolloutInput{Kind: Stopping}, []string{"report zone"}},
				{time.Minute, nodeBad("node-a", ResultInterrupted, "v1", "interrupted"), []string{"finish interrupted "}},
			},
			msg: "interrupted: tandem stopped during the deploy; nothing more was started, nothing rolled back; " +
				"node-b did not end its deploy within 1m0s; node-b2 did not end its deploy within 1m0s; rolling back: node-a did not succeed (interrupted); " +
				"v1 runs on node-a; unknown what runs on node-b, node-b2 (1m0s)",
		},
		{
			name:  "answers not waited for are ignored",
			cfg:   rolloutConfig(mB),
			start: []string{"report zone", "forward node-a v2 +release"},
			steps: []rstep{
				{0, nodeOK("node-b", "v2"), nil},
				{0, nodeGone("node-b"), nil},
				{0, nodeOK("node-x", "v2"), nil},
				{0, RolloutInput{Kind: 99}, nil},
				{0, nodeOK("node-a", "v2"), []string{"report zone", "forward node-b v2"}},
				{0, nodeOK("node-a", "v2"), nil},
				{0, nodeOK("node-b", ""), []string{"finish succeeded v2"}},
			},
			msg: "succeeded: v2 runs on node-a, node-b (0s)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRollout(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := describeRollout(r.Step(t0, nodeOK("node-a", "v2"))); got != nil {
				t.Fatalf("Step before Start = %q; want nothing", got)
			}
			if got := describeRollout(r.Start(t0)); !slices.Equal(got, tt.start) {
				t.Fatalf("Start() = %q; want %q", got, tt.start)
			}
			var final *RolloutAction
			for i, s := range tt.steps {
				acts := r.Step(t0.Add(s.at), s.in)
				if got := describeRollout(acts); !slices.Equal(got, s.want) {
					t.Fatalf("step %d: Step(+%s, %+v) = %q; want %q", i, s.at, s.in, got, s.want)
				}
				for _, a := range acts {
					if a.Kind == RollFinish {
						final = &a
					}
				}
			}
			if final == nil || !r.Done() {
				t.Fatalf("no RollFinish (Done %v); progress %+v", r.Done(), r.Progress())
			}
			if final.Message != tt.msg {
				t.Errorf("final message\n %q\nwant\n %q", final.Message, tt.msg)
			}
			if p := r.Progress(); p.Phase != PhaseDone || p.Result != final.Result || p.Message != final.Message {
				t.Errorf("Progress() = %+v; want done with the final result and message", p)
			}
		})
	}
}

// TestRolloutReports checks the words of the rollout's own events, which
// the CLI prints as they come.
func TestRolloutReports(t *testing.T) {
	r, err := NewRollout(rolloutConfig(mB, mB2, mC, Member{Name: "node-e"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	collect := func(acts []RolloutAction) {
		for _, a := range acts {
			if a.Kind == RollReport {
				got = append(got, fmt.Sprintf("%s [%s] %s: %s", a.Step, a.Node, a.Version, a.Message))
			}
		}
	}
	collect(r.Start(t0))
	collect(r.Step(t0, nodeOK("node-a", "v2")))
	collect(r.Step(t0, nodeOK("node-e", "v2")))
	collect(r.Step(t0, nodeGone("node-b")))
	collect(r.Step(t0, nodeOK("node-b2", "v2")))
	collect(r.Step(t0, RolloutInput{Kind: NodeEnded, Node: "node-c", Result: ResultRolledBack, Version: "v1", Message: "rolled back: web-9 crash looping"}))
	collect(r.Step(t0, RolloutInput{Kind: LockLost}))
	want := []string{
		`zone [] v2: deploy v1 -> v2 across the cluster: node-a (zone a) first, then zone "" (node-e), then zone b (node-b, node-b2), then zone c (node-c)`,
		`zone [] v2: zone "": deploy node-e`,
		`zone [] v2: zone b: deploy node-b, node-b2`,
		`zone [node-b] : node-b not reached (connection refused); it converges to the cluster's release when it returns`,
		`zone [] v2: zone c: deploy node-c`,
		`rollback [] v1: rolling node-a, node-e, node-b2 back to v1: node-c did not succeed (rolled back: web-9 crash looping)`,
		`zone [] v1: zone b: rolling node-b2 back to v1`,
		`zone [] : lost the cluster-wide deploy lock: starting nothing more, rolling nothing back; waiting for node-b2 to end`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("reports:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRolloutProgressAndDeadline(t *testing.T) {
	r, err := NewRollout(rolloutConfig(mB, mB2, mC))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("NextDeadline before Start: ok = true; want false")
	}
	r.Start(t0)
	if _, ok := r.NextDeadline(); ok {
		t.Fatal("NextDeadline while the coordinator rolls: ok = true; want false (its own deploy bounds it)")
	}
	if p := r.Progress(); p.Phase != PhaseRoll || p.Zone != "a" || !slices.Equal(p.Rolling, []string{"node-a"}) || p.Target != "v2" {
		t.Errorf("Progress() = %+v; want node-a rolling to v2 in zone a", p)
	}
	r.Step(t0.Add(time.Second), nodeOK("node-a", "v2"))
	if d, ok := r.NextDeadline(); !ok || !d.Equal(t0.Add(61*time.Second)) {
		t.Errorf("NextDeadline() = %v, %v; want %v", d, ok, t0.Add(61*time.Second))
	}
	r.Step(t0.Add(2*time.Second), nodeGone("node-b2"))
	p := r.Progress()
	if p.Zone != "b" || !slices.Equal(p.Rolling, []string{"node-b"}) || !slices.Equal(p.Unreached, []string{"node-b2"}) ||
		!maps.Equal(p.Runs, map[string]string{"node-a": "v2"}) || p.Halted != "" {
		t.Errorf("Progress() = %+v; want node-b rolling in zone b, node-b2 unreached, v2 on node-a", p)
	}
	r.Step(t0.Add(3*time.Second), RolloutInput{Kind: LockLost})
	if p := r.Progress(); p.Halted != "lost the cluster-wide deploy lock" || p.Phase != PhaseRoll {
		t.Errorf("Progress() after the lock was lost = %+v; want halted, still rolling", p)
	}
	if _, ok := r.NextDeadline(); !ok {
		t.Error("NextDeadline after the lock was lost: ok = false; want node-b's deadline still kept")
	}
}

func TestNewRolloutRefuses(t *testing.T) {
	ok := rolloutConfig(mB)
	for _, bad := range []func(*RolloutConfig){
		func(c *RolloutConfig) { c.Kind = "restart" },
		func(c *RolloutConfig) { c.From = "" },
		func(c *RolloutConfig) { c.To = "" },
		func(c *RolloutConfig) { c.To = c.From },
		func(c *RolloutConfig) { c.Self.Name = "" },
		func(c *RolloutConfig) { c.NodeTimeout = 0 },
		func(c *RolloutConfig) { c.Nodes = []Member{mB, {Name: "node-b", Zone: "c"}} },
		func(c *RolloutConfig) { c.Nodes = []Member{{Zone: "b"}} },
	} {
		cfg := ok
		bad(&cfg)
		if _, err := NewRollout(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewRollout(%+v) = %v; want ErrBadConfig", cfg, err)
		}
	}
	if _, err := NewRollout(ok); err != nil {
		t.Errorf("NewRollout(%+v) = %v; want no error", ok, err)
	}
}

// TestRolloutRandomAnswers drives rollouts with random answers in random
// order, random lock losses and ticks, and checks what every rollout must
// keep: it ends; at most one zone changes at a time; nothing starts
// after the lock is lost; it rolls back only after a failure and never
// after the lock is lost; a rollout that rolled back asked every node it
// rolled forward to roll back, Self last; it succeeds exactly when no
// node failed.
func TestRolloutRandomAnswers(t *testing.T) {
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 11))
		var nodes []Member
		for i := range rng.IntN(7) {
			nodes = append(nodes, Member{Name: fmt.Sprintf("n%d", i), Zone: fmt.Sprintf("z%d", rng.IntN(3))})
		}
		if err := simulateRollout(rng, rolloutConfig(nodes...)); err != nil {
			t.Fatalf("seed %d, nodes %v: %v", seed, nodes, err)
		}
	}
}

// simulateRollout plays the driver and the nodes.
func simulateRollout(rng *rand.Rand, cfg RolloutConfig) error {
	r, err := NewRollout(cfg)
	if err != nil {
		return err
	}
	now := t0
	var pending []RolloutInput // answers owed
	var final *RolloutAction
	halted, anyFailed := false, false
	var forwardOK, backs []string
	zoneOf := map[string]string{cfg.Self.Name: cfg.Self.Zone}
	for _, m := range cfg.Nodes {
		zoneOf[m.Name] = m.Zone
	}
	inFlight := map[string]bool{}
	apply := func(acts []RolloutAction) error {
		for _, a := range acts {
			switch a.Kind {
			case RollForward, RollBack:
				if halted {
					return fmt.Errorf("%v after the lock was lost", describeRollout([]RolloutAction{a}))
				}
				if a.Kind == RollBack && !anyFailed {
					return fmt.Errorf("rolls %s back though no node failed", a.Node)
				}
				if a.Kind == RollBack {
					backs = append(backs, a.Node)
				}
				inFlight[a.Node] = true
				pending = append(pending, answer(rng, a))
			case RollCancel:
				delete(inFlight, a.Node)
				anyFailed = true
			case RollFinish:
				final = &a
			}
		}
		zones := map[string]bool{}
		for n := range inFlight {
			zones[zoneOf[n]] = true
		}
		if len(zones) > 1 {
			return fmt.Errorf("nodes of %d zones roll at once: %v", len(zones), inFlight)
		}
		return nil
	}
	if err := apply(r.Start(now)); err != nil {
		return err
	}
	for steps := 0; final == nil; steps++ {
		if steps > 1000 {
			return fmt.Errorf("no end after 1000 steps; progress %+v", r.Progress())
		}
		var in RolloutInput
		switch x := rng.IntN(20); {
		case x == 0:
			in = RolloutInput{Kind: LockLost}
			halted = true
		case x == 1 || len(pending) == 0:
			now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
			in = rtick()
			if len(pending) == 0 {
				now = now.Add(time.Hour)
			}
		default:
			i := rng.IntN(len(pending))
			in = pending[i]
			pending = slices.Delete(pending, i, i+1)
			if !inFlight[in.Node] { // given up on already
				if acts := r.Step(now, in); len(acts) > 0 {
					return fmt.Errorf("a late answer %+v led to %v", in, describeRollout(acts))
				}
				continue
			}
			delete(inFlight, in.Node)
			if in.Kind == NodeEnded && in.Result != ResultSucceeded {
				anyFailed = true
			}
			if in.Kind == NodeEnded && in.Result == ResultSucceeded && in.Version == cfg.To {
				forwardOK = append(forwardOK, in.Node)
			}
		}
		if err := apply(r.Step(now, in)); err != nil {
			return err
		}
	}
	switch {
	case final.Result == ResultSucceeded && (anyFailed || halted):
		return fmt.Errorf("succeeded though a node failed (%v) or the lock was lost (%v): %s", anyFailed, halted, final.Message)
	case final.Result == ResultRolledBack && len(backs) == 0:
		if len(forwardOK) > 0 {
			return fmt.Errorf("rolled back without asking a node, after %v rolled forward", forwardOK)
		}
	case final.Result == ResultRolledBack:
		if !slices.Equal(slices.Sorted(slices.Values(backs)), slices.Sorted(slices.Values(forwardOK))) || backs[len(backs)-1] != cfg.Self.Name {
			return fmt.Errorf("rolled back %v; rolled forward %v; want the same nodes, %s last", backs, forwardOK, cfg.Self.Name)
		}
	case final.Result == ResultInterrupted && !halted:
		return fmt.Errorf("interrupted though the lock was kept: %s", final.Message)
	}
	return nil
}

// answer is a node's random answer to a: mostly success.
func answer(rng *rand.Rand, a RolloutAction) RolloutInput {
	switch x := rng.IntN(10); {
	case x == 0:
		return nodeBad(a.Node, ResultRolledBack, "", "rolled back")
	case x == 1:
		return nodeGone(a.Node)
	case x == 2:
		return nodeBad(a.Node, ResultFailed, "", "failed")
	}
	return nodeOK(a.Node, a.Version)
}
