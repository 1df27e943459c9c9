package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestPrintSites: an emergency is shown with its site, since when and
// why, how it ends, and each site's role, state, nodes and lag.
func TestPrintSites(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := admin.SitesStatus{Node: "cloud-1", Site: "cloud", LeaderSite: "home", Leading: "cloud", Mode: "emergency", Quorum: true,
		Changes:   []string{"web: 2 instances here", "route */admin/: the cache's copy or the fallback page"},
		Emergency: &admin.EmergencyStatus{Site: "home", Since: now.Add(-90 * time.Second), By: "witness-1", Cause: "no node of site home reached the control plane's quorum for 30s"},
		Failback:  "auto", StableFor: 10 * time.Minute,
		Sites: []admin.SiteStatus{
			{Name: "home", Leader: true, Nodes: []string{"home-1", "home-2"}, LagBytes: -1, LagSeconds: -1},
			{Name: "cloud", Primary: true, Up: true, Nodes: []string{"cloud-1"}, UpNodes: []string{"cloud-1"}, LagBytes: -1, LagSeconds: -1},
			{Name: "witness", Up: true, Nodes: []string{"witness-1"}, UpNodes: []string{"witness-1"}, LagBytes: 2048, LagSeconds: 0.5},
		}}
	var b strings.Builder
	printSites(&b, st, now)
	for _, want := range []string{
		"sites: cloud leads (leader site home); this node cloud-1 in site cloud, emergency mode\n",
		"EMERGENCY since 2026-05-01T11:58:30Z (1m30s ago): site home unreachable, declared by witness-1: no node of site home reached the control plane's quorum for 30s\n",
		"failback: auto once site home has been back and caught up for 10m0s\n",
		"this node's mode: web: 2 instances here; route */admin/: the cache's copy or the fallback page\n",
		"home     leader             down   0/2 home-1,home-2  -\n",
		"cloud    follower, primary  up     1/1 cloud-1        -\n",
		"witness  follower           up     1/1 witness-1      2.0 KiB, 0.5s\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printSites wrote\n%s\nwant a line %q", b.String(), want)
		}
	}
	st.Quorum, st.ReadError = false, "context deadline exceeded"
	b.Reset()
	printSites(&b, st, now)
	if !strings.Contains(b.String(), "WARNING: this node does not reach the control plane's quorum (context deadline exceeded)") {
		t.Errorf("printSites without quorum wrote\n%s", b.String())
	}
}
