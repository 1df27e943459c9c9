package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/cron"
)

// Job is a command run on a schedule (cron). Exactly one node of the
// cluster runs each scheduled time.
type Job struct {
	// Name is the job's key under jobs, a name like an app's.
	Name string `yaml:"-"`
	// Schedule is five cron fields, a descriptor (@daily, @hourly, ...) or
	// "@every DURATION"; checked with cron.Parse.
	Schedule string `yaml:"schedule"`
	// Command is the program and its arguments; never empty. A relative
	// program path with a "/" is made absolute against Dir when Dir is set;
	// otherwise (a job of an app without dir) it is relative to the app's
	// current release directory when the job runs.
	Command []string `yaml:"command"`
	// App, when set, names the app whose current release the job runs
	// with: its directory and environment.
	App string `yaml:"app"`
	// Timezone is the IANA zone the schedule is read in; "" (default)
	// means the node's local time.
	Timezone string `yaml:"timezone"`
	// Location is Timezone loaded; time.Local when Timezone is "".
	Location *time.Location `yaml:"-"`
	// Timeout kills a run that takes longer, > 0; default 1h.
	Timeout Duration `yaml:"timeout"`
	// Overlap is OverlapSkip (default) or OverlapQueue: what happens when
	// the job is due while its previous run still runs.
	Overlap string `yaml:"overlap"`
	// Dir is the absolute working directory; "" for a job of an app means
	// the app's release directory, else the stack file's directory.
	Dir string `yaml:"dir"`
	// Env is added to the environment (after the app's release env).
	Env map[string]string `yaml:"env"`
}

// Values of Job.Overlap.
const (
	OverlapSkip  = "skip"
	OverlapQueue = "queue"
)

func (j *Job) setDefaults() {
	j.Timeout = Duration(time.Hour)
	j.Overlap = OverlapSkip
}

func (k *checker) jobs() {
	for _, name := range k.st.JobNames {
		j := k.st.Jobs[name]
		j.Name = name
		k.job("jobs."+name, j)
	}
}

func (k *checker) job(p string, j *Job) {
	if len(j.Name) > 63 || !nameRE.MatchString(j.Name) {
		k.c.note(k.c.line(p), p, "job name %q must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters", j.Name)
	}
	if j.Schedule == "" {
		k.c.addf(p+".schedule", `required: e.g. "0 3 * * *", "@daily" or "@every 10m"`)
	} else if _, err := cron.Parse(j.Schedule); err != nil {
		k.c.addf(p+".schedule", "%s", strings.TrimPrefix(err.Error(), cron.ErrBadSchedule.Error()+" "))
	}
	switch _, ok := k.st.Apps[j.App]; {
	case j.App == "":
	case !ok:
		hint := ""
		if best := closest(j.App, k.st.AppNames); best != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", best)
		}
		k.c.addf(p+".app", "unknown app %q%s; apps are: %s", j.App, hint, strings.Join(k.st.AppNames, ", "))
	}
	switch {
	case j.Dir != "":
		j.Dir = k.path(p+".dir", j.Dir)
	case j.App == "":
		j.Dir = k.st.Dir
	}
	if j.Command == nil {
		k.c.addf(p+".command", `required: the program and its arguments as a list, e.g. ["bin/report"]`)
	} else {
		k.command(p+".command", j.Command, j.Dir)
	}
	j.Location = time.Local
	if j.Timezone != "" {
		loc, err := time.LoadLocation(j.Timezone)
		if err != nil || strings.EqualFold(j.Timezone, "local") {
			k.c.addf(p+".timezone", `unknown time zone %q: use an IANA name such as "Europe/Berlin" or "UTC"`, j.Timezone)
		} else {
			j.Location = loc
		}
	}
	k.positive(p+".timeout", j.Timeout)
	if j.Overlap != OverlapSkip && j.Overlap != OverlapQueue {
		k.c.addf(p+".overlap", "must be skip or queue, got %q", j.Overlap)
	}
	for _, key := range sortedKeys(j.Env) {
		if !validVarName(key) {
			k.c.addf(p+".env."+key, "invalid variable name %q: use letters, digits and _, not starting with a digit", key)
		}
	}
}
