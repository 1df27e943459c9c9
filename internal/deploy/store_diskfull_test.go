package deploy

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/tandem-run/tandem/internal/disktest"
)

// TestStoreFullDisk: a save on a full disk fails saying so, and leaves
// the saved state and nothing else behind; once space is freed, saves
// work again.
func TestStoreFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	dir := disktest.Mount(t, 1<<20)
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	v1 := AppState{App: "web", Current: "v1", Seq: 1, Releases: []Release{{Version: "v1", Command: []string{"/bin/web"}}}}
	if err := s.Save(v1); err != nil {
		t.Fatal(err)
	}
	fill := disktest.Fill(t, dir, 0)
	v2 := v1
	v2.Current, v2.Seq = "v2", 2
	v2.Releases = append(v2.Releases, Release{Version: "v2", Command: []string{"/bin/web"}, Env: map[string]string{"PAD": strings.Repeat("x", 8192)}})
	err = s.Save(v2)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "the disk under "+dir+" is full; the saved releases are unchanged") {
		t.Fatalf("Save on a full disk = %v; want ENOSPC, saying the disk is full and nothing changed", err)
	}
	got, err := s.Load("web")
	if err != nil || got.Current != "v1" || len(got.Releases) != 1 {
		t.Errorf("Load after the failed save = %+v, %v; want v1's state", got, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "web.json" && e.Name() != "filler" {
			t.Errorf("%s left behind by the failed save", e.Name())
		}
	}
	fill.Remove()
	if err := s.Save(v2); err != nil {
		t.Fatalf("Save once space is freed = %v", err)
	}
	if got, err := s.Load("web"); err != nil || got.Current != "v2" {
		t.Errorf("Load = %+v, %v; want v2", got.Current, err)
	}
}
