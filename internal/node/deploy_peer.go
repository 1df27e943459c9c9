package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/deploy"
)

// This file is the node-to-node side of a deploy across the cluster: the
// routes of the node listener through which the coordinating node has
// another node roll its own instances, and the client that calls them.

// peerDeployRequest is the body of POST /node/v1/apps/{app}/deploy: a
// release the coordinating node made, to roll out here under the same
// version.
type peerDeployRequest struct {
	Who     string         `json:"who"`
	Release deploy.Release `json:"release"`
	// SkipReleasePhase leaves the release phase out: it ran once, on
	// the coordinating node.
	SkipReleasePhase bool `json:"skip_release_phase"`
}

// peerControl routes the node listener's requests that are not app
// traffic (those carry balance.AppHeader).
func (n *Node) peerControl() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /node/v1/apps/{app}/deploy", n.servePeerDeploy)
	mux.HandleFunc("POST /node/v1/apps/{app}/rollback", n.servePeerRollback)
	return mux
}

// servePeerDeploy rolls this node's instances to the release another
// node sent, streaming the progress as the admin API does. A node that
// runs that release already has nothing to do.
func (n *Node) servePeerDeploy(w http.ResponseWriter, r *http.Request) {
	var req peerDeployRequest
	watch, err := func() (admin.DeployWatch, error) {
		if err := decodePeer(r, &req); err != nil {
			return nil, err
		}
		a, err := n.app(r.PathValue("app"))
		if err != nil {
			return nil, err
		}
		if err := deploy.CheckVersion(req.Release.Version); err != nil {
			return nil, admin.Errorf(admin.ErrBadRequest, "deploy %s: %w", a.name, err)
		}
		if watch := n.runsAlready(a, req.Release.Version); watch != nil {
			return watch, nil
		}
		return n.startDeploy(a, req.Release, deploy.KindDeploy, req.Who, false, req.SkipReleasePhase)
	}()
	admin.StreamDeploy(w, r, watch, err)
}

// servePeerRollback rolls this node's instances back to a kept release,
// for another node that coordinates a rollback, or undoes a deploy
// across the cluster that failed elsewhere.
func (n *Node) servePeerRollback(w http.ResponseWriter, r *http.Request) {
	var req admin.RollbackRequest
	watch, err := func() (admin.DeployWatch, error) {
		if err := decodePeer(r, &req); err != nil {
			return nil, err
		}
		a, err := n.app(r.PathValue("app"))
		if err != nil {
			return nil, err
		}
		if watch := n.runsAlready(a, req.Version); watch != nil {
			return watch, nil
		}
		rel, err := rollbackRelease(a, req.Version)
		if err != nil {
			return nil, err
		}
		return n.startDeploy(a, rel, deploy.KindRollback, req.Who, false, false)
	}()
	admin.StreamDeploy(w, r, watch, err)
}

// runsAlready returns a finished watch if a runs version ("" is never
// run) and no deploy of it is in progress; nil otherwise.
func (n *Node) runsAlready(a *app, version string) admin.DeployWatch {
	a.mu.Lock()
	runs := version != "" && a.state.Current == version && a.deploy == nil
	a.mu.Unlock()
	if !runs {
		return nil
	}
	ev := admin.DeployEvent{Time: time.Now(), Step: deploy.StepDone, Version: version, Result: string(deploy.ResultSucceeded),
		Message: fmt.Sprintf("%s runs here already; nothing to do", version)}
	return func(from int) ([]admin.DeployEvent, bool, <-chan struct{}) {
		if from > 0 {
			return nil, true, nil
		}
		return []admin.DeployEvent{ev}, true, nil
	}
}

// decodePeer decodes a node-to-node request body strictly.
func decodePeer(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return admin.Errorf(admin.ErrBadRequest, "decode request: %w", err)
	}
	return nil
}

// peerDeploy asks node nd to run op ("deploy" or "rollback") of app with
// body, passing each event of its progress to onEvent, and returns the
// last one (its Result says how it ended).
func (n *Node) peerDeploy(ctx context.Context, nd zoneNode, app, op string, body any, onEvent func(admin.DeployEvent)) (admin.DeployEvent, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return admin.DeployEvent{}, fmt.Errorf("%s %s on %s: encode request: %w", op, app, nd.Name, err)
	}
	u := "https://" + nd.Addr + "/node/v1/apps/" + url.PathEscape(app) + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return admin.DeployEvent{}, fmt.Errorf("%s %s on %s: %w", op, app, nd.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: n.peers}).Do(req)
	if err != nil {
		return admin.DeployEvent{}, fmt.Errorf("%s %s on %s: %w", op, app, nd.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var answer struct {
			Error string `json:"error"`
		}
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &answer) != nil || answer.Error == "" {
			answer.Error = string(bytes.TrimSpace(raw))
		}
		return admin.DeployEvent{}, fmt.Errorf("%s %s on %s: %s (HTTP %d)", op, app, nd.Name, answer.Error, resp.StatusCode)
	}
	last, err := admin.ReadDeployStream(resp.Body, onEvent)
	if err != nil {
		if errors.Is(err, admin.ErrStreamEnded) || ctx.Err() == nil {
			return last, fmt.Errorf("%s %s on %s: %w", op, app, nd.Name, err)
		}
		return last, fmt.Errorf("%s %s on %s: %w", op, app, nd.Name, ctx.Err())
	}
	return last, nil
}
