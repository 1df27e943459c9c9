package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestStoreRoundTrip(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "releases"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load("web")
	if err != nil || st.App != "web" || st.Current != "" {
		t.Fatalf("Load(new app) = %+v, %v; want an empty state", st, err)
	}
	st.Seq = 2
	st.Current = "v2"
	st.AddRelease(Release{Version: "v1", Command: []string{"/bin/a"}, Dir: "/srv", Env: map[string]string{"K": "1"}, Created: t0}, 10)
	st.AddRelease(Release{Version: "v2", Command: []string{"/bin/b"}, Dir: "/srv", Created: t0}, 10)
	st.AddRecord(Record{ID: 1, Kind: KindDeploy, From: "v1", To: "v2", Started: t0, Finished: t0.Add(time.Second), Result: ResultSucceeded})
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != "v2" || len(got.Releases) != 2 || got.Releases[0].Env["K"] != "1" || len(got.Deploys) != 1 {
		t.Errorf("Load after Save = %+v; want what was saved", got)
	}
	fi, err := os.Stat(filepath.Join(s.dir, "web.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, %v; want 0600 (it may hold secrets)", fi.Mode().Perm(), err)
	}
}

func TestStoreRefusesCorruptFile(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("web"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("web"); err == nil {
		t.Fatal("Load(corrupt file) = nil error; want one (the history must not be dropped silently)")
	}
}

func TestAddReleaseKeepsCurrentAndPending(t *testing.T) {
	st := AppState{App: "web", Current: "v1", Pending: &Record{To: "v2"}}
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5"} {
		st.AddRelease(Release{Version: v}, 3)
	}
	var got []string
	for _, r := range st.Releases {
		got = append(got, r.Version)
	}
	if want := []string{"v1", "v2", "v5"}; !slices.Equal(got, want) {
		t.Errorf("releases = %q; want %q", got, want)
	}
}

func TestPrevious(t *testing.T) {
	st := AppState{App: "web", Current: "v3"}
	for _, v := range []string{"v1", "v2", "v3"} {
		st.AddRelease(Release{Version: v}, 10)
	}
	if v, ok := st.Previous(); !ok || v != "v2" {
		t.Errorf("Previous() without records = %q, %v; want v2", v, ok)
	}
	st.AddRecord(Record{From: "v1", To: "v3", Result: ResultSucceeded})
	if v, ok := st.Previous(); !ok || v != "v1" {
		t.Errorf("Previous() after v1 -> v3 = %q, %v; want v1", v, ok)
	}
	st.Current = "v1"
	st.Releases = st.Releases[:1]
	if v, ok := st.Previous(); ok {
		t.Errorf("Previous() with one release = %q; want none", v)
	}
}

func TestChangeApply(t *testing.T) {
	cur := Spec{Command: []string{"/srv/v1/bin/wiki", "serve"}, Dir: "/srv/v1", ReleaseCommand: []string{"/srv/v1/bin/wiki", "migrate"},
		Env: map[string]string{"A": "1", "B": "2"}}
	next := Change{Dir: "/srv/v2", SetEnv: map[string]string{"B": "3", "C": "4"}, UnsetEnv: []string{"A"}}.Apply(cur)
	if next.Command[0] != "/srv/v2/bin/wiki" || next.ReleaseCommand[0] != "/srv/v2/bin/wiki" || next.Dir != "/srv/v2" {
		t.Errorf("Apply(new dir) = %+v; want the commands moved to /srv/v2", next)
	}
	if len(next.Env) != 2 || next.Env["B"] != "3" || next.Env["C"] != "4" {
		t.Errorf("Apply(env) = %v; want B=3 C=4", next.Env)
	}
	if cur.Env["A"] != "1" || cur.Env["B"] != "2" {
		t.Errorf("Apply changed the current spec's env: %v", cur.Env)
	}
	outside := Change{Dir: "/srv/v2"}.Apply(Spec{Command: []string{"/usr/bin/python3", "app.py"}, Dir: "/srv/v1"})
	if outside.Command[0] != "/usr/bin/python3" {
		t.Errorf("Apply moved a program outside the old dir: %q", outside.Command)
	}
	if changes := cur.Changes(next); !slices.Equal(changes, []string{
		`command: ["/srv/v1/bin/wiki" "serve"] -> ["/srv/v2/bin/wiki" "serve"]`,
		"dir: /srv/v1 -> /srv/v2",
		`release: ["/srv/v1/bin/wiki" "migrate"] -> ["/srv/v2/bin/wiki" "migrate"]`,
		"env: ~ B", "env: + C", "env: - A",
	}) {
		t.Errorf("Changes() = %q", changes)
	}
	if !cur.Equal(cur) || cur.Equal(next) {
		t.Error("Equal is wrong")
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{"v1": true, "2026.01.02-abc+1": true, "": false, "-x": false, "a b": false, "v/1": false} {
		if err := CheckVersion(v); (err == nil) != ok {
			t.Errorf("CheckVersion(%q) = %v; want ok %v", v, err, ok)
		}
	}
}
