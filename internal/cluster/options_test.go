package cluster

import (
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	base := func() Options { return Options{Name: "shop", Node: "n1", DataDir: "/var/lib/tandem"} }
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string // "" for valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"no name", func(o *Options) { o.Name = "" }, "name:"},
		{"upper-case node", func(o *Options) { o.Node = "N1" }, "node:"},
		{"node with slash", func(o *Options) { o.Node = "a/b" }, "node:"},
		{"no data dir", func(o *Options) { o.DataDir = "" }, "data_dir:"},
		{"bad advertise", func(o *Options) { o.Advertise = "a b" }, "advertise:"},
		{"host name advertise", func(o *Options) { o.Advertise = "n1.example.com" }, ""},
		{"bad port", func(o *Options) { o.PeerPort = 70000 }, "peer_port:"},
		{"election too short", func(o *Options) { o.TickMs, o.ElectionMs = 100, 400 }, "election_ms:"},
		{"negative retention", func(o *Options) { o.CompactionRetention = -1 }, "compaction_retention:"},
		{"bad join token", func(o *Options) { o.Join = "hello" }, "join:"},
		{"external without endpoints", func(o *Options) { o.External = &External{} }, "external: endpoints:"},
		{"external with cert but no key", func(o *Options) {
			o.External = &External{Endpoints: []string{"https://10.0.0.1:2379"}, CertFile: "c.pem"}
		}, "external: cert_file and key_file:"},
		{"external and join", func(o *Options) {
			o.External = &External{Endpoints: []string{"https://10.0.0.1:2379"}}
			o.Join = JoinToken{Addr: "10.0.0.1:7946", ID: "0123456789abcdef"}.String()
		}, "join:"},
	}
	for _, tc := range tests {
		o := base()
		tc.edit(&o)
		got, err := o.withDefaults()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: withDefaults() = %v; want ok", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("%s: withDefaults() = %v; want an error starting %q", tc.name, err, tc.wantErr)
		}
		if tc.name == "defaults" {
			if got.Advertise != DefaultAdvertise || got.PeerPort != DefaultPeerPort || got.ClientPort != DefaultClientPort ||
				got.NodePort != DefaultNodePort || got.TickMs != DefaultTickMs || got.ElectionMs != DefaultElectionMs ||
				got.CompactionRetention != DefaultCompactionRetention || got.Logger == nil {
				t.Errorf("withDefaults() = %+v; want the defaults filled in", got)
			}
			if got.nodeAddr() != "127.0.0.1:7946" || got.peerURL() != "https://127.0.0.1:7380" {
				t.Errorf("nodeAddr, peerURL = %s, %s; want 127.0.0.1:7946, https://127.0.0.1:7380", got.nodeAddr(), got.peerURL())
			}
		}
	}
}
