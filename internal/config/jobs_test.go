package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseJobs(t *testing.T) {
	st, err := parse(t, base+`jobs:
  report:
    schedule: "0 6 * * mon-fri"
    command: [bin/report, --daily]
    app: web
    timezone: Europe/Berlin
    timeout: 10m
    overlap: queue
    env: { REPORT_TO: ops@example.com }
  vacuum:
    schedule: "@every 1h"
    command: [bin/vacuum]
    dir: tools
`)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := st.JobNames; len(got) != 2 || got[0] != "report" || got[1] != "vacuum" {
		t.Fatalf("JobNames = %q; want [report vacuum]", got)
	}
	r := st.Jobs["report"]
	if r.Name != "report" || r.App != "web" || r.Location.String() != "Europe/Berlin" || r.Timeout != Duration(10*time.Minute) ||
		r.Overlap != OverlapQueue || r.Dir != "" || r.Command[0] != "bin/report" || r.Env["REPORT_TO"] != "ops@example.com" {
		t.Errorf("jobs.report = %+v; want it as written, command relative to the app's release", r)
	}
	v := st.Jobs["vacuum"]
	if v.Dir != filepath.Join(st.Dir, "tools") || v.Command[0] != filepath.Join(st.Dir, "tools/bin/vacuum") ||
		v.Location != time.Local || v.Timeout != Duration(time.Hour) || v.Overlap != OverlapSkip {
		t.Errorf("jobs.vacuum = %+v; want the defaults and paths resolved against dir", v)
	}
	web := st.Apps["web"]
	if web.Deploy != defaultDeploy() {
		t.Errorf("apps.web.deploy = %+v; want the defaults", web.Deploy)
	}
}

func TestParseJobAndDeployProblems(t *testing.T) {
	tests := []struct{ src, path, msg string }{
		{"jobs: { r: { command: [x] } }\n", "jobs.r.schedule", "required"},
		{"jobs: { r: { schedule: \"61 * * * *\", command: [x] } }\n", "jobs.r.schedule", `"61 * * * *": minute 61: out of range 0-59`},
		{"jobs: { r: { schedule: \"@every 1ms\", command: [x] } }\n", "jobs.r.schedule", "at least 1s"},
		{"jobs: { r: { schedule: \"@daily\" } }\n", "jobs.r.command", "required"},
		{"jobs: { r: { schedule: \"@daily\", command: [x], app: wbe } }\n", "jobs.r.app", `unknown app "wbe" (did you mean "web"?)`},
		{"jobs: { r: { schedule: \"@daily\", command: [x], timezone: Mars/Olympus } }\n", "jobs.r.timezone", "unknown time zone"},
		{"jobs: { r: { schedule: \"@daily\", command: [x], overlap: allow } }\n", "jobs.r.overlap", "must be skip or queue"},
		{"jobs: { r: { schedule: \"@daily\", command: [x], timeout: 0s } }\n", "jobs.r.timeout", "must be > 0"},
		{"jobs: { r: { schedule: \"@daily\", command: [x], env: { 9A: x } } }\n", "jobs.r.env.9A", "invalid variable name"},
		{"jobs: { R_1: { schedule: \"@daily\", command: [x] } }\n", "jobs.R_1", "job name"},
		{"jobs: { r: { schedule: \"@daily\", command: [x], shedule: x } }\n", "jobs.r.shedule", `did you mean "schedule"?`},
		{"    deploy: { surge: 0 }\n", "apps.web.deploy.surge", "must be >= 1"},
		{"    deploy: { drain: 0s }\n", "apps.web.deploy.drain", "must be > 0"},
		{"    deploy: { history: 101 }\n", "apps.web.deploy.history", "must be <= 100"},
		{"    deploy: { release_timeout: 0s }\n", "apps.web.deploy.release_timeout", "must be > 0"},
	}
	for _, tt := range tests {
		_, err := parse(t, base+tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) = %v; want %s: ...%s", tt.src, err, tt.path, tt.msg)
		}
	}
}
