package admin

import "time"

// Status is a node's answer to GET /v1/status.
type Status struct {
	Node      string       `json:"node"`
	Zone      string       `json:"zone"`
	Site      string       `json:"site"`
	Version   string       `json:"version"`
	StartedAt time.Time    `json:"started_at"`
	Edge      []string     `json:"edge"`
	Apps      []AppStatus  `json:"apps"`
	Jobs      []JobSummary `json:"jobs,omitempty"`
	// Cluster is the cluster as this node sees it; nil before the node
	// has joined one.
	Cluster *ClusterStatus `json:"cluster,omitempty"`

	// Checks are the uptime checks' states; nil when there are none.
	Checks []CheckSummary `json:"checks,omitempty"`
	// Database is the stack's PostgreSQL; nil when the stack has none.
	Database *DatabaseStatus `json:"database,omitempty"`
	// Sites are the stack's sites; nil when the stack has none.
	Sites *SitesStatus `json:"sites,omitempty"`
	// Storage is the apps' object storage; nil when the stack has none.
	Storage *StorageStatus `json:"storage,omitempty"`
	// Backup is the stack's backups as this node sees them; nil when the
	// stack has none.
	Backup *BackupStatus `json:"backup,omitempty"`

	// Upgrade is the last upgrade of the node's binary in place (tandem
	// upgrade), while it runs and once it ended; nil if none since the
	// node started.
	Upgrade *UpgradeStatus `json:"upgrade,omitempty"`
}

// AppStatus describes one app on the node.
type AppStatus struct {
	Name      string           `json:"name"`
	Desired   int              `json:"desired"`
	Healthy   int              `json:"healthy"`
	Instances []InstanceStatus `json:"instances"`
	// Release is the version of the release the app runs.
	Release string `json:"release"`
	// Deploy is the deploy in progress, else the last one; nil if none.
	Deploy *DeployRecord `json:"deploy,omitempty"`
	// Gate says whether requests pass, are held (paused) or get the
	// maintenance page.
	Gate GateStatus `json:"gate"`
	// Cluster is the release the cluster wants the app to run and the
	// nodes that run another; nil when the cluster has none.
	Cluster *ClusterRelease `json:"cluster,omitempty"`
}

// ClusterRelease is the release the cluster wants an app to run: the one
// its last successful deploy made current, wherever it ran. Nodes that
// were down or unreachable then converge to it when they return.
type ClusterRelease struct {
	Version string    `json:"version"`
	By      string    `json:"by"` // what made it the cluster's release
	At      time.Time `json:"at"`
	// Differ lists the nodes, up or down, that last recorded running
	// another release.
	Differ []NodeRelease `json:"differ"`
}

// NodeRelease is the release a node last recorded running.
type NodeRelease struct {
	Node    string    `json:"node"`
	Release string    `json:"release"`
	At      time.Time `json:"at"`
}

// JobSummary is a job's line in the node's status: what a missed or
// failed run looks like at a glance.
type JobSummary struct {
	Name    string    `json:"name"`
	Next    time.Time `json:"next,omitzero"`
	Last    *JobRun   `json:"last,omitempty"` // the last run or firing not run
	Running bool      `json:"running"`
	Runs    int       `json:"runs"`
	Failed  int       `json:"failed"`
	Skipped int       `json:"skipped"`
	Missed  int       `json:"missed"`
}

// InstanceStatus joins what the supervisor knows of an instance's process
// with what the balancer knows of its health and traffic.
type InstanceStatus struct {
	Name    string `json:"name"`
	Release string `json:"release"` // the version it runs
	Addr    string `json:"addr"`
	Zone    string `json:"zone"`
	PID     int    `json:"pid"`
	State   string `json:"state"` // process: starting, running, backoff, stopping, stopped, crashloop
	// Health is the balancer's view: starting, healthy, unhealthy,
	// ejected, draining.
	Health    string    `json:"health"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at,omitzero"`
	InFlight  int64     `json:"in_flight"`
	Requests  uint64    `json:"requests"`
	CrashLoop bool      `json:"crash_loop"`
	OOMKills  int       `json:"oom_kills"`
	LastExit  string    `json:"last_exit,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// MemoryLimit is the enforced limit in bytes, 0 when none is set or it
	// could not be enforced (see MemoryNote).
	MemoryLimit int64  `json:"memory_limit"`
	MemoryNote  string `json:"memory_note,omitempty"`
}
