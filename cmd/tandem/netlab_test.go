package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// netLab is a set of network namespaces a test creates to put nodes in
// places of their own: a router namespace, one namespace per node linked
// to it by a veth pair, and a link from the test's own namespace, so the
// test reaches every node as a client would. A site is a /20 of
// 10.<n>.0.0/16 (site s: 10.<n>.<16s>.0/20), a node a /24 in its site's;
// the test's own address is 10.<n>.254.2. The links between sites are
// cut with blackhole rules in the router: packets are dropped without a
// word, as on a dead link, and a cut may leave a site reachable from the
// test but not from the other sites (a partition). Only the lab's own
// addresses are ever routed; everything is removed at the end of the test.
type netLab struct {
	t      *testing.T
	id     string // names the lab's namespaces and links
	octet  int    // the second octet of its addresses
	router string // the router namespace

	mu    sync.Mutex // guards the fields below
	nodes []string   // the node namespaces
	rules []string   // the blackhole rules in place, as `ip rule` arguments
	root  bool       // the link and route from the test's namespace exist
}

// labNode is a node's place in the lab.
type labNode struct {
	ns string // its network namespace
	ip string // its address
}

// needNetLab skips the test where namespaces cannot be made.
func needNetLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces")
	}
	for _, prog := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("needs %s (iproute2, util-linux) to create and enter network namespaces: %v", prog, err)
		}
	}
}

// netLabs counts the labs this process made: a lab's names and
// addresses come from the process id and its number, so two tests' labs
// run side by side apart, and so do two test processes'.
var netLabs atomic.Int32

// newNetLab creates the router and the link from the test's namespace;
// it skips the test when the kernel refuses.
func newNetLab(t *testing.T) *netLab {
	t.Helper()
	needNetLab(t)
	pid, seq := os.Getpid(), int(netLabs.Add(1)-1)
	l := &netLab{t: t, id: fmt.Sprintf("%02d%02d", pid%100, seq%100), octet: 100 + (pid%10*10+seq)%100}
	l.router = "tdm" + l.id + "rt"
	t.Cleanup(l.cleanup)
	if err := l.ip("netns", "add", l.router); err != nil {
		t.Skipf("cannot create a network namespace (%v): the sites test needs them", err)
	}
	l.mustIP("netns", "exec", l.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	l.mustIP("-n", l.router, "link", "set", "lo", "up")
	host, rt := "t"+l.id+"h", "t"+l.id+"r"
	l.mustIP("link", "add", host, "type", "veth", "peer", "name", rt)
	l.mu.Lock()
	l.root = true
	l.mu.Unlock()
	l.mustIP("link", "set", rt, "netns", l.router)
	l.mustIP("addr", "add", l.rootIP()+"/24", "dev", host)
	l.mustIP("link", "set", host, "up")
	l.mustIP("-n", l.router, "addr", "add", l.addr(254, 1)+"/24", "dev", rt)
	l.mustIP("-n", l.router, "link", "set", rt, "up")
	l.mustIP("route", "add", l.prefix(), "via", l.addr(254, 1))
	return l
}

func (l *netLab) addr(third, fourth int) string {
	return fmt.Sprintf("10.%d.%d.%d", l.octet, third, fourth)
}

// prefix is the lab's whole address range.
func (l *netLab) prefix() string { return fmt.Sprintf("10.%d.0.0/16", l.octet) }

// rootIP is the test's own address in the lab.
func (l *netLab) rootIP() string { return l.addr(254, 2) }

// sitePrefix is site s's range (s from 1).
func (l *netLab) sitePrefix(s int) string { return fmt.Sprintf("10.%d.%d.0/20", l.octet, 16*s) }

// nodeIP is the address of node k of site s (addNode).
func (l *netLab) nodeIP(s, k int) string { return l.addr(16*s+k, 2) }

// addNode makes node k (from 1) of site s a namespace linked to the router.
func (l *netLab) addNode(s, k int) labNode {
	l.t.Helper()
	third := 16*s + k
	n := labNode{ns: fmt.Sprintf("tdm%s-%d-%d", l.id, s, k), ip: l.nodeIP(s, k)}
	l.mustIP("netns", "add", n.ns)
	l.mu.Lock()
	l.nodes = append(l.nodes, n.ns)
	l.mu.Unlock()
	inside, rt := fmt.Sprintf("t%sn%da", l.id, third), fmt.Sprintf("t%sn%db", l.id, third)
	l.mustIP("link", "add", inside, "type", "veth", "peer", "name", rt)
	l.mustIP("link", "set", inside, "netns", n.ns)
	l.mustIP("link", "set", rt, "netns", l.router)
	l.mustIP("-n", l.router, "addr", "add", l.addr(third, 1)+"/24", "dev", rt)
	l.mustIP("-n", l.router, "link", "set", rt, "up")
	l.mustIP("-n", n.ns, "link", "set", "lo", "up")
	l.mustIP("-n", n.ns, "addr", "add", n.ip+"/24", "dev", inside)
	l.mustIP("-n", n.ns, "link", "set", inside, "up")
	l.mustIP("-n", n.ns, "route", "add", "default", "via", l.addr(third, 1))
	return n
}

// isolate cuts site s from everything, the test's clients included: the
// site goes dark.
func (l *netLab) isolate(s int) {
	l.block("from", l.sitePrefix(s))
	l.block("to", l.sitePrefix(s))
}

// partition cuts site s from sites others, in both directions; the test
// still reaches every site.
func (l *netLab) partition(s int, others ...int) {
	for _, o := range others {
		l.block("from", l.sitePrefix(s), "to", l.sitePrefix(o))
		l.block("from", l.sitePrefix(o), "to", l.sitePrefix(s))
	}
}

// heal removes every cut.
func (l *netLab) heal() {
	l.mu.Lock()
	rules := l.rules
	l.rules = nil
	l.mu.Unlock()
	for _, r := range rules {
		if err := l.ip(append([]string{"-n", l.router, "rule", "del"}, strings.Fields(r)...)...); err != nil {
			l.t.Errorf("remove rule %q: %v", r, err)
		}
	}
}

// block adds a blackhole rule with selector args to the router.
func (l *netLab) block(args ...string) {
	l.t.Helper()
	rule := strings.Join(append(args, "blackhole"), " ")
	l.mustIP(append([]string{"-n", l.router, "rule", "add"}, strings.Fields(rule)...)...)
	l.mu.Lock()
	l.rules = append(l.rules, rule)
	l.mu.Unlock()
}

// cleanup removes the route, the links and the namespaces.
func (l *netLab) cleanup() {
	l.mu.Lock()
	nodes, root := l.nodes, l.root
	l.mu.Unlock()
	if root {
		l.ip("route", "del", l.prefix())
		l.ip("link", "del", "t"+l.id+"h") // and its peer
	}
	for _, ns := range append(nodes, l.router) {
		if err := l.ip("netns", "del", ns); err != nil {
			l.t.Logf("delete network namespace %s: %v", ns, err)
		}
	}
}

func (l *netLab) mustIP(args ...string) {
	l.t.Helper()
	if err := l.ip(args...); err != nil {
		l.t.Fatal(err)
	}
}

// ip runs ip(8) with args, bounded in time.
func (l *netLab) ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// testCA issues the certificates of the nodes' admin APIs, which listen
// on the lab's addresses and so must serve HTTPS.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sites test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pool: x509.NewCertPool(), file: filepath.Join(t.TempDir(), "ca.pem")}
	ca.pool.AddCert(cert)
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a certificate and key for ip in dir and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, ip string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(ip)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
