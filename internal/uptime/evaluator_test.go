package uptime

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

const interval = 10 * time.Second

// verdicts reads "a:down b:up c:unknown@-40s" as the verdicts of check
// "home" at now: node:state, reported at now or the given offset from it.
func verdicts(t *testing.T, now time.Time, spec string) []Verdict {
	t.Helper()
	var vs []Verdict
	for _, f := range strings.Fields(spec) {
		node, rest, _ := strings.Cut(f, ":")
		state, off, _ := strings.Cut(rest, "@")
		v := Verdict{Check: "home", Node: node, At: now}
		if err := v.State.UnmarshalText([]byte(state)); err != nil {
			t.Fatal(err)
		}
		if off != "" {
			d, err := time.ParseDuration(off)
			if err != nil {
				t.Fatal(err)
			}
			v.At = now.Add(d)
		}
		vs = append(vs, v)
	}
	return vs
}

// describe summarises actions as "alert up->down", "renotify", joined by ", ".
func describe(actions []Action) string {
	var out []string
	for _, a := range actions {
		switch a := a.(type) {
		case *Alert:
			out = append(out, fmt.Sprintf("alert %v->%v", a.From, a.To))
		case *Renotify:
			out = append(out, "renotify")
		}
	}
	return strings.Join(out, ", ")
}

type evalStep struct {
	v    string // verdicts, see verdicts
	want string // actions, see describe
	// state is the cluster state after the step.
	state State
}

func TestEvaluatorQuorum(t *testing.T) {
	tests := []struct {
		name  string
		steps []evalStep // one per interval
	}{
		{"one node: first up raises nothing", []evalStep{
			{"a:unknown", "", Unknown}, {"a:up", "", Up}, {"a:up", "", Up}}},
		{"one node: down, then recovery", []evalStep{
			{"a:up", "", Up}, {"a:down", "alert up->down", Down}, {"a:down", "", Down}, {"a:up", "alert down->up", Up}}},
		{"one node: down from the start", []evalStep{
			{"a:unknown", "", Unknown}, {"a:down", "alert unknown->down", Down}, {"a:up", "alert down->up", Up}}},
		{"one node: no verdicts keep the state", []evalStep{
			{"a:up", "", Up}, {"", "", Up}, {"a:down", "alert up->down", Down}, {"", "", Down}}},
		{"two nodes: a split decides nothing", []evalStep{
			{"a:down b:up", "", Unknown}, {"a:up b:up", "", Up}, {"a:down b:up", "", Up}, {"a:down b:down", "alert up->down", Down},
			{"a:up b:down", "", Down}, {"a:up b:up", "alert down->up", Up}}},
		{"two nodes: a silent node is left out", []evalStep{
			{"a:up b:up", "", Up}, {"a:down b:up@-30s", "", Up}, {"a:down b:up@-31s", "alert up->down", Down}}},
		{"three nodes: one bad network raises nothing", []evalStep{
			{"a:up b:up c:up", "", Up}, {"a:down b:up c:up", "", Up}, {"a:down b:up c:up", "", Up}, {"a:up b:up c:up", "", Up}}},
		{"three nodes: two down is down", []evalStep{
			{"a:up b:up c:up", "", Up}, {"a:down b:up c:up", "", Up}, {"a:down b:down c:up", "alert up->down", Down},
			{"a:down b:down c:down", "", Down}, {"a:up b:down c:down", "", Down}, {"a:up b:up c:down", "alert down->up", Up}}},
		{"three nodes: unknown nodes count but do not decide", []evalStep{
			{"a:down b:unknown c:unknown", "", Unknown}, {"a:down b:down c:unknown", "alert unknown->down", Down},
			{"a:up b:unknown c:unknown", "", Down}, {"a:up b:up c:unknown", "alert down->up", Up}}},
		{"three nodes: one up, one down, one unknown keeps the state", []evalStep{
			{"a:up b:up c:up", "", Up}, {"a:up b:down c:unknown", "", Up}}},
		{"three nodes: a dead node leaves a quorum of two", []evalStep{
			{"a:up b:up c:up", "", Up}, {"a:down b:up c:up@-40s", "", Up}, {"a:down b:down c:up@-50s", "alert up->down", Down}}},
		{"three nodes: flapping verdicts out of phase", []evalStep{
			{"a:up b:up c:up", "", Up}, {"a:down b:up c:up", "", Up}, {"a:up b:down c:up", "", Up}, {"a:up b:up c:down", "", Up},
			{"a:down b:up c:up", "", Up}}},
		{"other checks are ignored", []evalStep{
			{"a:up", "", Up}}},
		{"future verdicts (clock skew) count", []evalStep{
			{"a:up@+2s", "", Up}, {"a:down@+2s", "alert up->down", Down}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEvaluator("home", interval, time.Hour)
			for i, s := range tt.steps {
				now := t0.Add(time.Duration(i) * interval)
				vs := verdicts(t, now, s.v)
				vs = append(vs, Verdict{Check: "other", Node: "a", State: Down, At: now}, Verdict{Check: "other", Node: "z", State: Down, At: now})
				got := describe(e.Step(now, vs))
				if state, _ := e.State(); got != s.want || state != s.state {
					t.Fatalf("step %d: Step(%q) = %q, state %v; want %q, state %v", i, s.v, got, state, s.want, s.state)
				}
			}
		})
	}
}

func TestEvaluatorAlertFields(t *testing.T) {
	e := NewEvaluator("home", interval, time.Hour)
	e.Step(t0, verdicts(t, t0, "a:up b:up c:up"))
	if st, since := e.State(); st != Up || !since.Equal(t0) {
		t.Fatalf("State() = %v, %v; want up since %v", st, since, t0)
	}
	now := t0.Add(5 * time.Minute)
	vs := verdicts(t, now, "a:down b:down c:up d:down@-1h")
	vs[0].Error = "connection refused"
	acts := e.Step(now, vs)
	if len(acts) != 1 {
		t.Fatalf("Step = %q; want one alert", describe(acts))
	}
	a := acts[0].(*Alert)
	if a.Check != "home" || a.From != Up || a.To != Down || !a.Since.Equal(now) || !a.FromSince.Equal(t0) {
		t.Errorf("alert = %+v; want home up->down since %v, up since %v", a, now, t0)
	}
	if len(a.Nodes) != 3 || a.Nodes["a"].Error != "connection refused" || a.Nodes["c"].State != Up {
		t.Errorf("alert nodes = %+v; want a, b and c (d is stale) with a's error", a.Nodes)
	}
}

func TestEvaluatorRenotify(t *testing.T) {
	tests := []struct {
		renotify time.Duration
		down     time.Duration // how long the check stays down, stepped every interval
		want     int           // Renotify actions
	}{
		{time.Hour, 59 * time.Minute, 0},
		{time.Hour, time.Hour, 1},
		{time.Hour, 3*time.Hour + 30*time.Minute, 3},
		{0, 5 * time.Hour, 0},
		{time.Minute, 10 * time.Minute, 10},
	}
	for _, tt := range tests {
		e := NewEvaluator("home", interval, tt.renotify)
		e.Step(t0, verdicts(t, t0, "a:up"))
		down := t0.Add(interval)
		var renotified []time.Time
		for now := down; !now.After(down.Add(tt.down)); now = now.Add(interval) {
			for _, a := range e.Step(now, verdicts(t, now, "a:down")) {
				if r, ok := a.(*Renotify); ok {
					if !r.Since.Equal(down) || !r.At.Equal(now) || r.Nodes["a"].State != Down {
						t.Errorf("renotify = %+v; want since %v at %v with a's verdict", r, down, now)
					}
					renotified = append(renotified, now)
				}
			}
		}
		if len(renotified) != tt.want {
			t.Errorf("renotify %s, down %s: %d renotifications (%v); want %d", tt.renotify, tt.down, len(renotified), renotified, tt.want)
		}
		for i, at := range renotified {
			if want := down.Add(time.Duration(i+1) * tt.renotify); !at.Equal(want) {
				t.Errorf("renotify %s: renotification %d at %v; want %v", tt.renotify, i, at, want)
			}
		}
	}
}

func TestEvaluatorRenotifyRestartsAfterRecovery(t *testing.T) {
	e := NewEvaluator("home", interval, time.Minute)
	var got []string
	step := func(at time.Duration, state string) {
		now := t0.Add(at)
		if d := describe(e.Step(now, verdicts(t, now, "a:"+state))); d != "" {
			got = append(got, fmt.Sprintf("%s %s", at, d))
		}
	}
	step(0, "down")               // down: alert
	step(50*time.Second, "up")    // recovery before a minute
	step(60*time.Second, "down")  // down again: alert, and a new minute
	step(110*time.Second, "down") // 50s into the new down: nothing
	step(120*time.Second, "down") // a minute: renotify
	want := "0s alert unknown->down; 50s alert down->up; 1m0s alert up->down; 2m0s renotify"
	if s := strings.Join(got, "; "); s != want {
		t.Errorf("actions = %q; want %q", s, want)
	}
}
