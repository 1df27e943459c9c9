package admin

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeDeployer streams three events for a deploy and refuses the rest.
type fakeDeployer struct{ Deployer }

func (fakeDeployer) Deploy(ctx context.Context, app string, req DeployRequest) (DeployWatch, error) {
	switch app {
	case "busy":
		return nil, Errorf(ErrConflict, "a deploy of %s is in progress", app)
	case "web":
	default:
		return nil, Errorf(ErrNotFound, "no app %q", app)
	}
	evs := []DeployEvent{{Step: "begin", Message: "deploy v1 -> v2"}, {Step: "start", Instance: "web-4"}, {Step: "done", Result: "succeeded"}}
	changed := make(chan struct{})
	return func(from int) ([]DeployEvent, bool, <-chan struct{}) {
		if from >= len(evs) {
			return nil, true, changed
		}
		return evs[from:], true, changed
	}, nil
}

func startTestServer(t *testing.T, opts Options) *Client {
	t.Helper()
	ts := startAuthServer(t, opts)
	return ts.client(ts.root)
}

func TestDeployStreamAndErrors(t *testing.T) {
	c := startTestServer(t, Options{Deploys: fakeDeployer{}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var steps []string
	last, err := c.Deploy(ctx, "web", DeployRequest{Who: "t"}, func(ev DeployEvent) { steps = append(steps, ev.Step) })
	if err != nil || last.Result != "succeeded" || len(steps) != 3 {
		t.Fatalf("Deploy(web) = %+v, %v, steps %q; want 3 events ending succeeded", last, err, steps)
	}
	for app, want := range map[string]error{"busy": ErrConflict, "nope": ErrNotFound} {
		_, err := c.Deploy(ctx, app, DeployRequest{}, nil)
		if !errors.Is(err, want) {
			t.Errorf("Deploy(%s) = %v; want %v", app, err, want)
		}
	}
	if _, err := c.RunJob(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RunJob without jobs = %v; want ErrNotFound", err)
	}
}

// TestJobChanges: a plan names the jobs a stack file adds, removes or
// changes, which only a restart applies.
func TestJobChanges(t *testing.T) {
	running := map[string]JobSpec{
		"report": {Schedule: "0 6 * * *", Command: []string{"bin/report"}, Timeout: time.Hour, Overlap: "skip"},
		"vacuum": {Schedule: "@daily", Command: []string{"bin/vacuum"}},
		"pack":   {Schedule: "@weekly", Command: []string{"bin/pack"}},
	}
	file := map[string]JobSpec{
		"report": {Schedule: "0 7 * * *", Command: []string{"bin/report"}, Timeout: time.Hour, Overlap: "skip"},
		"vacuum": {Schedule: "@daily", Command: []string{"bin/vacuum"}},
		"mail":   {Schedule: "@hourly", Command: []string{"bin/mail"}},
	}
	got := jobChanges(running, file)
	want := []string{"job mail added", "job report changed", "job pack removed"}
	if !slices.Equal(got, want) {
		t.Errorf("jobChanges = %q; want %q", got, want)
	}
	if got := jobChanges(running, running); len(got) != 0 {
		t.Errorf("jobChanges of the same jobs = %q; want none", got)
	}
}
