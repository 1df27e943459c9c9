package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/uptime"
)

// This file runs the stack's uptime checks and sends their alerts.

var _ admin.Checks = (*Node)(nil)

// newChecks builds the uptime monitor; nil when the stack has no checks.
func (n *Node) newChecks() (*uptime.Monitor, error) {
	if len(n.st.CheckNames) == 0 {
		return nil, nil
	}
	var checks []uptime.Check
	for _, name := range n.st.CheckNames {
		c := n.st.Checks[name]
		checks = append(checks, uptime.Check{Name: name, URL: c.URL, Method: c.Method, Interval: time.Duration(c.Interval),
			Timeout: time.Duration(c.Timeout), Status: c.Expect.Status, Body: c.Expect.Body, Rise: c.Rise, Fall: c.Fall, Headers: c.Headers})
	}
	var notifiers []uptime.Notifier
	if w := n.st.Alerts.Webhook; w != nil {
		wh, err := uptime.NewWebhook(uptime.WebhookOptions{URL: w.URL, Headers: w.Headers})
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, wh)
	}
	if s := n.st.Alerts.SMTP; s != nil {
		sm, err := uptime.NewSMTP(uptime.SMTPOptions{Host: s.Host, Port: s.Port, From: s.From, To: s.To,
			Username: s.Username, Password: s.Password, StartTLS: s.StartTLS})
		if err != nil {
			return nil, err
		}
		notifiers = append(notifiers, sm)
	}
	return uptime.New(uptime.Options{
		Node:      n.st.Cluster.Node,
		Checks:    checks,
		Renotify:  time.Duration(n.st.Alerts.Renotify),
		Verdicts:  clusterVerdicts{n},
		Leader:    clusterLeader{n},
		Notifiers: notifiers,
		Logger:    n.log.With("part", "checks"),
	})
}

// clusterVerdicts shares every node's verdicts through etcd, where every
// node's evaluator reads them for the quorum rule.
type clusterVerdicts struct{ n *Node }

func (v clusterVerdicts) Publish(ctx context.Context, vd uptime.Verdict) error {
	b, err := json.Marshal(vd)
	if err != nil {
		return fmt.Errorf("publish verdict: %w", err)
	}
	c := v.n.cl.c
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	return cluster.PutRecord(ctx, c.Client(), c.Prefix(), "checks", vd.Check+"/"+vd.Node, b)
}

func (v clusterVerdicts) All(ctx context.Context) ([]uptime.Verdict, error) {
	c := v.n.cl.c
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	recs, err := cluster.Records(ctx, c.Client(), c.Prefix(), "checks")
	if err != nil {
		return nil, err
	}
	out := make([]uptime.Verdict, 0, len(recs))
	for id, b := range recs {
		var vd uptime.Verdict
		if err := json.Unmarshal(b, &vd); err != nil {
			v.n.log.Warn("undecodable uptime verdict ignored", "record", id, "err", err)
			continue
		}
		out = append(out, vd)
	}
	return out, nil
}

// clusterLeader makes the first node of the cluster view, by name, the one
// that sends alerts; every node evaluates, one speaks.
type clusterLeader struct{ n *Node }

func (l clusterLeader) Leader() bool {
	self := l.n.st.Cluster.Node
	if l.n.cl.view == nil {
		return true
	}
	for name := range l.n.cl.view.View().Nodes {
		if name < self {
			return false
		}
	}
	return true
}

// Checks implements admin.Checks.
func (n *Node) Checks(context.Context) ([]admin.CheckStatus, error) {
	out := []admin.CheckStatus{}
	if n.checks == nil {
		return out, nil
	}
	for _, s := range n.checks.Status() {
		cs := admin.CheckStatus{Name: s.Name, URL: s.URL, State: s.State.String(), Since: s.Since, LastChecked: s.Last.At,
			LastError: s.Last.Error, LatencyMS: millis(s.Last.Latency), Nodes: make(map[string]admin.CheckVerdict, len(s.Nodes)),
			History: make([]admin.CheckProbe, 0, len(s.History))}
		for node, v := range s.Nodes {
			cs.Nodes[node] = admin.CheckVerdict{State: v.State.String(), At: v.At, Error: v.Error}
		}
		for _, p := range s.History {
			state := uptime.Up
			if !p.OK {
				state = uptime.Down
			}
			cs.History = append(cs.History, admin.CheckProbe{At: p.At, State: state.String(), LatencyMS: millis(p.Latency)})
		}
		out = append(out, cs)
	}
	return out, nil
}

// checkSummaries is the checks' part of the node's status.
func (n *Node) checkSummaries() []admin.CheckSummary {
	if n.checks == nil {
		return nil
	}
	var out []admin.CheckSummary
	for _, s := range n.checks.Status() {
		out = append(out, admin.CheckSummary{Name: s.Name, State: s.State.String(), Since: s.Since})
	}
	return out
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
