package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Default ports and timings, used where Options leaves a field zero.
const (
	DefaultPeerPort            = 7380
	DefaultClientPort          = 7379
	DefaultNodePort            = 7946
	DefaultTickMs              = 100
	DefaultElectionMs          = 1000
	DefaultCompactionRetention = time.Hour
	DefaultAdvertise           = "127.0.0.1"
	// DefaultQuotaBackendBytes caps etcd's database. tandem keeps small
	// records (desired state, leases, purge events with a short
	// history), so 2 GiB, etcd's own recommended default, leaves a wide
	// margin.
	DefaultQuotaBackendBytes = 2 << 30
)

// Options configures a Cluster. Zero values take the defaults above.
type Options struct {
	Name string // cluster name: the etcd cluster token and the key prefix /tandem/<name>/
	Node string // this node's name, unique in the cluster; the etcd member name
	Zone string // failure domain of this node, sent along when joining
	Site string // site of this node, sent along when joining

	// DataDir holds etcd's data in DataDir/etcd and the certificates in
	// DataDir/pki.
	DataDir string

	// Advertise is the IP address or host name other nodes reach this node
	// at; "127.0.0.1" when empty. When it is an IP address the listeners
	// bind to it, otherwise to all addresses.
	Advertise string

	PeerPort   int // etcd peer port; DefaultPeerPort when 0
	ClientPort int // etcd client port; DefaultClientPort when 0
	NodePort   int // node-to-node HTTPS port (joins, NodeHandler); DefaultNodePort when 0

	// Join is a join token from CreateJoinToken on a member of the cluster
	// to join. It is used only when DataDir holds no etcd member yet; a
	// node that already is a member ignores it (and logs so).
	Join string

	// External, when set, connects to an existing etcd cluster instead of
	// running an embedded member. Joins are then not available: every node
	// is configured with the same endpoints.
	External *External

	// NodeListener, if not nil, is the node listener's socket that the
	// process which ran this node before an upgrade handed over (see
	// Cluster.NodeListenerFile): Open uses it in place of binding
	// NodePort, so that other nodes' requests queued on it meanwhile are
	// served. The Cluster owns it from Open on.
	NodeListener net.Listener

	// AvoidLeader, when it returns true, asks that this node not lead
	// etcd: the health loop moves the leadership to another member. nil
	// never asks.
	AvoidLeader func() bool
	// LeaderElsewhere names the members AvoidLeader hands the leadership
	// to only when no other can take it; nil names none.
	LeaderElsewhere func() []string

	// NodeHandler serves node-to-node requests other than joins on the node
	// listener. Only clients presenting a certificate from the cluster CA
	// reach it; nil answers 404 (until HandleNode gives one).
	NodeHandler http.Handler

	// TickMs and ElectionMs are etcd's raft heartbeat interval and election
	// timeout in milliseconds; DefaultTickMs and DefaultElectionMs when 0.
	TickMs, ElectionMs int

	// CompactionRetention is how much key history etcd keeps (periodic
	// compaction); DefaultCompactionRetention when 0.
	CompactionRetention time.Duration

	// QuotaBackendBytes caps the embedded member's database: at the
	// quota etcd raises its NOSPACE alarm and refuses writes across the
	// cluster until the database is compacted and defragmented below it,
	// when the node disarms the alarm; DefaultQuotaBackendBytes when 0.
	QuotaBackendBytes int64

	// DiskFloor is the free space under DataDir, in bytes, below which
	// the node stops its etcd member and refuses control-plane writes,
	// so that etcd never meets a full disk; DefaultDiskFloor when 0.
	DiskFloor int64
	// DiskReserve is the size of the file kept under DataDir and deleted
	// when the disk is nearly full, to give etcd room to stop cleanly;
	// DefaultDiskReserve when 0, none when negative.
	DiskReserve int64

	// Logger receives the cluster's and etcd's log; nil discards.
	Logger *slog.Logger
}

// External points at an existing etcd cluster.
type External struct {
	Endpoints []string // client URLs, e.g. https://10.0.0.1:2379
	CAFile    string   // CA that signed the etcd servers' certificates; empty: system roots
	CertFile  string   // client certificate; empty with KeyFile for no client certificate
	KeyFile   string
}

// namePattern is what cluster and node names may look like: they end up in
// etcd keys, member names and certificate names.
var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// withDefaults validates o and returns a copy with the defaults filled in.
func (o Options) withDefaults() (Options, error) {
	if !namePattern.MatchString(o.Name) {
		return o, fmt.Errorf("name: %q must be 1-63 lowercase letters, digits, '-' or '.'", o.Name)
	}
	if !namePattern.MatchString(o.Node) {
		return o, fmt.Errorf("node: %q must be 1-63 lowercase letters, digits, '-' or '.'", o.Node)
	}
	if o.DataDir == "" {
		return o, errors.New("data_dir: must be set")
	}
	if o.Advertise == "" {
		o.Advertise = DefaultAdvertise
	}
	if err := checkHost(o.Advertise); err != nil {
		return o, fmt.Errorf("advertise: %w", err)
	}
	for _, p := range []struct {
		name string
		v    *int
		def  int
	}{{"peer_port", &o.PeerPort, DefaultPeerPort}, {"client_port", &o.ClientPort, DefaultClientPort}, {"node_port", &o.NodePort, DefaultNodePort}} {
		if *p.v == 0 {
			*p.v = p.def
		}
		if *p.v < 1 || *p.v > 65535 {
			return o, fmt.Errorf("%s: %d is not a port", p.name, *p.v)
		}
	}
	if o.TickMs == 0 {
		o.TickMs = DefaultTickMs
	}
	if o.ElectionMs == 0 {
		o.ElectionMs = DefaultElectionMs
	}
	if o.TickMs < 1 || o.ElectionMs < 5*o.TickMs {
		return o, fmt.Errorf("election_ms: %d must be at least 5 × tick_ms (%d)", o.ElectionMs, o.TickMs)
	}
	if o.CompactionRetention == 0 {
		o.CompactionRetention = DefaultCompactionRetention
	}
	if o.CompactionRetention < 0 {
		return o, fmt.Errorf("compaction_retention: %v must be > 0", o.CompactionRetention)
	}
	if o.QuotaBackendBytes == 0 {
		o.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if o.QuotaBackendBytes < 0 {
		return o, fmt.Errorf("quota_backend_bytes: %d must be > 0", o.QuotaBackendBytes)
	}
	if o.DiskFloor == 0 {
		o.DiskFloor = DefaultDiskFloor
	}
	if o.DiskFloor < 0 {
		return o, fmt.Errorf("disk_floor: %d must be > 0", o.DiskFloor)
	}
	switch {
	case o.DiskReserve == 0:
		o.DiskReserve = DefaultDiskReserve
	case o.DiskReserve < 0:
		o.DiskReserve = 0
	}
	if o.External != nil {
		if err := o.External.check(); err != nil {
			return o, fmt.Errorf("external: %w", err)
		}
		if o.Join != "" {
			return o, errors.New("join: a node using an external etcd does not join; configure the same endpoints on every node")
		}
	}
	if o.Join != "" {
		if _, err := ParseJoinToken(o.Join); err != nil {
			return o, fmt.Errorf("join: %w", err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func (e *External) check() error {
	if len(e.Endpoints) == 0 {
		return errors.New("endpoints: must list at least one etcd client URL")
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		return errors.New("cert_file and key_file: set both or neither")
	}
	return nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 || !hostPattern.MatchString(h) {
		return fmt.Errorf("%q is neither an IP address nor a host name", h)
	}
	return nil
}

var hostPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// bindHost is the address the listeners bind to: the advertised IP address,
// or all addresses when a host name is advertised (etcd binds only to IPs).
func (o *Options) bindHost() string {
	if net.ParseIP(o.Advertise) != nil {
		return o.Advertise
	}
	return "0.0.0.0"
}

func (o *Options) peerURL() string {
	return "https://" + net.JoinHostPort(o.Advertise, strconv.Itoa(o.PeerPort))
}
func (o *Options) clientURL() string {
	return "https://" + net.JoinHostPort(o.Advertise, strconv.Itoa(o.ClientPort))
}
func (o *Options) nodeAddr() string { return net.JoinHostPort(o.Advertise, strconv.Itoa(o.NodePort)) }
