package pgha

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// layout names the files and directories of a member's DataDir.
type layout struct {
	root string
}

func (l layout) data() string      { return filepath.Join(l.root, "data") }
func (l layout) conf() string      { return filepath.Join(l.root, "conf") }
func (l layout) tls() string       { return filepath.Join(l.root, "tls") }
func (l layout) run() string       { return filepath.Join(l.root, "run") }
func (l layout) pgpass() string    { return filepath.Join(l.root, "pgpass") }
func (l layout) state() string     { return filepath.Join(l.root, "state.json") }
func (l layout) logFile() string   { return filepath.Join(l.root, "postgresql.log") }
func (l layout) confFile() string  { return filepath.Join(l.conf(), "postgresql.conf") }
func (l layout) hbaFile() string   { return filepath.Join(l.conf(), "pg_hba.conf") }
func (l layout) identFile() string { return filepath.Join(l.conf(), "pg_ident.conf") }
func (l layout) caFile() string    { return filepath.Join(l.tls(), "ca.crt") }
func (l layout) certFile() string  { return filepath.Join(l.tls(), "server.crt") }
func (l layout) keyFile() string   { return filepath.Join(l.tls(), "server.key") }
func (l layout) standbySignal() string {
	return filepath.Join(l.data(), "standby.signal")
}
func (l layout) autoConf() string { return filepath.Join(l.data(), "postgresql.auto.conf") }

// dataConf is the postgresql.conf of the data directory: it only
// includes tandem's file, so that every postgres run on the directory
// (the server, and pg_rewind's single-user crash recovery, whose settings
// the control file records) reads tandem's settings. A base backup or a
// rewind copies the source's; tandem writes it again after either.
func (l layout) dataConf() []byte {
	return []byte("# Written by tandem; changes are overwritten. Set parameters in the stack file.\ninclude " +
		quoteConf(l.confFile()) + "\n")
}

// role is how postgres is to run.
type role struct {
	standby  bool
	upstream string // host:port of the member followed; "" for none
	// upstreamName is that member's name; it appears in primary_conninfo
	// only through the address.
	upstreamName string
	syncNames    string // "", "*" or a member name
}

// settings returns every setting of tandem's postgresql.conf for r.
func (o *Options) settings(l layout, r role) map[string]string {
	s := map[string]string{
		// Defaults the stack file may change.
		"wal_level":              "replica",
		"max_wal_senders":        strconv.Itoa(len(o.Members) + 8),
		"max_replication_slots":  strconv.Itoa(len(o.Members) + 8),
		"wal_keep_size":          "256MB",
		"max_slot_wal_keep_size": "8GB",
		"log_line_prefix":        "%m [%p] %q%u@%d ",
		"shared_buffers":         "128MB",
	}
	maps.Copy(s, o.Parameters)
	owned := map[string]string{
		"hba_file":                l.hbaFile(),
		"ident_file":              l.identFile(),
		"listen_addresses":        o.Listen,
		"port":                    strconv.Itoa(o.Port),
		"unix_socket_directories": l.run(),
		"cluster_name":            o.Name,
		"logging_collector":       "off",
		"ssl":                     "on",
		"ssl_ca_file":             l.caFile(),
		"ssl_cert_file":           l.certFile(),
		"ssl_key_file":            l.keyFile(),
		"hot_standby":             "on",
		"wal_log_hints":           "on",
		// A standby notices a silent primary within the lease's TTL (it
		// does not take the lease while it still streams), and a primary
		// a silent standby (the failsafe relies on its replies).
		"wal_sender_timeout":           ttlSetting(o.TTL),
		"wal_receiver_timeout":         ttlSetting(o.TTL),
		"wal_receiver_status_interval": "1s",
		// A standby acts on a promotion only after this wait between
		// attempts to reach its upstream: it bounds promotion time.
		"wal_retrieve_retry_interval": "200ms",
		"recovery_target_timeline":    "latest",
		"synchronous_standby_names":   syncNamesSetting(r.syncNames),
	}
	if r.standby && r.upstream != "" {
		owned["primary_conninfo"] = o.replicationConninfo(l, r.upstream)
		owned["primary_slot_name"] = slotName(o.Name)
	}
	if a := o.Archive; a.Mode != "" {
		owned["archive_mode"] = a.Mode
		owned["archive_command"] = a.Command
		if a.Timeout > 0 {
			owned["archive_timeout"] = strconv.Itoa(int(a.Timeout/time.Second)) + "s"
		}
	}
	if o.Archive.RestoreCommand != "" {
		owned["restore_command"] = o.Archive.RestoreCommand
	}
	maps.Copy(s, owned)
	return s
}

// ttlSetting is a duration in milliseconds for postgresql.conf.
func ttlSetting(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// renderConf writes settings as a postgresql.conf, sorted by name.
func renderConf(s map[string]string) []byte {
	var b strings.Builder
	b.WriteString("# Written by tandem; changes are overwritten. Set parameters in the stack file.\n")
	for _, k := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s = %s\n", k, quoteConf(s[k]))
	}
	return []byte(b.String())
}

// quoteConf quotes a postgresql.conf value.
func quoteConf(v string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", "''") + "'"
}

// syncNamesSetting is synchronous_standby_names for tandem's name.
func syncNamesSetting(name string) string {
	switch name {
	case "", "*":
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// slotName is the replication slot of member on the primary.
func slotName(member string) string {
	return "tandem_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, member)
}

// replicationConninfo is the libpq connection string a standby (and
// pg_basebackup) uses to reach addr: TLS verified against the cluster CA,
// the password from the member's passfile, keepalives so that a dead peer
// is noticed in seconds.
func (o *Options) replicationConninfo(l layout, addr string) string {
	return o.conninfo(l, addr, replicationUser, "", o.Name)
}

// conninfo is a libpq connection string to addr as user. app is the
// application_name: a standby's is its member name, which the primary's
// pg_stat_replication and synchronous_standby_names go by; other
// connections (a base backup's) must use another.
func (o *Options) conninfo(l layout, addr, user, dbname, app string) string {
	host, port, _ := strings.Cut(addr, ":")
	kv := []string{
		"host=" + host, "port=" + port, "user=" + user,
		"passfile=" + l.pgpass(), "sslmode=verify-ca", "sslrootcert=" + l.caFile(),
		"application_name=" + app, "connect_timeout=2",
		"keepalives=1", "keepalives_idle=2", "keepalives_interval=1", "keepalives_count=3",
	}
	if dbname != "" {
		kv = append(kv, "dbname="+dbname)
	}
	return strings.Join(kv, " ")
}

// renderHBA is pg_hba.conf: the local socket for tandem (peer, mapped),
// replication and the superuser only over TLS with a password, the
// stack's lines, then password logins from anywhere.
func (o *Options) renderHBA() []byte {
	lines := []string{
		"# Written by tandem; changes are overwritten.",
		"local   all          all                      peer map=tandem",
		"hostssl replication  " + replicationUser + "   all          scram-sha-256",
		"hostssl all          " + superuser + "     all          scram-sha-256",
		"host    replication  all          all          reject",
		"host    all          " + superuser + "     all          reject",
	}
	lines = append(lines, o.HBA...)
	lines = append(lines, "host    all          all          all          scram-sha-256")
	return []byte(strings.Join(lines, "\n") + "\n")
}

// renderIdent maps the OS user tandem runs as (and postgres) to the
// superuser on the local socket.
func renderIdent(tandemUser string) []byte {
	return []byte(fmt.Sprintf("# Written by tandem; changes are overwritten.\ntandem %s %s\ntandem %s %s\n",
		tandemUser, superuser, superuser, superuser))
}

// renderPgpass is the passfile for replication and rewind connections.
func renderPgpass(c Credentials) []byte {
	esc := func(s string) string { return strings.NewReplacer(`\`, `\\`, ":", `\:`).Replace(s) }
	return []byte(fmt.Sprintf("*:*:*:%s:%s\n*:*:*:%s:%s\n",
		esc(c.Replication.User), esc(c.Replication.Password), esc(c.Superuser.User), esc(c.Superuser.Password)))
}

// sanitizeAutoConf drops from a postgresql.auto.conf (written by ALTER
// SYSTEM, copied by pg_rewind and pg_basebackup from the source) every
// setting tandem owns, since it would override tandem's file. It returns
// the new content and the names dropped.
func sanitizeAutoConf(data []byte) ([]byte, []string) {
	var out strings.Builder
	var dropped []string
	for line := range strings.Lines(string(data)) {
		name := confLineName(line)
		if name != "" && slices.Contains(OwnedParameters, name) {
			dropped = append(dropped, name)
			continue
		}
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n")
		}
	}
	return []byte(out.String()), dropped
}

// confLineName returns the lower-cased parameter a postgresql.conf line
// sets, "" for comments, blank and malformed lines.
func confLineName(line string) string {
	s := strings.TrimSpace(line)
	if s == "" || strings.HasPrefix(s, "#") {
		return ""
	}
	end := strings.IndexAny(s, " \t=")
	if end <= 0 {
		return ""
	}
	name := strings.ToLower(s[:end])
	if !paramName.MatchString(name) {
		return ""
	}
	return name
}
