package deploy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one input to a machine at an offset from t0, and the actions it
// must return, written as by describe.
type step struct {
	at   time.Duration
	in   Input
	want []string
}

func started(v, name string) Input { return Input{Kind: InputStarted, Version: v, Instance: name} }
func healthyIn(name string) Input  { return Input{Kind: InputHealthy, Instance: name} }
func retired(name string) Input    { return Input{Kind: InputRetired, Instance: name} }
func tick() Input                  { return Input{Kind: InputTick} }

// describe writes actions compactly: "start v2", "retire web-1",
// "release v2", "finish succeeded v2", "finish rolled back v1: reason".
func describe(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a.Kind {
		case ActRunRelease:
			out = append(out, "release "+a.Version)
		case ActStart:
			out = append(out, "start "+a.Version)
		case ActRetire:
			out = append(out, "retire "+a.Instance)
		case ActFinish:
			s := fmt.Sprintf("finish %s %s", a.Result, a.Version)
			if a.Reason != "" {
				s += ": " + a.Reason
			}
			out = append(out, s)
		}
	}
	return out
}

func TestMachineTransitions(t *testing.T) {
	three := Config{From: "v1", To: "v2", Old: []string{"web-1", "web-2", "web-3"}, Want: 3, Surge: 1, Startup: 10 * time.Second}
	withRelease := three
	withRelease.ReleasePhase = true
	surge2 := three
	surge2.Surge = 2
	tests := []struct {
		name  string
		cfg   Config
		start []string
		steps []step
	}{
		{
			name:  "rolling start-first, one at a time",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{time.Second, healthyIn("web-4"), []string{"retire web-1", "start v2"}},
				{time.Second, started("v2", "web-5"), nil},
				{2 * time.Second, retired("web-1"), nil},
				{2 * time.Second, healthyIn("web-5"), []string{"retire web-2", "start v2"}},
				{2 * time.Second, started("v2", "web-6"), nil},
				{3 * time.Second, healthyIn("web-6"), []string{"retire web-3"}},
				{3 * time.Second, retired("web-3"), nil},
				{4 * time.Second, retired("web-2"), []string{"finish succeeded v2"}},
			},
		},
		{
			name:  "release phase first",
			cfg:   withRelease,
			start: []string{"release v2"},
			steps: []step{
				{0, healthyIn("web-1"), nil}, // not waited on: ignored
				{time.Second, Input{Kind: InputReleaseDone}, []string{"start v2"}},
			},
		},
		{
			name:  "release phase fails: nothing replaced",
			cfg:   withRelease,
			start: []string{"release v2"},
			steps: []step{
				{time.Second, Input{Kind: InputReleaseDone, Err: "exit code 1"}, []string{"finish failed v1: release phase failed: exit code 1"}},
				{time.Second, started("v2", "web-4"), nil},
			},
		},
		{
			name:  "first instance never healthy: rolled back",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{9 * time.Second, tick(), nil},
				{10 * time.Second, tick(), []string{"retire web-4"}},
				{11 * time.Second, retired("web-4"), []string{"finish rolled back v1: web-4 did not become healthy within 10s"}},
			},
		},
		{
			name:  "second instance never healthy: the replaced one comes back first",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{time.Second, healthyIn("web-4"), []string{"retire web-1", "start v2"}},
				{time.Second, started("v2", "web-5"), nil},
				{2 * time.Second, retired("web-1"), nil},
				{11 * time.Second, tick(), []string{"retire web-5", "start v1"}},
				{11 * time.Second, started("v1", "web-6"), nil},
				{11 * time.Second, retired("web-5"), nil},
				{12 * time.Second, healthyIn("web-6"), []string{"retire web-4"}},
				{13 * time.Second, retired("web-4"), []string{"finish rolled back v1: web-5 did not become healthy within 10s"}},
			},
		},
		{
			name:  "crash loop fails the gate at once",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{time.Second, Input{Kind: InputFailed, Instance: "web-4", Err: "crash looping: exit code 1"}, []string{"retire web-4"}},
				{time.Second, retired("web-4"), []string{"finish rolled back v1: web-4: crash looping: exit code 1"}},
			},
		},
		{
			name:  "start fails",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, Input{Kind: InputStartFailed, Version: "v2", Err: `exec "bin/x": no such file`}, []string{`finish rolled back v1: start an instance of v2: exec "bin/x": no such file`}},
			},
		},
		{
			name:  "surge 2 starts two; a start answered after the rollback began is retired",
			cfg:   surge2,
			start: []string{"start v2", "start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{0, Input{Kind: InputFailed, Instance: "web-4", Err: "crash looping"}, []string{"retire web-4"}},
				{0, started("v2", "web-5"), []string{"retire web-5"}},
				{0, retired("web-4"), nil},
				{0, retired("web-5"), []string{"finish rolled back v1: web-4: crash looping"}},
			},
		},
		{
			name:  "rollback fails too",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-4"), nil},
				{time.Second, healthyIn("web-4"), []string{"retire web-1", "start v2"}},
				{time.Second, started("v2", "web-5"), nil},
				{time.Second, retired("web-1"), nil},
				{11 * time.Second, tick(), []string{"retire web-5", "start v1"}},
				{11 * time.Second, started("v1", "web-6"), nil},
				{11 * time.Second, retired("web-5"), nil},
				{21 * time.Second, tick(), []string{"retire web-6"}},
				{21 * time.Second, retired("web-6"), []string{"finish failed v1: rollback to v1 failed: web-6 did not become healthy within 10s (the deploy of v2 had failed: web-5 did not become healthy within 10s); instances of both releases may be running"}},
			},
		},
		{
			name:  "no instances wanted",
			cfg:   Config{From: "v1", To: "v2", Old: []string{"web-1"}, Want: 0, Surge: 1, Startup: time.Second},
			start: []string{"retire web-1"},
			steps: []step{{0, retired("web-1"), []string{"finish succeeded v2"}}},
		},
		{
			name:  "nothing running, none wanted",
			cfg:   Config{From: "v1", To: "v2", Surge: 1, Startup: time.Second},
			start: []string{"finish succeeded v2"},
		},
		{
			name:  "more wanted than run: no retirement needed for the extra",
			cfg:   Config{From: "v1", To: "v2", Old: []string{"web-1"}, Want: 2, Surge: 1, Startup: time.Second},
			start: []string{"start v2"},
			steps: []step{
				{0, started("v2", "web-2"), nil},
				{0, healthyIn("web-2"), []string{"start v2"}},
				{0, healthyIn("web-2"), nil}, // repeated: ignored
				{0, started("v2", "web-3"), nil},
				{0, healthyIn("web-3"), []string{"retire web-1"}},
				{0, retired("web-1"), []string{"finish succeeded v2"}},
				{0, retired("web-1"), nil},
			},
		},
		{
			name:  "unknown and unasked inputs are ignored",
			cfg:   three,
			start: []string{"start v2"},
			steps: []step{
				{0, started("v9", "web-9"), nil},
				{0, Input{Kind: InputStartFailed, Version: "v9"}, nil},
				{0, retired("web-1"), nil},
				{0, Input{Kind: InputFailed, Instance: "web-1"}, nil},
				{0, Input{Kind: InputReleaseDone, Err: "x"}, nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMachine(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(m.Start(t0)); !slices.Equal(got, tt.start) {
				t.Fatalf("Start() = %q; want %q", got, tt.start)
			}
			for i, s := range tt.steps {
				if got := describe(m.Step(t0.Add(s.at), s.in)); !slices.Equal(got, s.want) {
					t.Fatalf("step %d: Step(+%s, %+v) = %q; want %q", i, s.at, s.in, got, s.want)
				}
			}
		})
	}
}

func TestNewMachineRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{From: "v1", To: "v1", Surge: 1, Startup: time.Second},
		{From: "v1", To: "v2", Surge: 0, Startup: time.Second},
		{From: "v1", To: "v2", Surge: 1, Startup: 0},
		{From: "v1", To: "v2", Surge: 1, Startup: time.Second, Want: -1},
	} {
		if _, err := NewMachine(cfg); err == nil {
			t.Errorf("NewMachine(%+v) = nil error; want ErrBadConfig", cfg)
		}
	}
}

func TestMachineDeadline(t *testing.T) {
	m, _ := NewMachine(Config{From: "v1", To: "v2", Old: []string{"a"}, Want: 1, Surge: 1, Startup: 5 * time.Second})
	if _, ok := m.NextDeadline(); ok {
		t.Fatal("NextDeadline before any start: ok = true; want false")
	}
	m.Start(t0)
	m.Step(t0.Add(time.Second), started("v2", "b"))
	if d, ok := m.NextDeadline(); !ok || !d.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("NextDeadline() = %v, %v; want %v", d, ok, t0.Add(6*time.Second))
	}
	m.Step(t0.Add(2*time.Second), healthyIn("b"))
	if _, ok := m.NextDeadline(); ok {
		t.Fatal("NextDeadline after the gate passed: ok = true; want false")
	}
	if p := m.Progress(); p.Phase != PhaseRoll || p.Ready != 1 || p.Want != 1 || p.Target != "v2" {
		t.Errorf("Progress() = %+v; want roll to v2 with 1/1 ready", p)
	}
}

// TestMachineRandomOrders drives machines with random interleavings of
// the driver's answers and checks the invariants every deploy must keep:
// while no old instance fails, at least Want instances that passed their
// gate and are not retiring serve at every moment; the deploy ends; every
// instance it started is either serving at the end or retired.
func TestMachineRandomOrders(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		want := rng.IntN(5)
		old := make([]string, rng.IntN(5))
		for i := range old {
			old[i] = fmt.Sprintf("old-%d", i)
		}
		cfg := Config{From: "v1", To: "v2", Old: old, Want: want, Surge: 1 + rng.IntN(3), Startup: 10 * time.Second, ReleasePhase: rng.IntN(2) == 0}
		badV2 := rng.IntN(4) == 0 // every new instance of v2 fails its gate
		if err := simulate(t, rng, cfg, badV2); err != nil {
			t.Fatalf("seed %d, config %+v, bad v2 %v: %v", seed, cfg, badV2, err)
		}
	}
}

// simulate plays the driver: actions are answered in random order.
func simulate(t *testing.T, rng *rand.Rand, cfg Config, badV2 bool) error {
	t.Helper()
	m, err := NewMachine(cfg)
	if err != nil {
		return err
	}
	now := t0
	serving := map[string]string{} // instance -> version; healthy and not retiring
	for _, o := range cfg.Old {
		serving[o] = "v1"
	}
	versionOf := map[string]string{}
	for _, o := range cfg.Old {
		versionOf[o] = "v1"
	}
	var pending []Input // answers the driver owes
	var final *Action
	seq := 0
	apply := func(acts []Action) error {
		for _, a := range acts {
			switch a.Kind {
			case ActRunRelease:
				pending = append(pending, Input{Kind: InputReleaseDone})
			case ActStart:
				seq++
				name := fmt.Sprintf("new-%d", seq)
				versionOf[name] = a.Version
				pending = append(pending, started(a.Version, name))
			case ActRetire:
				delete(serving, a.Instance)
				pending = append(pending, retired(a.Instance))
			case ActFinish:
				final = &a
			}
		}
		if final == nil && len(serving) < cfg.Want && len(serving) < len(cfg.Old) {
			return fmt.Errorf("only %d instances serve; want at least %d", len(serving), min(cfg.Want, len(cfg.Old)))
		}
		return nil
	}
	if err := apply(m.Start(now)); err != nil {
		return err
	}
	for steps := 0; final == nil; steps++ {
		if steps > 1000 {
			return fmt.Errorf("no end after 1000 steps; progress %+v", m.Progress())
		}
		if len(pending) == 0 {
			now = now.Add(11 * time.Second)
			if err := apply(m.Step(now, tick())); err != nil {
				return err
			}
			if len(pending) == 0 && final == nil {
				return fmt.Errorf("stuck: nothing pending, no deadline acted on; progress %+v", m.Progress())
			}
			continue
		}
		i := rng.IntN(len(pending))
		in := pending[i]
		pending = slices.Delete(pending, i, i+1)
		now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
		if in.Kind == InputHealthy && m.gatedIndex(in.Instance) >= 0 {
			serving[in.Instance] = versionOf[in.Instance] // the balancer sends it requests from now on
		}
		if err := apply(m.Step(now, in)); err != nil {
			return err
		}
		if in.Kind == InputStarted && !(badV2 && in.Version == "v2") {
			// It passes its gate some time later.
			pending = append(pending, healthyIn(in.Instance))
		}
	}
	for name, v := range serving {
		if v != final.Version {
			return fmt.Errorf("finished %s running %s, but %s runs %s", final.Result, final.Version, name, v)
		}
	}
	if len(serving) != cfg.Want {
		return fmt.Errorf("finished with %d serving; want %d", len(serving), cfg.Want)
	}
	if badV2 && cfg.Want > 0 && final.Result != ResultRolledBack {
		return fmt.Errorf("result %s; want rolled back", final.Result)
	}
	if !badV2 && final.Result != ResultSucceeded {
		return fmt.Errorf("result %s (%s); want succeeded", final.Result, final.Reason)
	}
	if strings.Contains(final.Reason, "rollback") && final.Result != ResultFailed {
		return fmt.Errorf("reason %q with result %s", final.Reason, final.Result)
	}
	return nil
}
