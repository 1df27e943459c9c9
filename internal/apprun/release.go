package apprun

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/deploy"
)

// This file decides which release an app runs when the node starts: its
// own current one, a new one from a changed stack file, or the cluster's.

// loadRelease decides which release the app starts with and makes it
// current in the app's state:
//   - the cluster's desired release (desired.go), when the cluster has one
//     and other nodes run the app: a node that was down during a deploy,
//     or joins the cluster, converges to what the others run;
//   - otherwise its own current release, or a new one when the stack file's
//     section changed (or on the very first start); a new release's release
//     phase runs first, and the new release becomes the cluster's.
//
// A deploy the node was in the middle of when it stopped is recorded as
// interrupted: the instances died with the node, and the release that was
// current before it runs again.
func (a *App) loadRelease(ctx context.Context) (deploy.Release, error) {
	st, err := a.opts.Store.Load(a.name)
	if err != nil {
		return deploy.Release{}, err
	}
	a.settleInterrupted(&st)
	spec := a.opts.Stack
	cur, hasCur := st.CurrentRelease()
	stackChanged := st.StackSpec == nil || !st.StackSpec.Equal(spec)
	cl := a.readCluster(ctx)
	switch {
	case cl.err == nil && cl.hasDesired && cl.others > 0:
		if cl.desired.Release.Version != st.Current {
			cur = a.adopt(&st, cl.desired)
		}
		if stackChanged && !cur.Spec().Equal(spec) {
			a.log.Warn("the stack file's section differs from the cluster's release; the cluster's runs (tandem apply deploys the file across the cluster)",
				"runs", cur.Version, "stack_file", a.opts.StackFile)
		}
	case !hasCur || stackChanged && !cur.Spec().Equal(spec):
		if cur, err = a.releaseFromStack(ctx, &st, spec, cur, hasCur); err != nil {
			return deploy.Release{}, err
		}
	}
	if cl.err != nil {
		a.log.Warn("the cluster's release of the app could not be read; starting with this node's", "runs", cur.Version, "err", cl.err)
	}
	st.StackSpec = &spec
	if err := a.opts.Store.Save(st); err != nil {
		return deploy.Release{}, err
	}
	a.mu.Lock()
	a.state = st
	a.desired.seen = cl.desired.key()
	a.mu.Unlock()
	if cl.err == nil && cl.others == 0 && (!cl.hasDesired || cl.desired.Release.Version != cur.Version) {
		a.publishDesired(ctx, cur, "stack file "+a.opts.StackFile+" at "+a.opts.Node)
	}
	if m := st.Maintenance; m != nil {
		a.gate.Maintenance(m.Message, m.Since)
	}
	return cur, nil
}

// settleInterrupted records a deploy the node stopped in the middle of as
// interrupted.
func (a *App) settleInterrupted(st *deploy.AppState) {
	p := st.Pending
	if p == nil {
		return
	}
	rec := *p
	rec.Finished, rec.Result = time.Now(), deploy.ResultInterrupted
	rec.Reason = fmt.Sprintf("tandem stopped during the %s; started again with %s", rec.Kind, st.Current)
	st.AddRecord(rec)
	st.Pending = nil
	a.log.Warn("deploy was interrupted by a stop; rolled back", "from", rec.From, "to", rec.To, "runs", st.Current)
}

// adopt makes the cluster's release d current in st without a deploy:
// nothing of the app runs yet. The release phase ran where d was made.
func (a *App) adopt(st *deploy.AppState, d Desired) deploy.Release {
	rel := d.Release
	now := time.Now()
	if old, ok := st.Release(rel.Version); ok && !old.Spec().Equal(rel.Spec()) {
		a.log.Warn("this node kept a different release under the cluster's label; the cluster's replaces it", "version", rel.Version)
		st.Releases = deleteRelease(st.Releases, rel.Version)
	}
	if _, ok := st.Release(rel.Version); !ok {
		st.AddRelease(rel, a.opts.History)
	}
	st.Seq = max(st.Seq, versionSeq(rel.Version))
	st.AddRecord(deploy.Record{ID: st.NextID(), Kind: deploy.KindDeploy, Who: "the cluster (" + d.By + ")", From: st.Current, To: rel.Version,
		Started: now, Finished: now, Result: deploy.ResultSucceeded, Reason: "converged to the cluster's release at start"})
	a.log.Info("converged to the cluster's release", "from", st.Current, "to", rel.Version, "by", d.By)
	st.Current = rel.Version
	return rel
}

// releaseFromStack makes the stack file's app section the current release
// of st, after its release phase. When that fails, a node that has a
// release keeps it; a node starting for the first time cannot start.
func (a *App) releaseFromStack(ctx context.Context, st *deploy.AppState, spec deploy.Spec, cur deploy.Release, hasCur bool) (deploy.Release, error) {
	rel := deploy.Release{Version: deploy.AutoVersion(st.Seq + 1), Command: spec.Command, Dir: spec.Dir, Env: spec.Env,
		ReleaseCommand: spec.ReleaseCommand, Created: time.Now(), Source: deploy.SourceStack}
	rec := deploy.Record{ID: st.NextID(), Kind: deploy.KindDeploy, Who: "stack file " + a.opts.StackFile, From: cur.Version, To: rel.Version, Started: rel.Created}
	st.Seq++
	st.AddRelease(rel, a.opts.History)
	var err error
	if rel.ReleaseCommand != nil {
		a.log.Info("release phase", "version", rel.Version, "command", strings.Join(rel.ReleaseCommand, " "))
		rctx := ctx
		if t := a.opts.ReleaseTimeout; t > 0 {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		err = a.runRelease(rctx, rel, func(string) {})
	}
	rec.Finished = time.Now()
	if err != nil {
		rec.Result, rec.Reason = deploy.ResultFailed, "release phase failed: "+err.Error()
		st.AddRecord(rec)
		if !hasCur {
			return deploy.Release{}, fmt.Errorf("start app %s: release %s: %w", a.name, rel.Version, err)
		}
		a.log.Error("release phase of the stack file's release failed; keeping the current release",
			"version", rel.Version, "current", cur.Version, "err", err)
		return cur, nil
	}
	rec.Result = deploy.ResultSucceeded
	st.AddRecord(rec)
	st.Current = rel.Version
	a.log.Info("new release from the stack file", "version", rel.Version, "previous", cur.Version)
	return rel, nil
}
