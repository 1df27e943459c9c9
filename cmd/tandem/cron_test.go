package main

import (
	"encoding/json"
	"regexp"
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
func TestCronJobs(t *testing.T) {
	n := startNode(t, cronStack)
	n.waitFor("1 healthy instance", 20*time.Second, healthy("web", 1))
	time.Sleep(6 * time.Second)
	out, code := n.cli("jobs", "--json")
	if code != 0 {
		t.Fatalf("tandem jobs --json: exit %d\n%s", code, out)
	}
	var jobs []admin.JobStatus
	if err := json.Unmarshal([]byte(out), &jobs); err != nil {
		t.Fatalf("decode tandem jobs: %v\n%s", err, out)
	}
	byName := map[string]admin.JobStatus{}
	for _, j := range jobs {
		byName[j.Name] = j
	}

	tick := byName["tick"]
	var starts []time.Time
	for _, r := range tick.History {
		if r.Result != "ok" || r.ExitCode != 0 || len(r.Output) != 1 || r.Output[0] != "tick tick hello" {
			t.Errorf("tick run %+v; want ok with output \"tick tick hello\"", r)
		}
		starts = append(starts, r.Started)
	}
	if len(starts) < 4 {
		t.Fatalf("tick ran %d times in 6s; want at least 4", len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 800*time.Millisecond || gap > 1200*time.Millisecond {
			t.Errorf("tick runs %d and %d started %s apart; want 1s", i-1, i, gap)
		}
	}

	checkNoOverlap := func(j admin.JobStatus) (ran int) {
		var last admin.JobRun
		for _, r := range j.History {
			if r.Started.IsZero() {
				continue
			}
			if !last.Finished.IsZero() && r.Started.Before(last.Finished) {
				t.Errorf("%s: run %d started before run %d ended", j.Name, r.ID, last.ID)
			}
			last = r
			ran++
		}
		return ran
	}
	skip := byName["slow-skip"]
	if ran := checkNoOverlap(skip); ran < 2 || skip.Skipped < 2 {
		t.Errorf("slow-skip: %d runs, %d skipped; want runs one at a time and the firings in between skipped", ran, skip.Skipped)
	}
	queue := byName["slow-queue"]
	if ran := checkNoOverlap(queue); ran < 3 || queue.Skipped != 0 || queue.Queued == 0 {
		t.Errorf("slow-queue: %d runs, %d skipped, %d queued; want runs back to back, none skipped", ran, queue.Skipped, queue.Queued)
	}

	fail := byName["fail"]
	last := fail.History[len(fail.History)-1]
	if fail.Failed < 4 || fail.Failed != fail.Runs || last.ExitCode != 3 || last.Result != "failed" || !strings.Contains(strings.Join(last.Output, "\n"), "boom") {
		t.Errorf("fail: %d runs, %d failed, last %+v; want every run failed with exit code 3 and its output", fail.Runs, fail.Failed, last)
	}
	if fail.Timezone != "Europe/Berlin" {
		t.Errorf("fail: timezone %q; want Europe/Berlin", fail.Timezone)
	}
	table, _ := n.cli("jobs")
	if !regexp.MustCompile(`(?m)^fail +@every 1s .* failed +3 `).MatchString(table) {
		t.Errorf("tandem jobs does not show the failed run with its exit code:\n%s", table)
	}
	status, _ := n.cli("status")
	if !strings.Contains(status, "exit code 3") {
		t.Errorf("tandem status does not show the failed job:\n%s", status)
	}

	// run-job: now, with the output shown and an exit code that tells.
	if out, code := n.cli("run-job", "fail"); code != 1 || !strings.Contains(out, "| boom") || !strings.Contains(out, "exit code 3") {
		t.Errorf("tandem run-job fail: exit %d; want 1 with its output\n%s", code, out)
	}
	if out, code := n.cli("run-job", "nope"); code != 2 {
		t.Errorf("tandem run-job of an unknown job: exit %d; want 2\n%s", code, out)
	}
}
