package main

import (
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tandem-run/tandem/internal/testports"
)

// freePortOn returns a TCP port nobody listens on at ip, and that no other
// call returned, from this package's range (testports.Tandem).
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	return testports.Tandem.Free(t, ip)
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
