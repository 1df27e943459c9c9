package main

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The tests' nodes get their ports from here, below Linux's ephemeral
// range (32768-60999 by default): a port given to a node stays free until
// it binds it, since neither a listener on port 0 (as an app instance's)
// nor a client's connection takes one from there. Each port is handed out
// once per run, and found free by binding it first.
// The range is this package's alone: internal/pgha's and
// internal/cluster's tests, which may run at the same time, take theirs
// from 28000 up (a PostgreSQL server of another test binary on a port
// this one had found free answered its connections).
const (
	firstPort = 20000
	portSpan  = 28000 - firstPort
)

var ports = struct {
	sync.Mutex
	next      int // the next port to try; 0 before the first call
	handedOut map[int]bool
}{handedOut: map[int]bool{}}

// freePortOn returns a TCP port nobody listens on at ip, and that no other
// call returned.
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.next == 0 {
		// Test binaries of other packages may run at the same time.
		ports.next = firstPort + rand.IntN(portSpan)
	}
	for range portSpan {
		port := ports.next
		ports.next = firstPort + (port+1-firstPort)%portSpan
		if ports.handedOut[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		ln.Close()
		ports.handedOut[port] = true
		return port
	}
	t.Fatalf("no free port on %s from %d to %d", ip, firstPort, firstPort+portSpan-1)
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
