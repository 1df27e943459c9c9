package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tandem-run/tandem/bench/host"
)

// patroniCluster is the anchor's Patroni setup: one etcd and two Patroni
// nodes with their PostgreSQL on 127.0.0.1, synchronous_mode on, the
// PostgreSQL settings the anchor used. Patroni runs as the postgres user.
type patroniCluster struct {
	bins      map[string]string // patroni, patronictl, etcd; PostgreSQL's bin dir as "pgbin"
	s         setup
	dir       string
	log       io.Writer
	cred      *syscall.Credential
	http      *http.Client
	etcdPort  int
	etcdPeer  int
	etcd      *proc
	nodes     [2]*patroniNode
	preferred atomic.Int32 // the node Connect tries first: the last primary found
}

type patroniNode struct {
	name, cfg, dataDir, logPath string
	pgPort, apiPort             int
	proc                        *proc
}

const patroniConfig = `scope: bench
namespace: /bench/
name: %[1]s
restapi:
  listen: 127.0.0.1:%[2]d
  connect_address: 127.0.0.1:%[2]d
etcd3:
  hosts: 127.0.0.1:%[3]d
bootstrap:
  dcs:
    ttl: %[4]d
    loop_wait: %[5]d
    retry_timeout: %[6]d
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
  initdb:
  - encoding: UTF8
  - data-checksums
postgresql:
  listen: 127.0.0.1:%[7]d
  connect_address: 127.0.0.1:%[7]d
  data_dir: %[8]s
  bin_dir: %[9]s
  pgpass: %[10]s
  authentication:
    superuser: {username: postgres, password: bench}
    replication: {username: replicator, password: bench}
  parameters:
    unix_socket_directories: %[11]s
    shared_buffers: 64MB
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication replicator 127.0.0.1/32 trust
`

// patroniConnectTimeout is the anchor probe's: a node that does not
// answer soon is skipped for the other.
const patroniConnectTimeout = 1500 * time.Millisecond

func newPatroniCluster(bins map[string]string, s setup, dir string, log io.Writer) (*patroniCluster, error) {
	cred, err := host.PostgresUser()
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return nil, err
	}
	ports, err := freePorts("127.0.0.1", 6)
	if err != nil {
		return nil, err
	}
	c := &patroniCluster{bins: bins, s: s, dir: dir, log: log, cred: cred, http: &http.Client{Timeout: 5 * time.Second},
		etcdPort: ports[0], etcdPeer: ports[1]}
	for i := range c.nodes {
		n := &patroniNode{name: "node" + strconv.Itoa(i+1), pgPort: ports[2+i], apiPort: ports[4+i]}
		n.cfg = filepath.Join(dir, n.name+".yml")
		n.dataDir = filepath.Join(dir, n.name)
		n.logPath = filepath.Join(dir, n.name+".log")
		body := fmt.Sprintf(patroniConfig, n.name, n.apiPort, c.etcdPort, s.TTL, s.LoopWait, s.RetryTimeout,
			n.pgPort, n.dataDir, bins["pgbin"], filepath.Join(dir, "pgpass-"+n.name), dir)
		if err := os.WriteFile(n.cfg, []byte(body), 0o644); err != nil {
			return nil, err
		}
		c.nodes[i] = n
	}
	return c, nil
}

// Start starts etcd, then node1 (which bootstraps), then node2.
func (c *patroniCluster) Start(ctx context.Context) error {
	if err := c.startEtcd(ctx); err != nil {
		return err
	}
	if err := c.startNode(c.nodes[0]); err != nil {
		return err
	}
	if err := waitHTTP(ctx, c.http, c.api(c.nodes[0], "/primary"), readyTimeout); err != nil {
		return fmt.Errorf("patroni node1 did not bootstrap: %w", err)
	}
	return c.startNode(c.nodes[1])
}

func (c *patroniCluster) startEtcd(ctx context.Context) error {
	client := "http://127.0.0.1:" + strconv.Itoa(c.etcdPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(c.etcdPeer)
	p, err := startProc(procSpec{name: "etcd", log: filepath.Join(c.dir, "etcd.log"), argv: []string{c.bins["etcd"],
		"--name", "bench", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bench=" + peer, "--initial-cluster-state", "new"}})
	if err != nil {
		return err
	}
	c.etcd = p
	return waitHTTP(ctx, c.http, client+"/health", time.Minute)
}

func (c *patroniCluster) startNode(n *patroniNode) error {
	p, err := startProc(procSpec{name: "patroni " + n.name, argv: []string{c.bins["patroni"], n.cfg},
		env: []string{"HOME=/var/lib/postgresql"}, log: n.logPath, cred: c.cred})
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

func (c *patroniCluster) api(n *patroniNode, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(n.apiPort) + path
}

func (c *patroniCluster) node(name string) *patroniNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	panic("no patroni node " + name)
}

// Connect implements cluster as the anchor's probe does: each node in
// turn, the last primary first, until one is not in recovery.
func (c *patroniCluster) Connect(ctx context.Context) (*pgx.Conn, error) {
	var errs []error
	start := int(c.preferred.Load())
	for k := range c.nodes {
		i := (start + k) % len(c.nodes)
		conn, err := c.connectPrimary(ctx, c.nodes[i])
		if err == nil {
			c.preferred.Store(int32(i))
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (c *patroniCluster) connectPrimary(ctx context.Context, n *patroniNode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("postgres://postgres@127.0.0.1:" + strconv.Itoa(n.pgPort) + "/postgres?sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = patroniConnectTimeout
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, patroniConnectTimeout)
	defer cancel()
	var inRecovery bool
	if err := conn.QueryRow(qctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || inRecovery {
		conn.Close(context.Background())
		if err == nil {
			err = fmt.Errorf("%s is in recovery", n.name)
		}
		return nil, err
	}
	return conn, nil
}

// Leader implements cluster: the node whose REST API answers /primary
// with 200.
func (c *patroniCluster) Leader(ctx context.Context) (string, error) {
	for _, n := range c.nodes {
		if httpOK(ctx, c.http, c.api(n, "/primary")) {
			return n.name, nil
		}
	}
	return "", nil
}

// Standby implements cluster: the leader's GET /patroni lists its
// replication connections (pg_stat_replication) by member name.
func (c *patroniCluster) Standby(ctx context.Context, name string) (bool, bool, error) {
	leader, err := c.Leader(ctx)
	if err != nil || leader == "" || leader == name {
		return false, false, err
	}
	var st struct {
		Replication []struct {
			Name      string `json:"application_name"`
			State     string `json:"state"`
			SyncState string `json:"sync_state"`
		} `json:"replication"`
	}
	if err := getJSON(ctx, c.http, c.api(c.node(leader), "/patroni"), &st); err != nil {
		return false, false, err
	}
	for _, r := range st.Replication {
		if r.Name == name && r.State == "streaming" {
			return true, r.SyncState == "sync", nil
		}
	}
	return false, false, nil
}

// Other implements cluster.
func (c *patroniCluster) Other(name string) string {
	if name == "node1" {
		return "node2"
	}
	return "node1"
}

// Addr implements cluster.
func (c *patroniCluster) Addr(name string) string {
	return "127.0.0.1:" + strconv.Itoa(c.node(name).pgPort)
}

// Crash implements cluster as the anchor does: Patroni, its postmaster
// and every child, frozen and killed together.
func (c *patroniCluster) Crash(name string) (time.Time, error) {
	n := c.node(name)
	return crashNode(c.log, "patroni "+name, n.proc, n.dataDir)
}

// Restart implements cluster: Patroni started again on its config.
func (c *patroniCluster) Restart(_ context.Context, name string) error {
	return c.startNode(c.node(name))
}

// Switchover implements cluster: patronictl switchover.
func (c *patroniCluster) Switchover(ctx context.Context, from, to string) error {
	out, err := exec.CommandContext(ctx, c.bins["patronictl"], "-c", c.nodes[0].cfg, "switchover",
		"--leader", from, "--candidate", to, "--force").CombinedOutput()
	if err != nil {
		return fmt.Errorf("patronictl switchover: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop implements cluster: both Patroni nodes, then etcd.
func (c *patroniCluster) Stop(failed bool) string {
	var procs []*proc
	var dirs []string
	for _, n := range c.nodes {
		if n != nil {
			procs, dirs = append(procs, n.proc), append(dirs, n.dataDir)
		}
	}
	stopNodes(procs, dirs)
	if c.etcd != nil {
		c.etcd.stop(10 * time.Second)
	}
	return keepOrRemove(c.dir, failed)
}
