// Package clustertest starts real one-node clusters (an embedded etcd
// member) on loopback ports for the tests of the parts built on the
// cluster.
package clustertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Start opens a one-node cluster named "t" whose node is node, in a
// temporary directory; the test's cleanup closes it.
func Start(t testing.TB, node string) *cluster.Cluster {
	t.Helper()
	c, err := cluster.New(cluster.Options{Name: "t", Node: node, DataDir: t.TempDir(), Advertise: "127.0.0.1",
		PeerPort: FreePort(t), ClientPort: FreePort(t), NodePort: FreePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// FreePort returns a loopback port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
