package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestProgressPrinterNodes: the lines of a deploy across a cluster start
// with the node they happened on, and the cluster's own last line has no
// instance bar; a one-node deploy prints as it always did.
func TestProgressPrinterNodes(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		evs  []admin.DeployEvent
		want string
	}{
		{"one node", []admin.DeployEvent{
			{Time: t0, Step: "begin", Message: "deploy v1 -> v2"},
			{Time: t0.Add(time.Second), Step: "done", Ready: 2, Want: 2, Message: "succeeded: v2 runs (1s)", Result: "succeeded"},
		}, "   0.0s  deploy v1 -> v2\n   1.0s  [##] 2/2 succeeded: v2 runs (1s)\n"},
		{"cluster", []admin.DeployEvent{
			{Time: t0, Step: "zone", Message: "deploy v1 -> v2 across the cluster"},
			{Time: t0, Step: "begin", Node: "node-a", Message: "deploy v1 -> v2"},
			{Time: t0.Add(time.Second), Step: "healthy", Node: "node-b", Ready: 1, Want: 2, Message: "web-3 healthy"},
			{Time: t0.Add(2 * time.Second), Step: "done", Message: "succeeded: v2 runs on node-a, node-b (2s)", Result: "succeeded"},
		}, "   0.0s  deploy v1 -> v2 across the cluster\n   0.0s  [node-a]  deploy v1 -> v2\n" +
			"   1.0s  [node-b]  [#-] 1/2 web-3 healthy\n   2.0s  succeeded: v2 runs on node-a, node-b (2s)\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		show := progressPrinter(&b, false)
		for _, ev := range tt.evs {
			show(ev)
		}
		if got := b.String(); got != tt.want {
			t.Errorf("%s: progressPrinter(%d events) printed\n%q; want\n%q", tt.name, len(tt.evs), got, tt.want)
		}
	}
}
