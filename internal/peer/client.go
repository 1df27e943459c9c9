package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/deploy"
)

// Client asks other nodes to roll their instances, for the rollouts this
// node coordinates. It finds them in the cluster's view.
type Client struct {
	self string
	view apprun.View
	http *http.Client
}

var _ apprun.Peers = (*Client)(nil)

// NewClient returns a client for node self that finds the other nodes in
// view and reaches them over rt (a Transport).
func NewClient(self string, view apprun.View, rt http.RoundTripper) *Client {
	return &Client{self: self, view: view, http: &http.Client{Transport: rt}}
}

// Nodes implements apprun.Peers: the other nodes of the view that run app.
func (c *Client) Nodes(app string) []deploy.Member {
	var out []deploy.Member
	for name, nv := range c.view.View().Nodes {
		if _, runs := nv.Apps[app]; runs && name != c.self {
			out = append(out, deploy.Member{Name: name, Zone: nv.Info.Zone, Addr: nv.Info.NodeAddr})
		}
	}
	return out
}

// For implements apprun.Peers.
func (c *Client) For(app, who string) deploy.Peers { return rolloutPeers{c: c, app: app, who: who} }

// rolloutPeers are the other nodes for one rollout of app, asked for by
// who.
type rolloutPeers struct {
	c        *Client
	app, who string
}

// Deploy implements deploy.Peers: node rolls to rel without its release
// phase, which ran on the coordinator.
func (r rolloutPeers) Deploy(ctx context.Context, node deploy.Member, rel deploy.Release, onEvent func(deploy.Event)) (deploy.Event, error) {
	return r.c.call(ctx, node, r.app, "deploy", deployRequest{Who: r.who, Release: rel, SkipReleasePhase: true}, onEvent)
}

// Rollback implements deploy.Peers.
func (r rolloutPeers) Rollback(ctx context.Context, node deploy.Member, version string, onEvent func(deploy.Event)) (deploy.Event, error) {
	return r.c.call(ctx, node, r.app, "rollback", rollbackRequest{Who: r.who, Version: version}, onEvent)
}

// call asks node p to run op of app with body, passing each event of
// its progress to onEvent, and returns the last one. An error that
// leaves the node untouched — it was not reached, or the connection
// failed before it accepted — wraps deploy.ErrUnreachable.
func (c *Client) call(ctx context.Context, p deploy.Member, app, op string, body any, onEvent func(deploy.Event)) (deploy.Event, error) {
	if p.Addr == "" {
		return deploy.Event{}, fmt.Errorf("%s %s on %s: %w: the node is down (not in the cluster's view)", op, app, p.Name, deploy.ErrUnreachable)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return deploy.Event{}, fmt.Errorf("%s %s on %s: encode request: %w", op, app, p.Name, err)
	}
	u := "https://" + p.Addr + "/node/v1/apps/" + url.PathEscape(app) + "/" + op
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return deploy.Event{}, fmt.Errorf("%s %s on %s: %w", op, app, p.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return deploy.Event{}, fmt.Errorf("%s %s on %s: %w: %w", op, app, p.Name, deploy.ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var answer errorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &answer) != nil || answer.Error == "" {
			answer.Error = string(bytes.TrimSpace(raw))
		}
		return deploy.Event{}, fmt.Errorf("%s %s on %s: %s (HTTP %d)", op, app, p.Name, answer.Error, resp.StatusCode)
	}
	last, err := readStream(resp.Body, onEvent)
	if err != nil {
		if errors.Is(err, ErrStreamEnded) || ctx.Err() == nil {
			return last, fmt.Errorf("%s %s on %s: %w", op, app, p.Name, err)
		}
		return last, fmt.Errorf("%s %s on %s: %w", op, app, p.Name, ctx.Err())
	}
	return last, nil
}
