package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Errors of a DatabaseStore that callers branch on with errors.Is.
var (
	// ErrLeaseLost: the lease expired or was revoked.
	ErrLeaseLost = errors.New("lease expired or revoked")
	// ErrConflict: a compare-and-swap found the key changed (or the lease
	// taken) since it was read.
	ErrConflict = errors.New("changed concurrently")
)

// The keys of a database, under <prefix>db/<name>/:
//
//	leader        the primary's leader record, under its leader lease
//	sync          which standby is synchronous, written only by the lease holder
//	initialize    who bootstraps, then the system identifier
//	switchover    a requested switchover
//	credentials   the generated role passwords
//	members/<m>   member m's status, under m's member lease
const (
	dbLeader      = "leader"
	dbSync        = "sync"
	dbInitialize  = "initialize"
	dbSwitchover  = "switchover"
	dbCredentials = "credentials"
	dbMembers     = "members/"
)

// DatabaseKey is one key of a database as read: its value, the lease it
// lives under and its revision. Revision 0 means the key is absent.
type DatabaseKey struct {
	Value    []byte
	Lease    int64
	Revision int64
}

// DatabaseState is every key of a database at one revision.
type DatabaseState struct {
	Leader, Sync, Initialize, Switchover DatabaseKey
	Members                              map[string][]byte
	// Emergency is the sites' emergency key (see SitesState), read in
	// the same transaction: a follower site's member may take the lease
	// while one is declared.
	Emergency DatabaseKey
}

// DatabaseStore coordinates the members of one PostgreSQL cluster through
// etcd: a leader lease renewed explicitly (so that its holder knows when
// each renewal was sent), a sync key only the lease holder may change,
// member records under a lease, the bootstrap claim and the generated
// credentials. The values are opaque to it. Its methods are safe for
// concurrent use; each takes a context that bounds it.
type DatabaseStore struct {
	client *clientv3.Client
	own    bool   // the client is this store's; Close closes it
	dir    string // <prefix>db/<name>/
	// emergency is the sites' emergency key, <prefix>sites/emergency.
	emergency string

	mu          sync.Mutex // guards the fields below
	memberLease clientv3.LeaseID
	memberKept  time.Time // when the member lease was last granted or renewed
}

// NewDatabaseStore returns the store of database name on client, under
// the cluster's key prefix.
func NewDatabaseStore(client *clientv3.Client, prefix, name string) (*DatabaseStore, error) {
	keys, err := newKeyspace(prefix)
	if err != nil {
		return nil, fmt.Errorf("database store: %w", err)
	}
	if name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("database store: name %q must be non-empty and contain no /", name)
	}
	return &DatabaseStore{client: client, dir: string(keys) + "db/" + name + "/", emergency: keys.siteEmergency()}, nil
}

// OpenDatabaseStore returns the store of database name on a client of its
// own, which reconnects within a second of etcd coming back (gRPC's
// default back-off grows to two minutes, too long for a failover) and does
// not share its connection with the node's other traffic. endpoints
// default to this node's etcd (the embedded member, or the external
// cluster); tests pass a proxy's. Close closes the client.
func (c *Cluster) OpenDatabaseStore(name string, endpoints ...string) (*DatabaseStore, error) {
	var tlsCfg *tls.Config
	var err error
	if c.opts.External != nil {
		if len(endpoints) == 0 {
			endpoints = c.opts.External.Endpoints
		}
		if tlsCfg, err = c.opts.External.tlsConfig(); err != nil {
			return nil, fmt.Errorf("database store: %w", err)
		}
	} else {
		if c.pki == nil {
			return nil, fmt.Errorf("database store: %w", ErrNotOpen)
		}
		if len(endpoints) == 0 {
			endpoints = []string{c.opts.clientURL()}
		}
		tlsCfg = c.pki.clientTLS()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsCfg,
		Logger:               c.zlog,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: time.Second,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("database store: etcd client: %w", err)
	}
	s, err := NewDatabaseStore(cli, c.prefix, name)
	if err != nil {
		cli.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Close closes the store's own client; a store on a shared client has
// nothing to close. Leases are not revoked: they expire.
func (s *DatabaseStore) Close() error {
	if !s.own {
		return nil
	}
	if err := s.client.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close database store: %w", err)
	}
	return nil
}

// TLSPEM returns the cluster CA certificate and this node's certificate
// and key in PEM, for servers of this node that other nodes verify
// against the cluster CA (PostgreSQL's replication port). Valid after Open.
func (c *Cluster) TLSPEM() (caPEM, certPEM, keyPEM []byte) {
	if c.pki == nil {
		return nil, nil, nil
	}
	return c.pki.caPEM, c.pki.certPEM, c.pki.keyPEM
}

// Load reads every key of the database, and the sites' emergency key, in
// one linearizable read.
func (s *DatabaseStore) Load(ctx context.Context) (DatabaseState, error) {
	resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(s.dir, clientv3.WithPrefix()), clientv3.OpGet(s.emergency)).Commit()
	if err != nil {
		return DatabaseState{}, fmt.Errorf("load database state: %w", err)
	}
	st := DatabaseState{Members: make(map[string][]byte)}
	if r := resp.Responses[1].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
		kv := r.Kvs[0]
		st.Emergency = DatabaseKey{Value: kv.Value, Lease: kv.Lease, Revision: kv.ModRevision}
	}
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		k := DatabaseKey{Value: kv.Value, Lease: kv.Lease, Revision: kv.ModRevision}
		switch rest := strings.TrimPrefix(string(kv.Key), s.dir); {
		case rest == dbLeader:
			st.Leader = k
		case rest == dbSync:
			st.Sync = k
		case rest == dbInitialize:
			st.Initialize = k
		case rest == dbSwitchover:
			st.Switchover = k
		case strings.HasPrefix(rest, dbMembers):
			st.Members[strings.TrimPrefix(rest, dbMembers)] = kv.Value
		}
	}
	return st, nil
}

// Watch calls notify after every change to the database's keys and the
// sites' emergency key until ctx ends, re-establishing the watch (after a
// delay) when it breaks. It requires an etcd leader, so that a node cut
// off from the quorum notices. It returns ctx's error.
func (s *DatabaseStore) Watch(ctx context.Context, notify func()) error {
	var delay retryDelay
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		keys := s.client.Watch(wctx, s.dir, clientv3.WithPrefix())
		emergency := s.client.Watch(wctx, s.emergency)
		for {
			var resp clientv3.WatchResponse
			var ok bool
			select {
			case resp, ok = <-keys:
			case resp, ok = <-emergency:
			}
			if !ok || resp.Err() != nil {
				break
			}
			delay.reset()
			if len(resp.Events) > 0 {
				notify()
			}
		}
		cancel()
		notify() // the caller re-reads: events may have been missed
		if !delay.wait(ctx) {
			break
		}
	}
	return ctx.Err()
}
