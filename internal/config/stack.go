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
	Apps    map[string]*App `yaml:"apps"` // by name; at least one
	Jobs    map[string]*Job `yaml:"jobs"` // by name; nil when there are none
	Tracing Tracing         `yaml:"tracing"`

	// AppNames lists the keys of Apps in the order of the file.
	AppNames []string `yaml:"-"`
	// JobNames lists the keys of Jobs in the order of the file.
	JobNames []string `yaml:"-"`
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
}

// Admin configures the admin API listener.
type Admin struct {
	Listen string `yaml:"listen"` // host:port; default "127.0.0.1:7070"
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
