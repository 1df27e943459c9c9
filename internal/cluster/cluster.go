// Package cluster joins tandem nodes into one cluster on etcd. It is the only
// package that imports etcd.
//
// By default every node runs an embedded etcd member in DataDir/etcd. The
// first node creates a cluster CA (ECDSA P-256, valid 10 years) and its own
// certificate in DataDir/pki, and starts a one-member cluster. etcd's peer
// and client ports require a certificate from that CA: nothing reaches etcd
// unauthenticated.
//
// More nodes join with a join token, in the style of kubeadm. A member
// creates one with CreateJoinToken; the token names the inviting node's
// address, a token id and secret, and the SHA-256 of the CA certificate. A
// node started with the token and an empty data directory connects to the
// inviter's node listener, verifying the inviter's certificate against the
// pinned CA (it never trusts the first certificate it sees), and sends a
// certificate signing request. The inviter checks the secret, adds the
// joiner as an etcd learner and answers with a signed certificate, the CA
// certificate and the CA key. The joiner starts its member and promotes
// itself to a voting member once it has caught up.
//
// Every member holds the CA key, so that any member can admit the next node
// and the cluster keeps no special node: whoever can read one member's data
// directory can mint certificates for the cluster. A token is reusable
// until its TTL ends, so one token can admit several nodes; etcd admits one
// learner at a time, so joins are serialised and a concurrent join gets
// ErrJoinInProgress and retries.
//
// With Options.External, tandem runs no member and connects to an existing
// etcd cluster; the cluster CA for the node listener is then kept in that
// etcd under <prefix>pki/ca and every node issues its own certificate.
//
// Every key tandem writes lives under Prefix, "/tandem/<name>/".
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// Errors callers may branch on with errors.Is.
var (
	ErrNoQuorum        = errors.New("cluster has no quorum")
	ErrJoinInProgress  = errors.New("another node is joining; retry")
	ErrJoinToken       = errors.New("join token refused")
	ErrCAMismatch      = errors.New("node certificate does not match the CA pinned by the join token")
	ErrNameInUse       = errors.New("node name already used by a member")
	ErrExternal        = errors.New("not available with an external etcd")
	ErrUnknownMember   = errors.New("no such member")
	ErrLastMember      = errors.New("cannot remove the last member")
	ErrPeerURLInUse    = errors.New("peer URL already used by a member")
	ErrWouldLoseQuorum = errors.New("removal would leave the cluster without quorum")
	ErrNotOpen         = errors.New("cluster not open")
	ErrNodeRunning     = errors.New("the node is running")
	ErrJoinTokenTTL    = errors.New("join token lifetime out of range")
)

// Cluster is this node's part of the cluster: its etcd member (or a
// connection to an external etcd), a client, the node listener for joins
// and node-to-node calls, and a view of the cluster's health.
type Cluster struct {
	opts Options
	log  *slog.Logger
	zlog *zap.Logger // etcd's and the etcd client's logger, bridged to log
	// stopping demotes etcd's log to debug once shutdown has begun.
	stopping atomic.Bool
	prefix   string
	now      func() time.Time

	// healthEvery is the health loop's period; probe is its check, a
	// linearizable read that returns the leader's name. Tests replace them.
	healthEvery time.Duration
	probe       func(context.Context) (leader string, err error)

	// guard measures DataDir's free space and refuses control-plane
	// writes below its floor; reserve is the space held back for etcd.
	// diskEvery is the disk loop's period; wake makes it check at once (a
	// write was refused for space); fatal receives etcd's fatal errors
	// (see fatalHook). logs limits the log of failures that repeat.
	guard     *diskGuard
	reserve   diskReserve
	diskEvery time.Duration
	wake      chan struct{}
	fatal     chan error
	logs      *telemetry.LogLimiter

	// nodeHandler serves the node listener's requests other than joins;
	// Options.NodeHandler, or HandleNode's.
	nodeHandler atomic.Pointer[http.Handler]

	// Set by Open and read-only afterwards.
	pki    *pki
	member *member // nil with an external etcd
	client *clientv3.Client

	mu     sync.Mutex // guards the fields below
	health Health
	leader uint64       // member ID behind health.Leader, 0 when unknown
	nodeLn net.Listener // bound by Open, handed to Run; nil once Run took it
	// nodeSock is the node listener's socket, bound by Open and kept for
	// NodeListenerFile.
	nodeSock *net.TCPListener
	opened   bool // Open was called
	ready    bool // Open succeeded
	closed   bool
}

// New validates opts and returns a Cluster that has started nothing.
func New(opts Options) (*Cluster, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("cluster options: %w", err)
	}
	c := &Cluster{
		opts:        o,
		log:         o.Logger,
		prefix:      "/tandem/" + o.Name + "/",
		now:         time.Now,
		healthEvery: time.Second,
		guard:       newDiskGuard(o.DataDir, o.DiskFloor),
		reserve:     diskReserve{path: filepath.Join(o.DataDir, reserveFile), size: o.DiskReserve},
		diskEvery:   diskCheckEvery,
		wake:        make(chan struct{}, 1),
		fatal:       make(chan error, 1),
		logs:        telemetry.NewLogLimiter(o.Logger, 0),
	}
	c.guard.onLow, c.guard.onChange = c.wakeDiskLoop, c.logDiskChange
	c.zlog = newZapLogger(o.Logger, zapcore.WarnLevel, &c.stopping, zap.WithFatalHook(fatalHook{failed: c.etcdFailed}))
	if o.NodeHandler != nil {
		c.HandleNode(o.NodeHandler)
	}
	c.probe = c.probeQuorum
	return c, nil
}

// Open brings this node into the cluster: it starts the embedded member
// (creating the cluster, joining it with Options.Join, or restarting from
// DataDir) or connects to the external etcd, and returns once a
// linearizable read succeeds, with the node listener bound. It fails when
// ctx ends first, for example while a restarting member waits for a quorum
// of its cluster. Joining takes a few seconds at least: etcd adds a member
// only once the others have been connected for five seconds.
func (c *Cluster) Open(ctx context.Context) error {
	c.mu.Lock()
	if c.opened || c.closed {
		c.mu.Unlock()
		return errors.New("open cluster: already opened")
	}
	c.opened = true
	c.mu.Unlock()
	// A member started on a disk below the floor could meet a full disk
	// as it preallocates its WAL.
	err := c.guard.admit()
	switch {
	case err != nil:
	case c.opts.External != nil:
		err = c.openExternal(ctx)
	default:
		err = c.openEmbedded(ctx)
	}
	if err == nil {
		err = c.waitQuorum(ctx)
	}
	var ln net.Listener
	if err == nil {
		// Bound here so that a taken port fails Open and joiners can
		// connect as soon as Run serves.
		ln, err = c.bindNode()
	}
	if err != nil {
		if c.opts.NodeListener != nil && ln == nil {
			c.opts.NodeListener.Close()
		}
		c.shutdown()
		return fmt.Errorf("open cluster %s: %w", c.opts.Name, err)
	}
	c.mu.Lock()
	c.health = Health{Quorum: true, Since: c.now()}
	c.nodeLn, c.ready = ln, true
	c.nodeSock, _ = ln.(*net.TCPListener)
	c.mu.Unlock()
	return nil
}

// bindNode binds the node listener, or takes Options.NodeListener.
func (c *Cluster) bindNode() (net.Listener, error) {
	if ln := c.opts.NodeListener; ln != nil {
		c.log.Info("node listener inherited", "addr", ln.Addr().String())
		return ln, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(c.opts.bindHost(), strconv.Itoa(c.opts.NodePort)))
	if err != nil {
		return nil, fmt.Errorf("node listener: %w", err)
	}
	return ln, nil
}

// NodeListenerFile returns a duplicate of the node listener's socket
// (close-on-exec set), for a handover to the next binary of an upgrade:
// with it open, the socket outlives Run, and other nodes' requests wait
// in its backlog. It needs the cluster open.
func (c *Cluster) NodeListenerFile() (*os.File, error) {
	c.mu.Lock()
	sock := c.nodeSock
	c.mu.Unlock()
	if sock == nil {
		return nil, fmt.Errorf("node listener: %w", ErrNotOpen)
	}
	f, err := sock.File()
	if err != nil {
		return nil, fmt.Errorf("node listener: %w", err)
	}
	return f, nil
}

// Run serves the node listener (joins and Options.NodeHandler), checks
// the cluster's health every second and keeps the embedded member
// running until ctx ends. Losing quorum is reported through Health and
// the log; it never ends Run. Nor does the member stopping: the disk
// guard stops it below DataDir's floor and starts it again above, a
// listener error restarts it, and a fatal error of etcd leaves it failed
// (Health says so) while the node serves from its last view. Run returns
// an error only when the node listener fails. It is called once, after
// Open.
func (c *Cluster) Run(ctx context.Context) error {
	c.mu.Lock()
	ln := c.nodeLn
	c.nodeLn = nil
	c.mu.Unlock()
	if ln == nil {
		return fmt.Errorf("run cluster: %w (or already running)", ErrNotOpen)
	}
	srv := &http.Server{
		Handler:           c.nodeMux(),
		TLSConfig:         c.pki.serverTLS(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() { serveErr <- srv.ServeTLS(ln, "", "") })
	loopCtx, stopLoop := context.WithCancel(ctx)
	wg.Go(func() { c.healthLoop(loopCtx) })
	wg.Go(func() { c.diskLoop(loopCtx) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("run cluster: node listener: %w", err)
	}
	stopLoop()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		srv.Close()
	}
	wg.Wait()
	return err
}

// usable reports whether Open succeeded and Close was not called.
func (c *Cluster) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready && !c.closed
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// newClient connects an etcd client, whose writes the disk guard admits
// (see gate); it does not wait for a connection.
func (c *Cluster) newClient(endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsCfg,
		Logger:               c.zlog,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	gate(cli, c.guard.admit)
	return cli, nil
}

// waitQuorum retries a linearizable read until it succeeds or ctx ends.
func (c *Cluster) waitQuorum(ctx context.Context) error {
	delay := 50 * time.Millisecond
	for {
		err := c.readQuorum(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrNoQuorum, err)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("%w: %w", ErrNoQuorum, err)
		}
		delay = min(2*delay, time.Second)
	}
}

// readQuorum is one linearizable read, bounded to a second: it succeeds
// only when a quorum of members is reachable.
func (c *Cluster) readQuorum(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := c.client.Get(ctx, c.prefix+"quorum", clientv3.WithCountOnly())
	return err
}

// Close stops the client and the embedded member. It is idempotent.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	return c.shutdown()
}

func (c *Cluster) shutdown() error {
	c.stopping.Store(true)
	c.mu.Lock()
	ln := c.nodeLn
	c.nodeLn = nil
	c.mu.Unlock()
	if ln != nil {
		ln.Close() // never served: nothing to report
	}
	var err error
	if c.client != nil {
		if cerr := c.client.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = fmt.Errorf("close etcd client: %w", cerr)
		}
	}
	if c.member != nil {
		c.member.close()
	}
	return err
}

// HandleNode makes h serve the node listener's requests other than joins
// (the node-to-node API), in place of Options.NodeHandler. The parts that
// serve it may need the cluster to be built first.
func (c *Cluster) HandleNode(h http.Handler) { c.nodeHandler.Store(&h) }

// Client is the etcd client, valid after Open returned nil.
func (c *Cluster) Client() *clientv3.Client { return c.client }

// Prefix is the key prefix every key tandem writes lives under,
// "/tandem/<name>/".
func (c *Cluster) Prefix() string { return c.prefix }

// NodeAddr is the host:port other nodes reach this node's listener at.
func (c *Cluster) NodeAddr() string { return c.opts.nodeAddr() }

// ClientTLS returns a TLS client configuration with this node's certificate
// that trusts only the cluster CA, for node-to-node HTTPS calls. It is
// valid after Open; every call returns a fresh copy.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.pki == nil {
		return nil
	}
	return c.pki.clientTLS()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
