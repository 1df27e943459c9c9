package cluster

import (
	"bytes"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestExternal runs two nodes on an external etcd (an embedded cluster
// standing in for it): both take the same cluster CA from etcd, so each
// node's certificate is accepted by the other's node listener.
func TestExternal(t *testing.T) {
	t.Parallel()
	etcd := openNode(t, testOptions(t, "etcd", "127.0.0.1"))
	pkiDir := filepath.Join(etcd.opts.DataDir, "pki")
	ext := &External{
		Endpoints: []string{etcd.opts.clientURL()},
		CAFile:    filepath.Join(pkiDir, caCertFile),
		CertFile:  filepath.Join(pkiDir, nodeCertFile),
		KeyFile:   filepath.Join(pkiDir, nodeKeyFile),
	}
	var nodes []*testNode
	for _, n := range []struct{ name, ip string }{{"e1", "127.0.0.2"}, {"e2", "127.0.0.3"}} {
		opts := testOptions(t, n.name, n.ip)
		opts.Name = "shop"
		opts.External = ext
		opts.NodeHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
		nodes = append(nodes, openNode(t, opts))
	}
	e1, e2 := nodes[0], nodes[1]
	if !bytes.Equal(e1.pki.ca.Raw, e2.pki.ca.Raw) {
		t.Errorf("e1 and e2 have different cluster CAs; want the one stored in etcd")
	}
	if bytes.Equal(e1.pki.ca.Raw, etcd.pki.ca.Raw) {
		t.Errorf("e1's cluster CA is the external etcd's; want its own")
	}
	if got := getStatus(t, e1.ClientTLS(), "https://"+e2.NodeAddr()+"/v1/ping"); got != http.StatusOK {
		t.Errorf("GET e2's node listener with e1's certificate = %d; want 200", got)
	}
	if _, err := e1.CreateJoinToken(t.Context(), 0); !errors.Is(err, ErrExternal) {
		t.Errorf("CreateJoinToken() on an external etcd = %v; want %v", err, ErrExternal)
	}
	if err := e1.RemoveMember(t.Context(), "etcd"); !errors.Is(err, ErrExternal) {
		t.Errorf("RemoveMember() on an external etcd = %v; want %v", err, ErrExternal)
	}
	ms, err := e2.Members(t.Context())
	if err != nil || len(ms) != 1 || ms[0].Name != "etcd" || !ms[0].Healthy {
		t.Errorf("Members() = %+v, %v; want the external member, healthy", ms, err)
	}
	if _, err := e1.Client().Put(t.Context(), e1.Prefix()+"k", "v"); err != nil {
		t.Fatalf("Put on e1 = %v", err)
	}
	resp, err := e2.Client().Get(t.Context(), e2.Prefix()+"k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Errorf("Get on e2 = %v, %v; want the key e1 wrote", resp, err)
	}
	waitFor(t, 5*time.Second, "e1's health names the leader", func() bool { return e1.Health().Leader == "etcd" })
}
