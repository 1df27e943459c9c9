package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestNewKeyspace(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		ok     bool
	}{
		{"/tandem/shop/", true},
		{"/a/", true},
		{"/tandem/shop", false},
		{"tandem/shop/", false},
		{"/", false},
		{"", false},
	} {
		_, err := newKeyspace(tt.prefix)
		if (err == nil) != tt.ok {
			t.Errorf("newKeyspace(%q) = %v; want ok %v", tt.prefix, err, tt.ok)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	k := keyspace(testPrefix)
	tick := time.Unix(1700000000, 0)
	for _, tt := range []struct{ got, want string }{
		{k.node("a"), "/tandem/test/nodes/a"},
		{k.instance("a", "web"), "/tandem/test/instances/a/web"},
		{k.purge("a", "x-1"), "/tandem/test/purges/a/x-1"},
		{k.purgeAck("a"), "/tandem/test/purge-acks/a"},
		{k.claim("job/report", tick), "/tandem/test/claims/job/report/1700000000"},
		{k.lock("release"), "/tandem/test/locks/release/"},
	} {
		if tt.got != tt.want {
			t.Errorf("key = %q; want %q", tt.got, tt.want)
		}
	}
}

func TestKeyParsing(t *testing.T) {
	k := keyspace(testPrefix)
	for _, tt := range []struct {
		key       string
		node, app string
		ok        bool
	}{
		{"/tandem/test/instances/a/web", "a", "web", true},
		{"/tandem/test/instances/a/web/v2", "a", "web/v2", true},
		{"/tandem/test/instances/a/", "", "", false},
		{"/tandem/test/instances/a", "", "", false},
		{"/tandem/test/instances//web", "", "", false},
		{"/tandem/other/instances/a/web", "", "", false},
	} {
		node, app, ok := k.instanceFromKey(tt.key)
		if ok != tt.ok || (ok && (node != tt.node || app != tt.app)) {
			t.Errorf("instanceFromKey(%q) = %q, %q, %v; want %q, %q, %v", tt.key, node, app, ok, tt.node, tt.app, tt.ok)
		}
	}
	for _, tt := range []struct {
		key  string
		name string
		ok   bool
	}{
		{"/tandem/test/nodes/a", "a", true},
		{"/tandem/test/nodes/", "", false},
		{"/tandem/test/nodes/a/b", "", false},
		{"/tandem/test/instances/a/web", "", false},
	} {
		name, ok := k.nodeFromKey(tt.key)
		if ok != tt.ok || (ok && name != tt.name) {
			t.Errorf("nodeFromKey(%q) = %q, %v; want %q, %v", tt.key, name, ok, tt.name, tt.ok)
		}
	}
}

// FuzzInstanceKey checks that instance keys read back as what was written
// for every valid node name and app, and that parsing never accepts a key
// outside instances/.
func FuzzInstanceKey(f *testing.F) {
	f.Add("a", "web")
	f.Add("node-1", "app/v2")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, node, app string) {
		k := keyspace(testPrefix)
		key := k.instance(node, app)
		gotNode, gotApp, ok := k.instanceFromKey(key)
		if checkNodeName(node) == nil && app != "" && (!ok || gotNode != node || gotApp != app) {
			t.Errorf("instanceFromKey(%q) = %q, %q, %v; want %q, %q, true", key, gotNode, gotApp, ok, node, app)
		}
		if _, _, ok := k.instanceFromKey(node + app); ok && !strings.HasPrefix(node+app, k.instances()) {
			t.Errorf("instanceFromKey(%q) accepted a key outside instances/", node+app)
		}
	})
}
