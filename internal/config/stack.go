package config

import "log/slog"

// Stack is a validated stack file with every default applied and every path
// absolute. A *Stack returned by Parse or Load is complete: the composition
// root maps it onto each part's Options without further checks.
type Stack struct {
	Cluster Cluster         `yaml:"cluster"`
	Edge    Edge            `yaml:"edge"`
	Admin   Admin           `yaml:"admin"`
	Log     Log             `yaml:"log"`
	Apps    map[string]*App `yaml:"apps"` // by name; at least one, none on a witness
	Jobs    map[string]*Job `yaml:"jobs"` // by name; nil when there are none
	// Checks are the uptime checks by name; nil when there are none.
	Checks map[string]*UptimeCheck `yaml:"checks"`
	// Alerts says where the checks' changes of state are sent.
	Alerts  Alerts  `yaml:"alerts"`
	Tracing Tracing `yaml:"tracing"`
	// Database is the PostgreSQL cluster tandem runs for the apps; nil
	// when the stack file has no database section.
	Database *Database `yaml:"database"`
	// Sites says which site leads and what follower sites do in an
	// emergency; nil when the stack file has no sites section.
	Sites *Sites `yaml:"sites"`
	// Upstreams are the services reached by URL that routes may send to,
	// by name; nil when there are none.
	Upstreams map[string]*Upstream `yaml:"upstreams"`
	// Storage is the apps' object storage; nil when the stack file has
	// no storage section.
	Storage *Storage `yaml:"storage"`
	// Backup is where and when the database and the app's files are
	// backed up; nil when the stack file has no backup section.
	Backup *Backup `yaml:"backup"`

	// AppNames lists the keys of Apps in the order of the file.
	AppNames []string `yaml:"-"`
	// JobNames lists the keys of Jobs in the order of the file.
	JobNames []string `yaml:"-"`
	// CheckNames lists the keys of Checks in the order of the file.
	CheckNames []string `yaml:"-"`
	// UpstreamNames lists the keys of Upstreams in the order of the file.
	UpstreamNames []string `yaml:"-"`
	// File is the stack file's name as given to Parse or Load.
	File string `yaml:"-"`
	// Dir is the absolute directory relative paths were resolved against.
	Dir string `yaml:"-"`
}

// Cluster says which cluster this node belongs to and where it keeps state.
type Cluster struct {
	Name    string `yaml:"name"`     // cluster name; default "tandem"
	Node    string `yaml:"node"`     // this node's name; default the host name
	Zone    string `yaml:"zone"`     // failure domain; default "default"
	Site    string `yaml:"site"`     // place with its own internet path; default "home"
	DataDir string `yaml:"data_dir"` // absolute; default ".tandem" beside the stack file

	// Advertise is the address other nodes reach this node at; default
	// "127.0.0.1" (fine for one node; set it before others join).
	Advertise  string `yaml:"advertise"`
	PeerPort   int    `yaml:"peer_port"`   // etcd peer traffic; default 7380
	ClientPort int    `yaml:"client_port"` // etcd clients; default 7379
	NodePort   int    `yaml:"node_port"`   // node-to-node HTTPS (joins, cross-zone requests); default 7946
	// Etcd points at an external etcd cluster; nil runs an embedded
	// member in the data directory.
	Etcd *ExternalEtcd `yaml:"etcd"`
	// Witness makes this node an etcd member only: no apps, jobs, edge or
	// database member. A witness in a third place keeps the quorum when
	// one of two sites is lost.
	Witness bool `yaml:"witness"`
}

// ExternalEtcd is an existing etcd cluster tandem uses instead of running
// a member itself.
type ExternalEtcd struct {
	Endpoints []string `yaml:"endpoints"` // https://host:port; at least one
	CA        string   `yaml:"ca"`        // PEM CA bundle; absolute
	Cert      string   `yaml:"cert"`      // client certificate; absolute
	Key       string   `yaml:"key"`       // client key; absolute
}

// Admin configures the admin API listener.
type Admin struct {
	Listen string `yaml:"listen"` // host:port; default "127.0.0.1:7070"
	// TLS makes the admin API serve HTTPS; nil when the stack file has
	// none. Required when Listen is not a loopback address.
	TLS *AdminTLS `yaml:"tls"`
}

// AdminTLS is the admin API's certificate.
type AdminTLS struct {
	Cert string `yaml:"cert"` // absolute path of the PEM certificate chain; the file exists
	Key  string `yaml:"key"`  // absolute path of the PEM private key; the file exists
}

// Log configures tandem's own log.
type Log struct {
	Level  slog.Level `yaml:"level"`  // written debug|info|warn|error; default info
	Format string     `yaml:"format"` // "json" (default) or "text"
}

// Log formats.
const (
	LogJSON = "json"
	LogText = "text"
)
