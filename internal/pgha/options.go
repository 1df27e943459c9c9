package pgha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultPort     = 5432
	DefaultTTL      = 3 * time.Second
	DefaultInterval = 500 * time.Millisecond
	DefaultAppUser  = "app"
)

// Options configure a Member.
type Options struct {
	// Name is this member's name (its node's): the application_name of
	// its replication connection and the name of its slot on the primary.
	Name string
	// Zone is this member's failure domain: a synchronous standby in
	// another zone than the primary is preferred.
	Zone string
	// Members names every member of the cluster, this one included.
	Members []string
	// Site is this member's site, LeaderSite the site that normally
	// leads; "" for both turns the site rules off (see Machine). With
	// them, the synchronous standby is in the primary's site (in
	// another with CrossSiteSync), and a follower site's member may be
	// promoted while the sites declare the leader site unreachable.
	Site, LeaderSite string
	CrossSiteSync    bool
	// DataDir is the member's directory: PostgreSQL's data in data/, the
	// configuration tandem writes in conf/, TLS files in tls/, the Unix
	// socket in run/. It must be owned by the postgres user (it is
	// created if absent), and every directory above it must let that
	// user through.
	DataDir string
	// Advertise is the host other members and nodes reach this member's
	// PostgreSQL at; AdvertisePort its port there (Port if 0).
	Advertise     string
	AdvertisePort int
	// Listen is the address PostgreSQL listens on; Advertise if it is an
	// IP address, else all addresses ("*").
	Listen string
	// Port is PostgreSQL's port; DefaultPort if 0.
	Port int
	// Asynchronous turns synchronous replication off: failover is then
	// faster to come back but may lose the last acknowledged commits.
	Asynchronous bool
	// Strict keeps commits waiting while no synchronous standby is
	// connected, rather than degrading to asynchronous replication.
	Strict bool
	// Parameters are PostgreSQL settings passed through; the ones tandem
	// owns (OwnedParameters) are refused.
	Parameters map[string]string
	// HBA are extra pg_hba.conf lines, placed before tandem's last line
	// (password logins from anywhere).
	HBA []string
	// Archive sets WAL archiving; the zero value archives nothing.
	Archive Archive
	// Bootstrap, if set, fills the data directory dir (which does not
	// exist yet) when this member creates the cluster, instead of initdb:
	// a restore from a backup. When it leaves a recovery.signal, the member
	// runs that recovery to its end, with Archive's restore_command and
	// archiving, before it takes the lease and starts as the primary. A
	// cluster initialised once never calls it. Nil runs initdb.
	Bootstrap func(ctx context.Context, dir string) error
	// AppUser is the role generated for the app; DefaultAppUser if "".
	AppUser string
	// AppDatabase is the database created for the app, owned by AppUser;
	// AppUser if "".
	AppDatabase string
	// TTL is the leader lease's time to live; DefaultTTL if 0. A dead
	// primary is replaced a little over TTL after it died.
	TTL time.Duration
	// Interval is how often the member observes PostgreSQL; DefaultInterval if 0.
	Interval time.Duration
	// Store coordinates the members (in tandem, cluster.DatabaseStore).
	Store Store
	// TLS is the cluster CA and this node's certificate and key (PEM):
	// PostgreSQL serves TLS with them and replication verifies the CA.
	TLS TLS
	// BinDir holds PostgreSQL's programs; found under DefaultRoot if "".
	BinDir string
	// OSUser runs PostgreSQL; "postgres" if "".
	OSUser string
	// Logger receives the member's log; nil discards it.
	Logger *slog.Logger
	// OnEvent is called with each Event (failovers, demotions); it must
	// not block. Nil ignores them.
	OnEvent func(Event)
	// Clock returns the current time; time.Now if nil. Tests set it.
	Clock func() time.Time
}

// TLS is PEM material for PostgreSQL's TLS.
type TLS struct {
	CA, Cert, Key []byte
}

// Archive sets PostgreSQL's WAL archiving (for backups).
type Archive struct {
	Mode           string        // archive_mode: "", "on" or "always"
	Command        string        // archive_command
	Timeout        time.Duration // archive_timeout; 0 leaves PostgreSQL's default
	RestoreCommand string        // restore_command, for standbys and recovery
}

// ErrOptions is wrapped by every error of Options validation.
var ErrOptions = errors.New("invalid postgres options")

// OwnedParameters are the PostgreSQL settings tandem sets itself and
// refuses in Options.Parameters.
var OwnedParameters = []string{
	"archive_command", "archive_library", "archive_mode", "archive_timeout",
	"cluster_name", "config_file", "data_directory", "hba_file", "hot_standby",
	"ident_file", "listen_addresses", "logging_collector", "port",
	"primary_conninfo", "primary_slot_name", "promote_trigger_file",
	"recovery_target_timeline", "restore_command", "ssl", "ssl_ca_file",
	"ssl_cert_file", "ssl_key_file", "synchronous_standby_names",
	"unix_socket_directories", "wal_log_hints", "wal_receiver_status_interval",
	"wal_receiver_timeout", "wal_retrieve_retry_interval", "wal_sender_timeout",
}

var (
	memberName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)
	paramName  = regexp.MustCompile(`^[a-z_][a-z0-9_.]*$`)
	roleName   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// withDefaults validates o and returns it with defaults filled in. Error
// messages name the field.
func (o Options) withDefaults() (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return o, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...)
	}
	if !memberName.MatchString(o.Name) {
		return bad("name: %q must be 1-63 lowercase letters, digits, '-' or '.'", o.Name)
	}
	if !slices.Contains(o.Members, o.Name) {
		return bad("members: %v must include this member %q", o.Members, o.Name)
	}
	for _, m := range o.Members {
		if !memberName.MatchString(m) {
			return bad("members: %q must be 1-63 lowercase letters, digits, '-' or '.'", m)
		}
	}
	if o.DataDir == "" {
		return bad("data_dir: must be set")
	}
	if o.LeaderSite != "" && o.Site == "" {
		return bad("site: must be set with leader_site %q", o.LeaderSite)
	}
	if o.Advertise == "" {
		return bad("advertise: must be set")
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.AdvertisePort == 0 {
		o.AdvertisePort = o.Port
	}
	if o.Port < 1 || o.Port > 65535 || o.AdvertisePort < 1 || o.AdvertisePort > 65535 {
		return bad("port: %d / %d is not a port", o.Port, o.AdvertisePort)
	}
	if o.Listen == "" {
		o.Listen = "*"
		if net.ParseIP(o.Advertise) != nil {
			o.Listen = o.Advertise
		}
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < 2*time.Second {
		return bad("ttl: %s is below etcd's shortest lease (2s)", o.TTL)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Interval <= 0 || o.Interval > o.TTL/3 {
		return bad("interval: %s must be in (0, ttl/3]", o.Interval)
	}
	if o.AppUser == "" {
		o.AppUser = DefaultAppUser
	}
	if !roleName.MatchString(o.AppUser) || o.AppUser == superuser || o.AppUser == replicationUser {
		return bad("app_user: %q must be a lowercase SQL name other than %s and %s", o.AppUser, superuser, replicationUser)
	}
	if o.AppDatabase == "" {
		o.AppDatabase = o.AppUser
	}
	if !roleName.MatchString(o.AppDatabase) || strings.HasPrefix(o.AppDatabase, "template") || o.AppDatabase == "postgres" {
		return bad("app_database: %q must be a lowercase SQL name, not postgres or a template", o.AppDatabase)
	}
	if o.Store == nil {
		return bad("store: must be set")
	}
	if len(o.TLS.CA) == 0 || len(o.TLS.Cert) == 0 || len(o.TLS.Key) == 0 {
		return bad("tls: the cluster CA, certificate and key are required: replication is encrypted")
	}
	if err := o.checkParameters(); err != nil {
		return o, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if m := o.Archive.Mode; m != "" && m != "on" && m != "always" && m != "off" {
		return bad("archive.mode: %q must be on, always or off", m)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}

// checkParameters refuses owned and malformed parameters, and settings
// that would break what tandem promises.
func (o Options) checkParameters() error {
	for name, v := range o.Parameters {
		n := strings.ToLower(name)
		field := "parameters." + name
		switch {
		case !paramName.MatchString(n):
			return fmt.Errorf("%s: not a PostgreSQL parameter name", field)
		case slices.Contains(OwnedParameters, n):
			return fmt.Errorf("%s: set by tandem, not settable (see OwnedParameters)", field)
		case strings.ContainsAny(v, "\n\r\x00"):
			return fmt.Errorf("%s: value holds a line break or NUL", field)
		case n == "wal_level" && !slices.Contains([]string{"replica", "logical"}, strings.ToLower(v)):
			return fmt.Errorf("%s: %q must be replica or logical: standbys need the WAL", field, v)
		case n == "synchronous_commit" && !o.Asynchronous && slices.Contains([]string{"off", "local"}, strings.ToLower(v)):
			return fmt.Errorf("%s: %q would acknowledge commits no standby has, in synchronous mode", field, v)
		}
	}
	return nil
}
