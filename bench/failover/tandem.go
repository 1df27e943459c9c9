package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// tandemCluster is three `tandem up` nodes on 127.0.0.1, .2 and .3, in
// zones a, b and c, one etcd member each; the database's members are
// node-a and node-b. The load goes through node-c's DB endpoint
// (DATABASE_URL), which stays up: the way an app on a third node reaches
// the database.
type tandemCluster struct {
	bin, app, dir string
	log           io.Writer
	pgPort        int
	nodes         []*tandemNode
	http          *http.Client

	connCfg *pgx.ConnConfig // node-c's DATABASE_URL; holds the app's password: never logged
	token   string          // node-c's root token for its admin API
}

type tandemNode struct {
	name, ip, file, dataDir, admin, logPath string
	proc                                    *proc
}

// tandemStack is a node's stack file. The app is the benchmark program,
// which writes the DATABASE_URL it gets to a file the benchmark reads.
const tandemStack = `cluster: { name: bench, node: %[1]s, zone: %[2]s, data_dir: %[3]q, advertise: %[4]s, peer_port: %[5]d, client_port: %[6]d, node_port: %[7]d }
edge: { listen: %[8]q, access_log: "off", cache: { memory: 0 } }
admin: { listen: %[9]q }
log: { level: info }
database:
  postgres:
    members: [node-a, node-b]
    port: %[10]d
    parameters: { shared_buffers: 64MB }
    endpoint: { listen: %[11]q }
    read_endpoint: { listen: %[12]q }
apps:
  probe:
    command: [%[13]q]
    env: { %[14]s: "1", %[15]s: %[16]q }
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
`

// endpointConnectTimeout bounds a connection through the DB endpoint:
// longer than the endpoint's hold (5 s), so a connection held while
// there is no primary goes on to the new one rather than timing out.
const endpointConnectTimeout = 8 * time.Second

func newTandemCluster(bin, app, dir string, log io.Writer) (*tandemCluster, error) {
	c := &tandemCluster{bin: bin, app: app, dir: dir, log: log, http: &http.Client{Timeout: 5 * time.Second}}
	var err error
	if c.pgPort, err = freePortOn("127.0.0.1", "127.0.0.2"); err != nil {
		return nil, err
	}
	for i, zone := range []string{"a", "b", "c"} {
		n := &tandemNode{name: "node-" + zone, ip: "127.0.0." + strconv.Itoa(i+1)}
		n.file = filepath.Join(dir, n.name+".yaml")
		n.dataDir = filepath.Join(dir, n.name)
		n.logPath = filepath.Join(dir, n.name+".log")
		ports, err := freePorts(n.ip, 7)
		if err != nil {
			return nil, err
		}
		n.admin = net.JoinHostPort(n.ip, strconv.Itoa(ports[4]))
		body := fmt.Sprintf(tandemStack, n.name, zone, n.dataDir, n.ip, ports[0], ports[1], ports[2],
			net.JoinHostPort(n.ip, strconv.Itoa(ports[3])), n.admin, c.pgPort,
			net.JoinHostPort(n.ip, strconv.Itoa(ports[5])), net.JoinHostPort(n.ip, strconv.Itoa(ports[6])),
			app, appEnv, appDirEnv, dir)
		if err := os.WriteFile(n.file, []byte(body), 0o600); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// Start starts node-a, which creates the cluster and the database, then
// node-b and node-c with a join token.
func (c *tandemCluster) Start(ctx context.Context) error {
	a := c.nodes[0]
	if err := c.startNode(a, ""); err != nil {
		return err
	}
	if err := waitFile(ctx, a.rootToken(), time.Minute, a.proc); err != nil {
		return err
	}
	join, err := c.joinToken(ctx)
	if err != nil {
		return err
	}
	// One node joins at a time: a node has joined once it has written
	// its root token.
	for _, n := range c.nodes[1:] {
		if err := c.startNode(n, join); err != nil {
			return err
		}
		if err := waitFile(ctx, n.rootToken(), time.Minute, n.proc); err != nil {
			return err
		}
	}
	return c.readAccess(ctx)
}

func (n *tandemNode) rootToken() string { return filepath.Join(n.dataDir, "admin", "root.token") }

func (c *tandemCluster) startNode(n *tandemNode, join string) error {
	var env []string
	if join != "" {
		env = append(env, "TANDEM_JOIN="+join) // not on the command line, where ps shows it
	}
	p, err := startProc(procSpec{name: n.name, argv: []string{c.bin, "up", "-f", n.file}, env: env, log: n.logPath})
	if err != nil {
		return err
	}
	n.proc = p
	return nil
}

// joinToken asks node-a for a join token, as `tandem cluster token` does.
func (c *tandemCluster) joinToken(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, c.bin, "cluster", "token", "-f", c.nodes[0].file).Output()
		if err == nil {
			return strings.TrimSpace(string(out)), nil
		}
		if serr := sleep(ctx, 500*time.Millisecond); serr != nil {
			return "", fmt.Errorf("tandem cluster token: %w", err)
		}
	}
}

// readAccess reads node-c's root token and the DATABASE_URL its app got.
func (c *tandemCluster) readAccess(ctx context.Context) error {
	n := c.nodes[2]
	urlFile := filepath.Join(c.dir, "url-"+n.name)
	if err := waitFile(ctx, urlFile, readyTimeout, n.proc); err != nil {
		return err
	}
	tok, err := os.ReadFile(n.rootToken())
	if err != nil {
		return err
	}
	c.token = strings.TrimSpace(string(tok))
	url, err := os.ReadFile(urlFile)
	if err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(strings.TrimSpace(string(url)))
	if err != nil {
		return errors.New("node-c's DATABASE_URL does not parse") // the error would show the password
	}
	cfg.ConnectTimeout = endpointConnectTimeout
	c.connCfg = cfg
	return nil
}

// Connect implements cluster: through node-c's DB endpoint.
func (c *tandemCluster) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.ConnectConfig(ctx, c.connCfg.Copy())
}

// dbStatus is the part of GET /v1/db (tandem db status --json) used here.
type dbStatus struct {
	Leader  string `json:"leader"`
	Members []struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		Sync      string `json:"sync"`
		Streaming bool   `json:"streaming"`
	} `json:"members"`
}

// status asks node-c's admin API for the database's status.
func (c *tandemCluster) status(ctx context.Context) (dbStatus, error) {
	var st dbStatus
	err := c.adminGet(ctx, "/v1/db", &st)
	return st, err
}

// EtcdLeader is the node whose etcd member leads the cluster's etcd
// (tandem cluster members).
func (c *tandemCluster) EtcdLeader(ctx context.Context) (string, error) {
	var l struct {
		Members []struct {
			Name   string `json:"name"`
			Leader bool   `json:"leader"`
		} `json:"members"`
	}
	if err := c.adminGet(ctx, "/v1/cluster/members", &l); err != nil {
		return "", err
	}
	for _, m := range l.Members {
		if m.Leader {
			return m.Name, nil
		}
	}
	return "", nil
}

// adminGet decodes the answer of node-c's admin API to GET path.
func (c *tandemCluster) adminGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.nodes[2].admin+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("admin GET %s: %w", path, err)
	}
	return nil
}

// Leader implements cluster: the lease holder, once it runs as primary.
func (c *tandemCluster) Leader(ctx context.Context) (string, error) {
	st, err := c.status(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range st.Members {
		if m.Name == st.Leader && m.Role == "primary" {
			return m.Name, nil
		}
	}
	return "", nil
}

// Standby implements cluster, from tandem db status.
func (c *tandemCluster) Standby(ctx context.Context, name string) (bool, bool, error) {
	st, err := c.status(ctx)
	if err != nil {
		return false, false, err
	}
	for _, m := range st.Members {
		if m.Name == name && m.Name != st.Leader && st.Leader != "" {
			return m.Role == "standby" && m.Streaming, m.Sync == "sync", nil
		}
	}
	return false, false, nil
}

// Other implements cluster.
func (c *tandemCluster) Other(name string) string {
	if name == "node-a" {
		return "node-b"
	}
	return "node-a"
}

// Addr implements cluster.
func (c *tandemCluster) Addr(name string) string {
	return c.node(name).ip + ":" + strconv.Itoa(c.pgPort)
}

func (c *tandemCluster) node(name string) *tandemNode {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	panic("no tandem node " + name)
}

// pgData is a node's PGDATA.
func (n *tandemNode) pgData() string { return filepath.Join(n.dataDir, "postgres", "data") }

// Crash implements cluster: tandem, its keeper, its app and its postgres
// with every child, frozen and killed together.
func (c *tandemCluster) Crash(name string) (time.Time, error) {
	n := c.node(name)
	return crashNode(c.log, name, n.proc, n.pgData())
}

// Restart implements cluster: tandem up again on the node's files.
func (c *tandemCluster) Restart(_ context.Context, name string) error {
	return c.startNode(c.node(name), "")
}

// Switchover implements cluster: tandem db switchover, at node-c.
func (c *tandemCluster) Switchover(ctx context.Context, _, to string) error {
	out, err := exec.CommandContext(ctx, c.bin, "db", "switchover", "--to", to, "-f", c.nodes[2].file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tandem db switchover: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop implements cluster.
func (c *tandemCluster) Stop(failed bool) string {
	var procs []*proc
	var dirs []string
	for _, n := range c.nodes {
		procs, dirs = append(procs, n.proc), append(dirs, n.pgData())
	}
	stopNodes(procs, dirs)
	return keepOrRemove(c.dir, failed)
}
