package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/cron"
	"github.com/tandem-run/tandem/internal/deploy"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
	"github.com/tandem-run/tandem/internal/pgha"
	"github.com/tandem-run/tandem/internal/supervise"
	"github.com/tandem-run/tandem/internal/uptime"
)

// This file maps the stack file onto each part's Options: the only place
// that knows both.

func clusterOptions(st *config.Stack, join string, log *slog.Logger) cluster.Options {
	cl := st.Cluster
	o := cluster.Options{
		Name: cl.Name, Node: cl.Node, Zone: cl.Zone, Site: cl.Site,
		DataDir:   cl.DataDir,
		Advertise: cl.Advertise,
		PeerPort:  cl.PeerPort, ClientPort: cl.ClientPort, NodePort: cl.NodePort,
		Join:   join,
		Logger: log.With("part", "cluster"),
	}
	if e := cl.Etcd; e != nil {
		o.External = &cluster.External{Endpoints: e.Endpoints, CAFile: e.CA, CertFile: e.Cert, KeyFile: e.Key}
	}
	return o
}

func edgeOptions(st *config.Stack, upstreams map[string]http.RoundTripper, cache *httpcache.Cache, purger edge.Purger, accessLog io.Writer, log *slog.Logger) edge.Options {
	e := st.Edge
	minRate := int64(e.Limits.BodyMinRate)
	if minRate == 0 {
		minRate = -1 // none; 0 would be the edge's default
	}
	o := edge.Options{
		Listen:            e.Listen,
		TrustedProxies:    e.TrustedProxies,
		ReadHeaderTimeout: time.Duration(e.Timeouts.ReadHeader),
		IdleTimeout:       time.Duration(e.Timeouts.Idle),
		ShutdownTimeout:   time.Duration(e.Timeouts.Shutdown),
		MaxHeaderBytes:    int(e.Limits.MaxHeaderBytes),
		MaxBodyBytes:      int64(e.Limits.MaxBodyBytes),
		BodyTimeout:       time.Duration(e.Timeouts.Body),
		BodyMinRate:       minRate,
		BodyBuffer:        int64(e.Limits.BodyBuffer),
		BodyMemory:        int64(e.Limits.BodyMemory),
		BodyDisk:          int64(e.Limits.BodyDisk),
		BodyTempDir:       e.BodyTempPath,
		MaxConnections:    e.Limits.MaxConnections,
		AccessLog:         accessLog,
		Upstreams:         upstreams,
		Cache:             cache,
		Purge:             edge.PurgeOptions{Allow: e.Purge.Allow, Token: e.Purge.Token, Purger: purger},
		Logger:            log.With("part", "edge"),
	}
	if e.TLS != nil {
		o.TLS = &edge.TLSOptions{Listen: e.TLS.Listen, CertFile: e.TLS.Cert, KeyFile: e.TLS.Key}
	}
	for _, r := range e.Routes {
		o.Routes = append(o.Routes, edge.Route{Host: r.Host, Path: r.Path, App: routeUpstream(r), Cache: routeCacheOptions(r.Cache, cache),
			StreamBody: r.RequestBody == config.RequestBodyStream, StripPath: r.StripPath || r.Storage != ""})
	}
	return o
}

func poolOptions(st *config.Stack, name string, a *config.App, log *slog.Logger) balance.Options {
	h := a.Health
	return balance.Options{
		App:  name,
		Zone: st.Cluster.Zone,
		Health: balance.HealthCheck{
			Path:     h.Path,
			Interval: time.Duration(h.Interval),
			Timeout:  time.Duration(h.Timeout),
			Rise:     h.Rise,
			Fall:     h.Fall,
		},
		Retry:           retryOptions(a.Retries),
		UpstreamTimeout: time.Duration(st.Edge.Timeouts.Upstream),
		Logger:          log.With("part", "balance"),
	}
}

// appOptions maps an app's section; the node adds the parts it shares.
func appOptions(st *config.Stack, name string, log *slog.Logger) apprun.Options {
	a := st.Apps[name]
	return apprun.Options{
		Name: name, Node: st.Cluster.Node, Zone: st.Cluster.Zone,
		Stack:     deploy.Spec{Command: slices.Clone(a.Command), Dir: a.Dir, Env: maps.Clone(a.Env), ReleaseCommand: slices.Clone(a.Release)},
		StackFile: st.File,
		Instances: a.InstancesOn(st.Cluster.Site, false), // the sites scale it in an emergency
		Startup:   time.Duration(a.Health.Startup), RestartAfter: time.Duration(a.Health.RestartAfter),
		Surge: a.Deploy.Surge, Drain: time.Duration(a.Deploy.Drain), ReleaseTimeout: time.Duration(a.Deploy.ReleaseTimeout),
		History: a.Deploy.History,
		Process: apprun.ProcessOptions{MemoryLimit: int64(a.Limits.Memory), StopSignal: a.Stop.Signal, StopGrace: time.Duration(a.Stop.Grace),
			MinBackoff: time.Duration(a.Restart.MinBackoff), MaxBackoff: time.Duration(a.Restart.MaxBackoff)},
		Pool:   poolOptions(st, name, a, log),
		Logger: log,
	}
}

// newCache builds the edge cache from the stack file; nil when
// edge.cache.memory is 0.
func newCache(st *config.Stack, log *slog.Logger) (*httpcache.Cache, error) {
	c := st.Edge.Cache
	if c.Memory == 0 {
		return nil, nil
	}
	o := httpcache.Options{Memory: int64(c.Memory), Logger: log.With("part", "cache")}
	if c.Disk.Size > 0 {
		// The tier leaves twice the control plane's floor free: on
		// data_dir's filesystem (its default place) it gives way first.
		o.Disk = &httpcache.DiskOptions{Path: c.Disk.Path, Size: int64(c.Disk.Size), MinFree: 2 * cluster.DefaultDiskFloor}
	}
	cache, err := httpcache.New(o)
	if err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}
	return cache, nil
}

// routeCacheOptions maps a route's cache settings; nil when the node has no
// cache.
func routeCacheOptions(c config.RouteCache, cache *httpcache.Cache) *httpcache.RouteOptions {
	if cache == nil {
		return nil
	}
	hitForPass := time.Duration(c.HitForPass)
	if hitForPass == 0 {
		hitForPass = -1 // off; httpcache's zero value is its default
	}
	return &httpcache.RouteOptions{
		Bypass: c.Bypass,
		Key: httpcache.KeyOptions{
			SortQuery: c.SortQuery,
			DropQuery: c.DropQuery,
			Headers:   c.KeyHeaders,
		},
		BypassCookies:       c.BypassCookies,
		VaryCookies:         c.VaryCookies,
		MaxObjectSize:       int64(c.MaxObjectSize),
		DefaultTTL:          time.Duration(c.DefaultTTL),
		Grace:               time.Duration(c.Grace),
		HitForPass:          hitForPass,
		ClientCacheControl:  c.ClientCacheControl,
		KeepTagHeaders:      c.KeepTagHeaders,
		StoreSetCookie:      c.StoreSetCookie,
		IgnoreClientNoCache: c.IgnoreClientNoCache,
	}
}

// newJobs builds the job runner: each run a one-shot process of the
// supervisor, with the environment of its app's current release; each
// firing claimed once across the cluster.
func newJobs(st *config.Stack, apps *apprun.Set, sup *supervise.Supervisor, cl *cluster.Cluster, environ []string, onRun func(string, cron.Run), log *slog.Logger) (*cron.Runner, error) {
	var jobs []cron.Job
	for _, name := range st.JobNames {
		j := st.Jobs[name]
		sch, err := cron.Parse(j.Schedule)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		jobs = append(jobs, cron.Job{Name: name, Schedule: sch, Location: j.Location, Timeout: time.Duration(j.Timeout), Overlap: cron.Overlap(j.Overlap)})
	}
	exec := func(ctx context.Context, name string, output func(string)) (int, error) {
		j := st.Jobs[name]
		spec := supervise.Spec{Name: "job-" + name, App: j.App, Command: j.Command, Dir: j.Dir, Env: slices.Clone(environ),
			Output: func(_, line string) { output(line) }}
		if j.App != "" {
			a, err := apps.App(j.App)
			if err != nil {
				return -1, err
			}
			env, dir, err := a.RunOnceEnv()
			if err != nil {
				return -1, err
			}
			spec.Env, spec.Dir = env, cmpOr(spec.Dir, dir)
		}
		for _, k := range slices.Sorted(maps.Keys(j.Env)) {
			spec.Env = append(spec.Env, k+"="+j.Env[k])
		}
		spec.Env = append(spec.Env, "TANDEM_JOB="+name)
		ex, err := sup.RunOnce(ctx, spec)
		if err != nil {
			return -1, err
		}
		return ex.Code, nil
	}
	return cron.New(cron.Options{
		Jobs:   jobs,
		Exec:   exec,
		Locker: jobLocker{cl: cl, node: st.Cluster.Node},
		Dir:    filepath.Join(st.Cluster.DataDir, "jobs"),
		Logger: log.With("part", "jobs"),
		OnRun:  onRun,
	})
}

// jobLocker takes cron's locks in the cluster, so that each firing of a
// job runs on exactly one node, and a job's overlap policy holds across
// nodes. Without quorum no lock is granted, and firings are counted as
// missed: better no run than two.
type jobLocker struct {
	cl   *cluster.Cluster
	node string
}

func (l jobLocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	release, err := l.cl.TryLockFor(ctx, key, l.node, ttl)
	if errors.Is(err, cluster.ErrLocked) {
		return nil, fmt.Errorf("%w: %w", cron.ErrLocked, err)
	}
	return release, err
}

// newNotifiers builds where alerts go: the checks' changes and one-off
// events (a database failover).
func newNotifiers(st *config.Stack) ([]uptime.Notifier, error) {
	var notifiers []uptime.Notifier
	if w := st.Alerts.Webhook; w != nil {
		wh, err := uptime.NewWebhook(uptime.WebhookOptions{URL: w.URL, Headers: w.Headers})
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, wh)
	}
	if s := st.Alerts.SMTP; s != nil {
		sm, err := uptime.NewSMTP(uptime.SMTPOptions{Host: s.Host, Port: s.Port, From: s.From, To: s.To,
			Username: s.Username, Password: s.Password, StartTLS: s.StartTLS})
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, sm)
	}
	return notifiers, nil
}

// newChecks builds the uptime monitor: verdicts shared through the
// cluster's records, alerts sent by the first node of the view.
func newChecks(st *config.Stack, cl *cluster.Cluster, view *cluster.Viewer, notifiers []uptime.Notifier, log *slog.Logger) (*uptime.Monitor, error) {
	var checks []uptime.Check
	for _, name := range st.CheckNames {
		c := st.Checks[name]
		checks = append(checks, uptime.Check{Name: name, URL: c.URL, Method: c.Method, Interval: time.Duration(c.Interval),
			Timeout: time.Duration(c.Timeout), Status: c.Expect.Status, Body: c.Expect.Body, Rise: c.Rise, Fall: c.Fall, Headers: c.Headers})
	}
	return uptime.New(uptime.Options{
		Node:      st.Cluster.Node,
		Checks:    checks,
		Renotify:  time.Duration(st.Alerts.Renotify),
		Verdicts:  uptime.RecordVerdicts{Records: cl, Logger: log.With("part", "checks")},
		Leader:    uptime.FirstOfView{Self: st.Cluster.Node, View: func() []string { return nodeNames(view.View()) }},
		Notifiers: notifiers,
		Logger:    log.With("part", "checks"),
	})
}

func nodeNames(v cluster.View) []string {
	return slices.Collect(maps.Keys(v.Nodes))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// memberOptions maps the database section onto this node's member.
func memberOptions(st *config.Stack, store *cluster.DatabaseStore, t pgha.TLS, onEvent func(pgha.Event), log *slog.Logger) pgha.Options {
	pg := st.Database.Postgres
	var leaderSite string
	if st.Sites != nil {
		leaderSite = st.Sites.Leader
	}
	return pgha.Options{
		Name: st.Cluster.Node, Zone: st.Cluster.Zone, Members: pg.Members,
		Site: st.Cluster.Site, LeaderSite: leaderSite, CrossSiteSync: pg.CrossSite == config.CrossSiteSync,
		DataDir:   filepath.Join(st.Cluster.DataDir, "postgres"),
		Advertise: st.Cluster.Advertise, Port: pg.Port,
		Asynchronous: !pg.Synchronous, Strict: pg.Strict,
		Parameters: pg.Parameters,
		AppUser:    pg.User, AppDatabase: pg.Database,
		TTL:     time.Duration(pg.TTL),
		Store:   store,
		TLS:     t,
		Logger:  log.With("part", "database"),
		OnEvent: onEvent,
	}
}
