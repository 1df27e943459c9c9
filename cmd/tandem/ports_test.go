package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// handedOut holds the ports freePortOn returned, so that it never returns
// one twice: the kernel may offer a port again once its probe socket is
// closed, before the node that was given it has bound it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePortOn returns a TCP port nobody listens on at ip, and that no other
// call returned.
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		handedOut.Lock()
		seen := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if !seen {
			return port
		}
	}
	t.Fatal("no unused port after 100 tries")
	return 0
}

// withClusterPorts gives a stack file its own cluster ports (and
// advertise address ip) where the file sets none, so that the tests'
// nodes, each founding or joining a cluster, never share a port.
func withClusterPorts(t *testing.T, stack, ip string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(stack), &doc); err != nil || len(doc.Content) == 0 {
		return stack // an invalid file some test wants refused: leave it
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return stack
	}
	cl := mappingValue(root, "cluster")
	if cl == nil {
		cl = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "cluster"}, cl)
	}
	if cl.Kind != yaml.MappingNode {
		return stack
	}
	set := func(key, value string) {
		if mappingValue(cl, key) == nil {
			cl.Content = append(cl.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
		}
	}
	set("advertise", ip)
	for _, key := range []string{"peer_port", "client_port", "node_port"} {
		set(key, strconv.Itoa(freePortOn(t, ip)))
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatalf("re-encode stack file: %v", err)
	}
	return string(out)
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// writeStackOn fills tmpl for a node whose edge, admin API and cluster
// ports all listen on ip (one of 127.0.0.0/8, all local on Linux).
func writeStackOn(t *testing.T, tmpl, ip string) stackFile {
	t.Helper()
	sf := stackFile{
		path:  filepath.Join(t.TempDir(), "stack.yaml"),
		edge:  net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip))),
		admin: net.JoinHostPort(ip, strconv.Itoa(freePortOn(t, ip))),
	}
	if err := os.WriteFile(sf.path, []byte(withClusterPorts(t, stackVars(t, tmpl, sf.edge, sf.admin), ip)), 0o644); err != nil {
		t.Fatal(err)
	}
	return sf
}
