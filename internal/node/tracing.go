package node

import (
	"context"
	"log/slog"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/telemetry"
)

// tracingShutdownTimeout bounds the export of the last spans when the node
// stops.
const tracingShutdownTimeout = 5 * time.Second

// newTracing builds the node's tracer provider from the stack file's
// tracing section; a no-op one when tracing is off.
func newTracing(st *config.Stack, version string, log *slog.Logger) (*telemetry.Tracing, error) {
	t := st.Tracing
	return telemetry.NewTracing(telemetry.TracingOptions{
		Endpoint:       t.OTLPEndpoint,
		Headers:        t.Headers,
		SampleRatio:    t.SampleRatio,
		ServiceName:    t.ServiceName,
		ServiceVersion: version,
		Node:           st.Cluster.Node,
		Zone:           st.Cluster.Zone,
		Site:           st.Cluster.Site,
		Logger:         log.With("part", "tracing"),
	})
}

// requestTracer returns the tracer of the edge's requests: nil when
// tracing is off, so that requests pay nothing for it. (A nil
// *telemetry.RequestTracer held in an edge.Tracer would not be nil.)
func requestTracer(t *telemetry.Tracing) edge.Tracer {
	if rt := telemetry.NewRequestTracer(t.TracerProvider()); rt != nil {
		return rt
	}
	return nil
}

// tracedPool makes the pool trace each attempt at an instance.
func (n *Node) tracedPool(o balance.Options) balance.Options {
	o.OnAttempt = edge.TraceAttempts(n.tracer)
	return o
}

// stopTracing exports the spans still queued, waiting at most
// tracingShutdownTimeout.
func (n *Node) stopTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := n.tracing.Shutdown(ctx); err != nil {
		n.log.Warn("spans left unexported", "err", err)
	}
}
