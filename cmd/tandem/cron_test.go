package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

const cronStack = `
cluster: { name: e2e, data_dir: "{{dir}}", zone: a }
edge:
  listen: "{{edge}}"
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
log: { level: debug }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 1
    env: { GREETING: hello }
    health: { path: /healthz, interval: 300ms, timeout: 300ms, rise: 1 }
jobs:
  tick:
    schedule: "@every 1s"
    command: ["/bin/sh", "-c", "echo tick $$TANDEM_JOB $$GREETING"]
    app: web
  slow-skip:
    schedule: "@every 1s"
    command: ["/bin/sh", "-c", "sleep 2.5"]
    overlap: skip
  slow-queue:
    schedule: "@every 1s"
    command: ["/bin/sh", "-c", "sleep 1.5"]
    overlap: queue
  fail:
    schedule: "@every 1s"
    command: ["/bin/sh", "-c", "echo boom >&2; exit 3"]
    timezone: Europe/Berlin
`

// TestCronJobs: an @every 1s job runs every second with its app's release
// environment; overlapping runs are skipped or queued per policy; a failing
// job shows in tandem jobs with its exit code, and in tandem status.
//
// Under load runs start late and take longer, so the test waits until each
// job has done what it must rather than for a fixed time, and judges the
// runs that have ended: a snapshot may hold one run still in progress.
//
// It runs alone, before the parallel tests: it holds the node to starting
// each run within a second of its firing.
func TestCronJobs(t *testing.T) {
	slow(t)
	n := startNode(t, cronStack)
	n.waitFor("1 healthy instance", 20*time.Second, healthy("web", 1))
	byName := n.waitJobs(30*time.Second, func(m map[string]admin.JobStatus) bool {
		return ended(m["tick"]) >= 5 && ended(m["slow-skip"]) >= 2 && m["slow-skip"].Skipped >= 2 &&
			ended(m["slow-queue"]) >= 3 && ended(m["fail"]) >= 4
	})
	checkEvery(t, byName["tick"], "tick tick hello")

	skip := byName["slow-skip"]
	if ran := checkNoOverlap(t, skip); ran < 2 || skip.Skipped < 2 {
		t.Errorf("slow-skip: %d runs, %d skipped; want runs one at a time and the firings in between skipped", ran, skip.Skipped)
	}
	queue := byName["slow-queue"]
	waited := slices.ContainsFunc(queue.History, func(r admin.JobRun) bool { return r.Started.Sub(r.Scheduled) >= time.Second })
	if ran := checkNoOverlap(t, queue); ran < 3 || queue.Skipped != 0 || queue.Queued == 0 || !waited {
		t.Errorf("slow-queue: %d runs, %d skipped, %d queued, a run waited for the one before: %v; want runs back to back, none skipped",
			ran, queue.Skipped, queue.Queued, waited)
	}

	fail := byName["fail"]
	inProgress := 0
	if fail.Running != nil {
		inProgress = 1
	}
	var last admin.JobRun
	for _, r := range fail.History {
		if r.Finished.IsZero() {
			continue
		}
		last = r
		if r.ExitCode != 3 || r.Result != "failed" || !strings.Contains(strings.Join(r.Output, "\n"), "boom") {
			t.Errorf("fail: run %+v; want failed with exit code 3 and its output", r)
		}
	}
	if fail.Failed < 4 || fail.Failed != fail.Runs-inProgress || last.ExitCode != 3 {
		t.Errorf("fail: %d runs (%d in progress), %d failed, last ended %+v; want every run failed with exit code 3",
			fail.Runs, inProgress, fail.Failed, last)
	}
	if fail.Timezone != "Europe/Berlin" {
		t.Errorf("fail: timezone %q; want Europe/Berlin", fail.Timezone)
	}
	// The tables show the last run: poll past a moment when it is running.
	failedRow := regexp.MustCompile(`(?m)^fail +@every 1s .* failed +3 `)
	if table, ok := n.eventually(5*time.Second, func() (string, bool) {
		out, _ := n.cli("jobs")
		return out, failedRow.MatchString(out)
	}); !ok {
		t.Errorf("tandem jobs does not show the failed run with its exit code:\n%s", table)
	}
	if status, ok := n.eventually(5*time.Second, func() (string, bool) {
		out, _ := n.cli("status")
		return out, strings.Contains(out, "exit code 3")
	}); !ok {
		t.Errorf("tandem status does not show the failed job:\n%s", status)
	}

	// run-job: now, with the output shown and an exit code that tells. A
	// scheduled run in progress refuses it: try again.
	out, ok := n.eventually(5*time.Second, func() (string, bool) {
		out, _ := n.cli("run-job", "fail")
		return out, !strings.Contains(out, "job is running")
	})
	if _, code := n.cli("run-job", "nope"); code != 2 {
		t.Errorf("tandem run-job of an unknown job: exit %d; want 2", code)
	}
	if !ok || !strings.Contains(out, "| boom") || !strings.Contains(out, "exit code 3") {
		t.Errorf("tandem run-job fail: want its output and exit code 3\n%s", out)
	}
}

// ended counts j's runs that have ended.
func ended(j admin.JobStatus) int {
	n := 0
	for _, r := range j.History {
		if !r.Finished.IsZero() {
			n++
		}
	}
	return n
}

// checkEvery checks the runs of an @every 1s job: each firing on a whole
// second, one second after the one before, none lost (a skipped or missed
// firing is recorded); at least three in four ran, each soon after its
// firing, and every run that ended printed want.
func checkEvery(t *testing.T, j admin.JobStatus, want string) {
	t.Helper()
	var firings []time.Time
	ok := 0
	for i, r := range j.History {
		switch {
		case r.Result == "running" && i != len(j.History)-1:
			t.Errorf("%s: run %d still running while later ones started", j.Name, r.ID)
		case r.Result == "missed":
			for k := range r.Missed {
				firings = append(firings, r.Scheduled.Add(time.Duration(k)*time.Second))
			}
			continue
		case r.Result == "skipped" || r.Result == "running":
		case r.Result != "ok" || r.ExitCode != 0 || len(r.Output) != 1 || r.Output[0] != want:
			t.Errorf("%s: run %+v; want ok with output %q", j.Name, r, want)
		default:
			ok++
		}
		firings = append(firings, r.Scheduled)
		if lag := r.Started.Sub(r.Scheduled); r.Result != "skipped" && (lag < 0 || lag >= time.Second) {
			t.Errorf("%s: run %d started %s after its firing; want within 1s", j.Name, r.ID, lag)
		}
	}
	for i, f := range firings {
		if !f.Truncate(time.Second).Equal(f) {
			t.Errorf("%s: firing %d at %s; want a whole second", j.Name, i, f.Format(time.RFC3339Nano))
		}
		if i > 0 && f.Sub(firings[i-1]) != time.Second {
			t.Errorf("%s: firings %d and %d %s apart; want 1s", j.Name, i-1, i, f.Sub(firings[i-1]))
		}
	}
	if ok < 4 || 4*ok < 3*len(firings) {
		t.Errorf("%s: %d of %d firings ran ok; want at least 4 and three in four", j.Name, ok, len(firings))
	}
}

// checkNoOverlap checks that no run of j started before the one before it
// ended, and returns how many runs started.
func checkNoOverlap(t *testing.T, j admin.JobStatus) (ran int) {
	t.Helper()
	var last admin.JobRun
	for _, r := range j.History {
		if r.Started.IsZero() {
			continue
		}
		if last.ID != 0 && (last.Finished.IsZero() || r.Started.Before(last.Finished)) {
			t.Errorf("%s: run %d started before run %d ended", j.Name, r.ID, last.ID)
		}
		last = r
		ran++
	}
	return ran
}

// waitJobs polls `tandem jobs --json` until done holds for the jobs, by
// name, and returns that snapshot; it fails the test after timeout.
func (n *node) waitJobs(timeout time.Duration, done func(map[string]admin.JobStatus) bool) map[string]admin.JobStatus {
	n.t.Helper()
	var byName map[string]admin.JobStatus
	out, ok := n.eventually(timeout, func() (string, bool) {
		out, code := n.cli("jobs", "--json")
		var jobs []admin.JobStatus
		if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil {
			return out, false
		}
		byName = map[string]admin.JobStatus{}
		for _, j := range jobs {
			byName[j.Name] = j
		}
		return out, done(byName)
	})
	if !ok {
		n.t.Fatalf("jobs not done after %s:\n%s", timeout, out)
	}
	return byName
}

// eventually calls f every 250ms until it reports true or timeout passes,
// and returns its last output.
func (n *node) eventually(timeout time.Duration, f func() (string, bool)) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out, ok := f()
		if ok || time.Now().After(deadline) {
			return out, ok
		}
		time.Sleep(250 * time.Millisecond)
	}
}
