package uptime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// verdictsKind is the kind of the records the verdicts are shared as.
const verdictsKind = "checks"

// Records keeps small records every node reads; *cluster.Cluster
// implements it.
type Records interface {
	PutRecord(ctx context.Context, kind, id string, value []byte) error
	Records(ctx context.Context, kind string) (map[string][]byte, error)
}

// RecordVerdicts shares every node's verdicts as records of the cluster,
// where every node's evaluator reads them for the quorum rule.
type RecordVerdicts struct {
	Records Records
	Logger  *slog.Logger // receives undecodable records; nil discards them
}

var _ Verdicts = RecordVerdicts{}

// Publish implements Verdicts.
func (v RecordVerdicts) Publish(ctx context.Context, vd Verdict) error {
	b, err := json.Marshal(vd)
	if err != nil {
		return fmt.Errorf("publish verdict: %w", err)
	}
	return v.Records.PutRecord(ctx, verdictsKind, vd.Check+"/"+vd.Node, b)
}

// All implements Verdicts.
func (v RecordVerdicts) All(ctx context.Context) ([]Verdict, error) {
	recs, err := v.Records.Records(ctx, verdictsKind)
	if err != nil {
		return nil, err
	}
	out := make([]Verdict, 0, len(recs))
	for id, b := range recs {
		var vd Verdict
		if err := json.Unmarshal(b, &vd); err != nil {
			if v.Logger != nil {
				v.Logger.Warn("undecodable uptime verdict ignored", "record", id, "err", err)
			}
			continue
		}
		out = append(out, vd)
	}
	return out, nil
}

// FirstOfView makes the first node of the cluster's view, by name, the
// one that sends alerts: every node evaluates, one speaks.
type FirstOfView struct {
	Self string
	// View lists the nodes in the view now.
	View func() []string
}

var _ Leader = FirstOfView{}

// Leader implements Leader.
func (l FirstOfView) Leader() bool {
	for _, name := range l.View() {
		if name < l.Self {
			return false
		}
	}
	return true
}
