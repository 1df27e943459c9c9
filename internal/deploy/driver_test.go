package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeRuntime plays instances: each started instance of a healthy release
// passes its check after ready; retiring takes drain time.
type fakeRuntime struct {
	t       *testing.T
	d       *Driver
	ready   time.Duration
	bad     string // version whose instances never become healthy
	release error  // returned by RunRelease
	wg      sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	seq      int
	running  map[string]string // instance -> version
	serving  map[string]bool   // healthy and not retiring
	minServe int               // fewest serving instances seen after the first was healthy
	finished *Record
	output   []string
}

func newFakeRuntime(t *testing.T, old ...string) *fakeRuntime {
	f := &fakeRuntime{t: t, ready: time.Second, running: map[string]string{}, serving: map[string]bool{}, minServe: len(old)}
	for _, o := range old {
		f.running[o] = "v1"
		f.serving[o] = true
	}
	return f
}

func (f *fakeRuntime) RunRelease(ctx context.Context, rel Release, output func(string)) error {
	output("migrating " + rel.Version)
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return f.release
}

func (f *fakeRuntime) Start(ctx context.Context, rel Release) (string, error) {
	f.mu.Lock()
	f.seq++
	name := fmt.Sprintf("web-%d", 3+f.seq)
	f.running[name] = rel.Version
	f.mu.Unlock()
	if rel.Version != f.bad {
		f.wg.Go(func() {
			time.Sleep(f.ready)
			f.mu.Lock()
			_, ok := f.running[name]
			if ok {
				f.serving[name] = true
			}
			f.mu.Unlock()
			if ok {
				f.d.Healthy(name)
			}
		})
	}
	return name, nil
}

func (f *fakeRuntime) Retire(ctx context.Context, instance string, drain time.Duration) error {
	f.mu.Lock()
	delete(f.serving, instance)
	f.minServe = min(f.minServe, len(f.serving))
	f.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	f.mu.Lock()
	delete(f.running, instance)
	f.mu.Unlock()
	return nil
}

func (f *fakeRuntime) Describe(instance string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[instance] == f.bad {
		return "last check: connection refused"
	}
	return ""
}

func (f *fakeRuntime) Finish(rec Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = &rec
	return nil
}

func (f *fakeRuntime) versions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var vs []string
	for _, v := range f.running {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func newTestDriver(t *testing.T, f *fakeRuntime, releasePhase bool) *Driver {
	d, err := NewDriver(DriverOptions{
		From:         Release{Version: "v1"},
		To:           Release{Version: "v2", ReleaseCommand: []string{"migrate"}},
		Old:          []string{"web-1", "web-2", "web-3"},
		Want:         3,
		Surge:        1,
		Startup:      5 * time.Second,
		Drain:        time.Second,
		ReleasePhase: releasePhase,
		Record:       Record{ID: 7, Kind: KindDeploy, Who: "tester"},
		Runtime:      f,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	return d
}

func steps(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Step)
	}
	return strings.Join(s, " ")
}

func TestDriverRollingDeploy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRuntime(t, "web-1", "web-2", "web-3")
		d := newTestDriver(t, f, true)
		begin := time.Now()
		rec := d.Run(t.Context())
		f.wg.Wait()
		if rec.Result != ResultSucceeded || rec.ID != 7 || rec.Who != "tester" || rec.From != "v1" || rec.To != "v2" {
			t.Fatalf("Run() = %+v; want a succeeded deploy v1 -> v2", rec)
		}
		// 0.5s release phase, then three gates of 1s each, one at a time;
		// the last retirement takes 0.2s.
		if got, want := rec.Duration(time.Now()), 3700*time.Millisecond; got != want || time.Since(begin) != want {
			t.Errorf("deploy took %s (record says %s); want %s", time.Since(begin), got, want)
		}
		if f.minServe < 3 {
			t.Errorf("as few as %d instances served during the deploy; want at least 3", f.minServe)
		}
		if got := f.versions(); !slices.Equal(got, []string{"v2", "v2", "v2"}) {
			t.Errorf("running after the deploy: %q; want three of v2", got)
		}
		if f.finished == nil || f.finished.Result != ResultSucceeded {
			t.Errorf("Finish got %+v; want the succeeded record", f.finished)
		}
		evs, done, _ := d.Events(0)
		want := "begin release output release start healthy drain start stop healthy drain start stop healthy drain stop done"
		if got := steps(evs); !done || got != want {
			t.Errorf("events = %s (done %v); want %s", got, done, want)
		}
		if last := evs[len(evs)-1]; last.Result != ResultSucceeded || last.Ready != 3 || last.Want != 3 {
			t.Errorf("last event = %+v; want succeeded with 3/3 ready", last)
		}
	})
}

func TestDriverRollsBackUnhealthyRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRuntime(t, "web-1", "web-2", "web-3")
		f.bad = "v2"
		d := newTestDriver(t, f, false)
		rec := d.Run(t.Context())
		f.wg.Wait()
		if rec.Result != ResultRolledBack || rec.Reason != "web-4 did not become healthy within 5s (last check: connection refused)" {
			t.Fatalf("Run() = %+v; want rolled back because web-4 did not become healthy", rec)
		}
		if got := f.versions(); !slices.Equal(got, []string{"v1", "v1", "v1"}) {
			t.Errorf("running after the rollback: %q; want three of v1", got)
		}
		if f.minServe < 3 {
			t.Errorf("as few as %d instances served; want at least 3", f.minServe)
		}
		evs, _, _ := d.Events(0)
		if got := steps(evs); !strings.Contains(got, "rollback") {
			t.Errorf("events = %s; want a rollback step", got)
		}
	})
}

func TestDriverReleasePhaseFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRuntime(t, "web-1", "web-2", "web-3")
		f.release = errors.New("exit code 1")
		d := newTestDriver(t, f, true)
		rec := d.Run(t.Context())
		if rec.Result != ResultFailed || rec.Reason != "release phase failed: exit code 1" {
			t.Fatalf("Run() = %+v; want failed in the release phase", rec)
		}
		if f.seq != 0 {
			t.Errorf("%d instances started after a failed release phase; want none", f.seq)
		}
		evs, _, _ := d.Events(0)
		if got, want := steps(evs), "begin release output release done"; got != want {
			t.Errorf("events = %s; want %s", got, want)
		}
	})
}

func TestDriverInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRuntime(t, "web-1", "web-2", "web-3")
		f.bad = "v2"
		d := newTestDriver(t, f, false)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		rec := d.Run(ctx)
		if rec.Result != ResultInterrupted || f.finished == nil || f.finished.Result != ResultInterrupted {
			t.Fatalf("Run() = %+v, Finish got %+v; want interrupted", rec, f.finished)
		}
		_, done, _ := d.Events(0)
		if !done {
			t.Error("Events: done = false after Run returned")
		}
	})
}

func TestDriverEventsWakeWatchers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeRuntime(t, "web-1")
		d, err := NewDriver(DriverOptions{From: Release{Version: "v1"}, To: Release{Version: "v2"}, Old: []string{"web-1"},
			Want: 1, Surge: 1, Startup: time.Second, Record: Record{Kind: KindDeploy}, Runtime: f})
		if err != nil {
			t.Fatal(err)
		}
		f.d = d
		var seen []Event
		var watcher sync.WaitGroup
		watcher.Go(func() {
			for {
				evs, done, changed := d.Events(len(seen))
				seen = append(seen, evs...)
				if done {
					return
				}
				<-changed
			}
		})
		d.Run(t.Context())
		watcher.Wait()
		f.wg.Wait()
		all, _, _ := d.Events(0)
		if len(seen) != len(all) || seen[len(seen)-1].Step != StepDone {
			t.Errorf("watcher saw %d events ending %+v; want all %d ending with done", len(seen), seen[len(seen)-1], len(all))
		}
	})
}
