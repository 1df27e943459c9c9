package apprun

import (
	"slices"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
)

// TestRemoteTargetSite: another node's target carries its site, and a
// node whose site changed is added again with the new one.
func TestRemoteTargetSite(t *testing.T) {
	a := startupApp(t, 0)
	v := viewWith(cluster.InstanceHealthy)
	n2 := v.Nodes["n2"]
	n2.Info.Site = "home"
	v.Nodes["n2"] = n2
	a.syncRemoteTargets("n1", v)
	if st, err := a.pool.Target(RemotePrefix + "n2"); err != nil || st.Site != "home" {
		t.Fatalf("target of n2 = %+v, %v; want site home", st, err)
	}
	n2.Info.Site = "cloud"
	v.Nodes["n2"] = n2
	a.syncRemoteTargets("n1", v)
	if st, err := a.pool.Target(RemotePrefix + "n2"); err != nil || st.Site != "cloud" {
		t.Fatalf("target of n2 after its site changed = %+v, %v; want site cloud", st, err)
	}
}

// TestInstanceEnv: an instance gets InstanceEnv's variables in place of
// those of the same names; the release command does not.
func TestInstanceEnv(t *testing.T) {
	a := startupApp(t, 1)
	a.opts.InstanceEnv = func() []string { return []string{"DATABASE_URL=postgres://site"} }
	a.env = []string{"DATABASE_URL=postgres://primary", "HOME=/x"}
	rel := deploy.Release{Version: "v1", Env: map[string]string{"DATABASE_URL": "postgres://release"}}
	env := a.instanceSpec(rel, "web-1", 1, 8000).Env
	if got := envValues(env, "DATABASE_URL"); !slices.Equal(got, []string{"postgres://site"}) {
		t.Errorf("instance's DATABASE_URL = %q; want only postgres://site", got)
	}
	if got := envValues(env, "HOME"); !slices.Equal(got, []string{"/x"}) {
		t.Errorf("instance's HOME = %q; want /x", got)
	}
	if got := envValues(a.releaseEnv(rel), "DATABASE_URL"); slices.Contains(got, "postgres://site") {
		t.Errorf("release command's DATABASE_URL = %q; want the instances' override left out", got)
	}
}

func envValues(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}
