package config

import "syscall"

// App is one web application: a program serving HTTP on $PORT, run as
// Instances processes on this node.
type App struct {
	// Name is the app's key in the stack file: [a-z0-9][a-z0-9-]*, at most
	// 63 characters.
	Name string `yaml:"-"`
	// Command is the program and its arguments; never empty. A relative
	// program path containing "/" is made absolute against Dir; a bare name
	// is left for a $PATH lookup.
	Command []string `yaml:"command"`
	// Dir is the absolute working directory; default the stack file's directory.
	Dir string `yaml:"dir"`
	// Env is added to the environment of the app's processes. PORT is set by
	// tandem and may not be given.
	Env map[string]string `yaml:"env"`
	// Instances is how many processes this node runs, 0..256; default 1.
	// 0 means this node runs none (other nodes may).
	Instances int `yaml:"instances"`
	// Release is the command run once per release before instances roll
	// (migrations); nil when none. Its program path is resolved like Command's.
	Release []string      `yaml:"release"`
	Health  HealthCheck   `yaml:"health"`
	Stop    StopPolicy    `yaml:"stop"`
	Restart RestartPolicy `yaml:"restart"`
	Limits  AppLimits     `yaml:"limits"`
	Retries RetryPolicy   `yaml:"retries"`
	// Deploy is how deploys roll the app's instances.
	Deploy DeployPolicy `yaml:"deploy"`
	// Sites are the app's instances per node of a site, normally and in
	// an emergency, by site name; nil when the file gives none (every
	// node runs Instances). See InstancesOn.
	Sites map[string]*AppSite `yaml:"sites"`
	// Critical: the app is served in an emergency, by its emergency
	// instances on the follower sites. Routes to other apps get the
	// fallback page (or the cache's copy) meanwhile.
	Critical bool `yaml:"critical"`
}

// HealthCheck is the active HTTP health check of an app's instances.
type HealthCheck struct {
	Path     string   `yaml:"path"`     // request path, starts with "/"; default "/"
	Interval Duration `yaml:"interval"` // between checks, > 0; default 2s
	Timeout  Duration `yaml:"timeout"`  // per check, > 0 and <= Interval; default 1s
	Rise     int      `yaml:"rise"`     // consecutive passes to become healthy, >= 1; default 2
	Fall     int      `yaml:"fall"`     // consecutive failures to become unhealthy, >= 1; default 3
	// Startup is how long a new instance may take to become healthy, > 0;
	// default 60s.
	Startup Duration `yaml:"startup"`
	// RestartAfter restarts an instance unhealthy this long; 0 means never.
	// Default 30s.
	RestartAfter Duration `yaml:"restart_after"`
}

// StopPolicy is how an instance is asked to stop.
type StopPolicy struct {
	// Signal is sent first; default SIGTERM. One of SIGTERM, SIGINT,
	// SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 (the file may omit "SIG").
	Signal syscall.Signal `yaml:"signal"`
	// Grace is how long to wait after Signal before SIGKILL, > 0; default 10s.
	Grace Duration `yaml:"grace"`
}

// RestartPolicy is the back-off between restarts of a crashing instance:
// it starts at MinBackoff and grows up to MaxBackoff.
type RestartPolicy struct {
	MinBackoff Duration `yaml:"min_backoff"` // > 0; default 100ms
	MaxBackoff Duration `yaml:"max_backoff"` // >= MinBackoff; default 30s
}

// AppLimits bound each instance's resources; zero means no limit.
type AppLimits struct {
	Memory Size `yaml:"memory"` // 0 (default) or >= 4MiB
}

// RetryPolicy is how the balancer retries a failed request on another
// instance, and hedges a slow one.
type RetryPolicy struct {
	// Attempts is the most tries per request, counting the first and any
	// hedged one, 1..10; default 3.
	Attempts int `yaml:"attempts"`
	// Budget caps retries and hedged tries as a fraction of requests,
	// 0..1; default 0.2.
	Budget float64 `yaml:"budget"`
	// Hedge sends a second try of a request that may be sent twice (GET,
	// HEAD, OPTIONS, TRACE, or a request with an idempotency key, without
	// a body) to another instance when its first try has not answered
	// within PerTryTimeout; the first answer is used and the other try
	// stopped. Default true.
	Hedge bool `yaml:"hedge"`
	// PerTryTimeout is when a try of such a request is hedged.
	PerTryTimeout PerTryTimeout `yaml:"per_try_timeout"`
}

// PerTryTimeout follows the app's latency: it is Factor times the
// Percentile of the times to response headers of its recent successful
// tries, kept within [Min, Max]; Max until enough tries were seen. Min
// equal to Max makes it fixed.
type PerTryTimeout struct {
	Percentile float64  `yaml:"percentile"` // 0 < p < 100; default 99
	Factor     float64  `yaml:"factor"`     // >= 1; default 2
	Min        Duration `yaml:"min"`        // > 0; default 50ms
	Max        Duration `yaml:"max"`        // >= Min; default 2s
}
