package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// maxRecords is how many deploy records an app's state keeps.
const maxRecords = 100

// Store keeps one state file per app in a directory. It holds no state of
// its own; callers serialise the loads and saves of one app.
type Store struct {
	dir string
}

// OpenStore returns a store in dir, creating the directory if needed.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open release store: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(app string) string { return filepath.Join(s.dir, app+".json") }

// Load returns the state of app; a zero state (no releases) if none was
// saved. A file that cannot be read or decoded is an error, never
// replaced silently: it holds the release history.
func (s *Store) Load(app string) (AppState, error) {
	data, err := os.ReadFile(s.path(app))
	if errors.Is(err, fs.ErrNotExist) {
		return AppState{App: app}, nil
	}
	if err != nil {
		return AppState{}, fmt.Errorf("load releases of %s: %w", app, err)
	}
	var st AppState
	if err := json.Unmarshal(data, &st); err != nil {
		return AppState{}, fmt.Errorf("load releases of %s: %s: %w", app, s.path(app), err)
	}
	if st.App != app {
		return AppState{}, fmt.Errorf("load releases of %s: %s holds app %q", app, s.path(app), st.App)
	}
	return st, nil
}

// Save writes the state of st.App atomically and durably. A failed save
// leaves the saved state as it was (the new one goes to a temporary file
// first, removed on failure); the error says so when the disk is full.
func (s *Store) Save(st AppState) error {
	err := atomicfile.WriteJSON(s.path(st.App), st, 0o600)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("save releases of %s: the disk under %s is full; the saved releases are unchanged: %w", st.App, s.dir, err)
	}
	return fmt.Errorf("save releases of %s: %w", st.App, err)
}

// AppState is what a node keeps about one app across restarts.
type AppState struct {
	App string `json:"app"`
	// Current is the version of the release the app's instances run; ""
	// before the first release.
	Current string `json:"current"`
	// Seq counts the releases ever made; it numbers automatic versions.
	Seq int `json:"seq"`
	// StackSpec is the stack file's app section when the node last read
	// it, so that a changed stack file is noticed at start.
	StackSpec *Spec `json:"stack_spec,omitempty"`
	// Releases are the kept releases, oldest first; Current is among them.
	Releases []Release `json:"releases"`
	// Deploys are the records of past deploys, oldest first.
	Deploys []Record `json:"deploys"`
	// Pending is the deploy in progress; nil when none is. Found set when
	// a node starts, it means the node stopped during that deploy.
	Pending *Record `json:"pending,omitempty"`
	// Maintenance is the maintenance page in force; nil when off.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
}

// Maintenance is an app's maintenance mode: every request gets a 503
// page with Message.
type Maintenance struct {
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}

// Record is one deploy, as history and status show it.
type Record struct {
	ID       int       `json:"id"`
	Kind     string    `json:"kind"` // KindDeploy or KindRollback
	Who      string    `json:"who"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Result   Result    `json:"result,omitempty"` // "" while it runs
	Reason   string    `json:"reason,omitempty"`
}

// Kinds of deploys.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
)

// Duration is how long the deploy took, or has taken by now.
func (r Record) Duration(now time.Time) time.Duration {
	if r.Finished.IsZero() {
		return now.Sub(r.Started)
	}
	return r.Finished.Sub(r.Started)
}

// Release returns the kept release labelled version.
func (st *AppState) Release(version string) (Release, bool) {
	i := slices.IndexFunc(st.Releases, func(r Release) bool { return r.Version == version })
	if i < 0 {
		return Release{}, false
	}
	return st.Releases[i], true
}

// CurrentRelease returns the release the app runs; ok is false before
// the first one.
func (st *AppState) CurrentRelease() (Release, bool) { return st.Release(st.Current) }

// AddRelease keeps r, dropping the oldest releases beyond keep (never the
// current one, nor the target of the pending deploy).
func (st *AppState) AddRelease(r Release, keep int) {
	st.Releases = append(st.Releases, r)
	for len(st.Releases) > max(keep, 1) {
		i := slices.IndexFunc(st.Releases, func(old Release) bool {
			return old.Version != st.Current && old.Version != r.Version && (st.Pending == nil || old.Version != st.Pending.To)
		})
		if i < 0 {
			return
		}
		st.Releases = slices.Delete(st.Releases, i, i+1)
	}
}

// NextID returns the id for a new deploy record.
func (st *AppState) NextID() int {
	id := 1
	if st.Pending != nil {
		id = max(id, st.Pending.ID+1)
	}
	if n := len(st.Deploys); n > 0 {
		id = max(id, st.Deploys[n-1].ID+1)
	}
	return id
}

// AddRecord appends a finished deploy's record, keeping the last maxRecords.
func (st *AppState) AddRecord(r Record) {
	st.Deploys = append(st.Deploys, r)
	if n := len(st.Deploys); n > maxRecords {
		st.Deploys = slices.Delete(st.Deploys, 0, n-maxRecords)
	}
}

// Previous returns the version a rollback without a version goes back to:
// the release the current one replaced, if it is still kept, else the
// newest kept release older than the current one.
func (st *AppState) Previous() (string, bool) {
	for i := len(st.Deploys) - 1; i >= 0; i-- {
		d := st.Deploys[i]
		if d.To == st.Current && d.Result == ResultSucceeded && d.From != "" && d.From != st.Current {
			if _, ok := st.Release(d.From); ok {
				return d.From, true
			}
			break
		}
	}
	cur := slices.IndexFunc(st.Releases, func(r Release) bool { return r.Version == st.Current })
	if cur > 0 {
		return st.Releases[cur-1].Version, true
	}
	return "", false
}
