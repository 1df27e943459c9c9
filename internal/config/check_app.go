package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// maxInstances bounds App.Instances per node.
const maxInstances = 256

func (k *checker) apps() {
	for _, name := range k.st.AppNames {
		a := k.st.Apps[name]
		a.Name = name
		k.app("apps."+name, a)
	}
}

func (k *checker) app(p string, a *App) {
	if len(a.Name) > 63 || !nameRE.MatchString(a.Name) {
		k.c.note(k.c.line(p), p, "app name %q must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters", a.Name)
	}
	if a.Dir == "" {
		a.Dir = k.st.Dir
	}
	a.Dir = k.path(p+".dir", a.Dir)
	switch {
	case a.Command == nil:
		k.c.addf(p+".command", `required: the program and its arguments as a list, e.g. ["bin/server"]`)
	default:
		k.command(p+".command", a.Command, a.Dir)
	}
	if a.Release != nil {
		k.command(p+".release", a.Release, a.Dir)
	}
	for _, key := range sortedKeys(a.Env) {
		switch {
		case !validVarName(key):
			k.c.addf(p+".env."+key, "invalid variable name %q: use letters, digits and _, not starting with a digit", key)
		case key == "PORT":
			k.c.addf(p+".env.PORT", "PORT is set by tandem for each instance and cannot be given")
		}
	}
	k.between(p+".instances", a.Instances, 0, maxInstances)
	k.health(p+".health", &a.Health)
	k.positive(p+".stop.grace", a.Stop.Grace)
	k.positive(p+".restart.min_backoff", a.Restart.MinBackoff)
	if a.Restart.MaxBackoff < a.Restart.MinBackoff {
		k.c.addf(p+".restart.max_backoff", "must be >= restart.min_backoff (%s), got %s", a.Restart.MinBackoff, a.Restart.MaxBackoff)
	}
	if m := a.Limits.Memory; m != 0 && m < 4*MiB {
		k.c.addf(p+".limits.memory", "must be 0 (no limit) or >= 4MiB, got %s", m)
	}
	k.retries(p+".retries", &a.Retries)
	k.deployPolicy(p+".deploy", &a.Deploy)
}

func (k *checker) retries(p string, r *RetryPolicy) {
	k.between(p+".attempts", r.Attempts, 1, 10)
	if b := r.Budget; b < 0 || b > 1 {
		k.c.addf(p+".budget", "must be >= 0 and <= 1, got %g", b)
	}
	k.perTryTimeout(p+".per_try_timeout", r.PerTryTimeout)
}

func (k *checker) perTryTimeout(p string, t PerTryTimeout) {
	if t.Percentile <= 0 || t.Percentile >= 100 {
		k.c.addf(p+".percentile", "must be > 0 and < 100, got %g", t.Percentile)
	}
	if t.Factor < 1 {
		k.c.addf(p+".factor", "must be >= 1, got %g", t.Factor)
	}
	k.positive(p+".min", t.Min)
	if t.Max < t.Min {
		k.c.addf(p+".max", "must be >= min (%s), got %s", t.Min, t.Max)
	}
}

// command checks a command list and makes a relative program path with a
// "/" absolute against dir; a bare program name is left for $PATH.
func (k *checker) command(p string, cmd []string, dir string) {
	if len(cmd) == 0 {
		k.c.addf(p, `must not be empty: give the program and its arguments, e.g. ["bin/server"]`)
		return
	}
	if cmd[0] == "" {
		k.c.addf(p+"[0]", "the program must not be empty")
		return
	}
	if strings.Contains(cmd[0], "/") && !filepath.IsAbs(cmd[0]) && dir != "" {
		cmd[0] = filepath.Join(dir, cmd[0])
	}
}

func (k *checker) health(p string, h *HealthCheck) {
	if !strings.HasPrefix(h.Path, "/") {
		k.c.addf(p+".path", "must start with \"/\", got %q", h.Path)
	}
	k.positive(p+".interval", h.Interval)
	k.positive(p+".timeout", h.Timeout)
	if h.Timeout > h.Interval && h.Interval > 0 {
		k.c.addf(p+".timeout", "must be <= interval (%s), got %s", h.Interval, h.Timeout)
	}
	k.atLeast(p+".rise", h.Rise, 1)
	k.atLeast(p+".fall", h.Fall, 1)
	k.positive(p+".startup", h.Startup)
	if h.RestartAfter < 0 {
		k.c.addf(p+".restart_after", "must be >= 0 (0 = never), got %s", h.RestartAfter)
	}
}

// routes fills the default route and checks every route.
func (k *checker) routes() {
	e := &k.st.Edge
	switch {
	case e.Routes == nil && len(k.st.Apps) == 1:
		var r Route
		r.setDefaults()
		r.App = k.st.AppNames[0]
		e.Routes = []Route{r}
		return
	case e.Routes == nil && len(k.st.Apps) > 1:
		k.c.add(k.c.line("apps"), "edge.routes", "required when there is more than one app (%s): e.g. routes: [{ path: /, app: %s }]",
			strings.Join(k.st.AppNames, ", "), k.st.AppNames[0])
		return
	case e.Routes != nil && len(e.Routes) == 0:
		k.c.addf("edge.routes", "must list at least one route (leave routes out to send everything to a single app)")
		return
	}
	seen := make(map[string]int) // host+" "+path -> index
	for i := range e.Routes {
		p := fmt.Sprintf("edge.routes[%d]", i)
		r := &e.Routes[i]
		k.route(p, r)
		key := r.Host + " " + r.Path
		if j, dup := seen[key]; dup {
			k.c.addf(p, "same host and path as edge.routes[%d] (line %d)", j, k.c.line(fmt.Sprintf("edge.routes[%d]", j)))
		} else {
			seen[key] = i
		}
	}
}

func (k *checker) route(p string, r *Route) {
	r.Host = strings.ToLower(r.Host)
	if r.Host == "*" {
		r.Host = ""
	}
	if h := strings.TrimPrefix(r.Host, "*."); r.Host != "" && !validHostname(h) {
		hint := ""
		if strings.Contains(h, ":") {
			hint = " (leave out the port)"
		}
		k.c.addf(p+".host", `must be a host name, "*.example.com" or "*", got %q%s`, r.Host, hint)
	}
	if !strings.HasPrefix(r.Path, "/") {
		k.c.addf(p+".path", "must start with \"/\", got %q", r.Path)
	}
	k.routeCache(p+".cache", &r.Cache)
	k.routeBody(p, r)
	k.routeCritical(p, r)
	k.routeTarget(p, r)
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}
