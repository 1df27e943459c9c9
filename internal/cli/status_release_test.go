package cli

import (
	"bytes"
	"testing"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestClusterReleaseLines: a node that runs another release than the
// cluster's is shown up and converging or down, as the view says, and
// without either where no view is at hand (tandem history).
func TestClusterReleaseLines(t *testing.T) {
	cr := &admin.ClusterRelease{Version: "v3", By: "deploy by ann", Differ: []admin.NodeRelease{{Node: "b", Release: "v2"}, {Node: "c", Release: "v2"}}}
	for _, tc := range []struct {
		name string
		up   map[string]bool
		want string
	}{
		{"status", map[string]bool{"a": true, "b": true}, "cluster release v3 (deploy by ann)\n" +
			"  node b runs v2 (up: converging to v3)\n" +
			"  node c runs v2 (down: converges to v3 when it returns)\n"},
		{"history", nil, "cluster release v3 (deploy by ann)\n" +
			"  node b runs v2 (converges to v3)\n" +
			"  node c runs v2 (converges to v3)\n"},
	} {
		var buf bytes.Buffer
		printClusterRelease(&buf, "v3", cr, tc.up)
		if buf.String() != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, buf.String(), tc.want)
		}
	}
	var buf bytes.Buffer
	printClusterRelease(&buf, "v3", &admin.ClusterRelease{Version: "v3"}, nil)
	if buf.Len() != 0 {
		t.Errorf("every node on the cluster's release: printed %q; want nothing", buf.String())
	}
}
