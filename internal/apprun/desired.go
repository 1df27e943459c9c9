package apprun

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
)

// This file keeps each app's desired release in the cluster: the release
// the last successful deploy made current, wherever it ran. A node that
// was down or unreachable during a deploy converges to it: at start
// (loadRelease), or when it changes while the node runs (converge). Each
// node also records which release it runs, so that status shows the
// nodes that differ, running or not.

// The kinds of the cluster's records this file keeps: the desired
// release by app, and each node's record of the release it runs, by app.
const (
	desiredKind = "releases"
	runningKind = "running"
)

// Desired is the release the cluster wants an app to run.
type Desired struct {
	Release deploy.Release `json:"release"`
	// By says what made it the cluster's release.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// key identifies one making of a desired release; "" for none.
func (d Desired) key() string {
	if d.Release.Version == "" {
		return ""
	}
	return d.Release.Version + "@" + d.At.UTC().Format(time.RFC3339Nano)
}

// Running is which release a node runs, as it last recorded it.
type Running struct {
	Node    string    `json:"node"`
	Zone    string    `json:"zone"`
	Release string    `json:"release"`
	At      time.Time `json:"at"`
}

// desiredState is what an app knows of the cluster's release. Guarded by
// App.mu.
type desiredState struct {
	seen    string    // key of the desired release last acted on
	failed  string    // key of a desired release converging to failed
	current Desired   // as last read
	running []Running // every node's, as last read
	read    time.Time // when current and running were last read; zero never
}

// clusterRelease is the cluster's view of an app as read at start.
type clusterRelease struct {
	desired    Desired
	hasDesired bool
	others     int   // other nodes that recorded running the app
	err        error // the cluster could not be read
}

// readCluster reads the app's desired release and how many other nodes
// run it.
func (a *App) readCluster(ctx context.Context) clusterRelease {
	var cl clusterRelease
	cl.desired, cl.hasDesired, cl.err = a.readDesired(ctx)
	if cl.err != nil {
		return cl
	}
	running, err := a.readRunning(ctx)
	if err != nil {
		cl.err = err
		return cl
	}
	for _, r := range running {
		if r.Node != a.opts.Node {
			cl.others++
		}
	}
	a.mu.Lock()
	a.desired.current, a.desired.running, a.desired.read = cl.desired, running, time.Now()
	a.mu.Unlock()
	return cl
}

func (a *App) readDesired(ctx context.Context) (Desired, bool, error) {
	b, err := a.opts.Cluster.Record(ctx, desiredKind, a.name)
	if errors.Is(err, cluster.ErrNoRecord) {
		return Desired{}, false, nil
	}
	if err != nil {
		return Desired{}, false, fmt.Errorf("read the cluster's release of %s: %w", a.name, err)
	}
	var d Desired
	if err := json.Unmarshal(b, &d); err != nil {
		return Desired{}, false, fmt.Errorf("read the cluster's release of %s: %w", a.name, err)
	}
	return d, true, nil
}

// readRunning returns what every node recorded running of the app,
// sorted by node.
func (a *App) readRunning(ctx context.Context) ([]Running, error) {
	recs, err := a.opts.Cluster.NodeRecords(ctx, runningKind, a.name)
	if err != nil {
		return nil, fmt.Errorf("read the nodes' releases of %s: %w", a.name, err)
	}
	var out []Running
	for _, b := range recs {
		var r Running
		if json.Unmarshal(b, &r) == nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y Running) int { return cmp.Compare(x.Node, y.Node) })
	return out, nil
}

// publishDesired makes rel the cluster's release of the app. A failure
// is logged: the deploy it follows has happened either way, and status
// shows the nodes that differ.
func (a *App) publishDesired(ctx context.Context, rel deploy.Release, by string) {
	d := Desired{Release: rel, By: by, At: time.Now().UTC()}
	b, err := json.Marshal(d)
	if err == nil {
		err = a.opts.Cluster.PutRecord(context.WithoutCancel(ctx), desiredKind, a.name, b)
	}
	if err != nil {
		a.log.Error("the cluster's release of the app not recorded; nodes that return may run another", "version", rel.Version, "err", err)
		return
	}
	a.mu.Lock()
	a.desired.seen = d.key()
	a.desired.current = d
	a.mu.Unlock()
}

// recordRunning records in the cluster which release this node runs.
func (a *App) recordRunning(ctx context.Context) {
	a.mu.Lock()
	r := Running{Node: a.opts.Node, Zone: a.opts.Zone, Release: a.state.Current, At: time.Now().UTC()}
	a.mu.Unlock()
	b, err := json.Marshal(r)
	if err == nil {
		err = a.opts.Cluster.PutNodeRecord(context.WithoutCancel(ctx), a.opts.Node, runningKind, a.name, b)
	}
	if err != nil {
		a.log.Warn("the release this node runs not recorded in the cluster", "release", r.Release, "err", err)
	}
}

// converge reads the cluster's release of the app again and, when it
// changed since the app last acted on it and differs from what runs here,
// deploys it on this node (without its release phase: that ran where the
// release was made). It does nothing while a deploy runs here; the end
// of that deploy checks again. A converging deploy that fails is not
// tried again until the cluster's release changes.
func (a *App) converge(ctx context.Context) {
	cl := a.readCluster(ctx)
	if cl.err != nil || !cl.hasDesired {
		return
	}
	d := cl.desired
	key := d.key()
	a.mu.Lock()
	busy := !a.started || a.deploy != nil || a.rollout != nil
	skip := key == a.desired.seen || key == a.desired.failed
	current := a.state.Current
	if !busy {
		a.desired.seen = key
	}
	a.mu.Unlock()
	if busy || skip || d.Release.Version == current {
		return
	}
	a.log.Info("converging to the cluster's release", "from", current, "to", d.Release.Version, "by", d.By)
	req := localRequest{rel: d.Release, kind: deploy.KindDeploy, who: "the cluster (" + d.By + ")", origin: originConverge, desiredKey: key}
	if _, kept := a.keptRelease(d.Release.Version); kept {
		req.kind = deploy.KindRollback
	}
	if _, err := a.startLocal(req); err != nil {
		a.log.Warn("converging to the cluster's release did not start", "to", d.Release.Version, "err", err)
	}
}

// keptRelease returns the kept release labelled version.
func (a *App) keptRelease(version string) (deploy.Release, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.Release(version)
}

// versionSeq is n for an automatic version "vn", else 0.
func versionSeq(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || !strings.HasPrefix(v, "v") {
		return 0
	}
	return n
}

func deleteRelease(rs []deploy.Release, version string) []deploy.Release {
	return slices.DeleteFunc(rs, func(r deploy.Release) bool { return r.Version == version })
}
