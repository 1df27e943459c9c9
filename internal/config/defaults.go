package config

import (
	"log/slog"
	"syscall"
	"time"
)

// The defaults of every field are here, in one place; docs/stack-file.md
// lists the same values.
//
// setDefaults fills a value before the file is decoded into it, so a field
// the file leaves out keeps its default and a field the file sets to zero
// (instances: 0, restart_after: 0, budget: 0) stays zero. Defaults that
// depend on where the file is (directories) or on the host (node name) are
// filled by the checker after decoding.

func (s *Stack) setDefaults() {
	s.Cluster = Cluster{
		Name: "tandem", Zone: "default", Site: "home", DataDir: ".tandem",
		Advertise: "127.0.0.1", PeerPort: 7380, ClientPort: 7379, NodePort: 7946,
	}
	s.Edge = Edge{Listen: ":8080", AccessLog: AccessLogStdout}
	s.Edge.Timeouts.setDefaults()
	s.Edge.Limits.setDefaults()
	s.Edge.Cache.setDefaults()
	s.Admin = Admin{Listen: "127.0.0.1:7070"}
	s.Log = Log{Level: slog.LevelInfo, Format: LogJSON}
	s.Alerts.setDefaults()
	s.Tracing.setDefaults()
}

func (t *TLS) setDefaults() { t.Listen = ":8443" }

func (r *Route) setDefaults() {
	r.Path = "/"
	r.RequestBody = RequestBodyBuffer
	r.Cache.setDefaults()
}

func (a *App) setDefaults() {
	a.Instances = 1
	a.Health = HealthCheck{
		Path:         "/",
		Interval:     Duration(2 * time.Second),
		Timeout:      Duration(time.Second),
		Rise:         2,
		Fall:         3,
		Startup:      Duration(60 * time.Second),
		RestartAfter: Duration(30 * time.Second),
	}
	a.Stop = StopPolicy{Signal: syscall.SIGTERM, Grace: Duration(10 * time.Second)}
	a.Restart = RestartPolicy{MinBackoff: Duration(100 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)}
	a.Retries.setDefaults()
	a.Deploy.setDefaults()
}

func (r *RetryPolicy) setDefaults() {
	*r = RetryPolicy{Attempts: 3, Budget: 0.2, Hedge: true, PerTryTimeout: PerTryTimeout{
		Percentile: 99, Factor: 2, Min: Duration(50 * time.Millisecond), Max: Duration(2 * time.Second),
	}}
}
