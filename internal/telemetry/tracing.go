package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracesPath is appended to TracingOptions.Endpoint, as OpenTelemetry's
// OTEL_EXPORTER_OTLP_ENDPOINT convention does.
const tracesPath = "/v1/traces"

// TracingOptions configure Tracing. Only Endpoint is required to turn
// tracing on.
type TracingOptions struct {
	// Endpoint is the base URL of an OTLP/HTTP receiver, such as
	// "http://127.0.0.1:4318"; spans are posted, protobuf-encoded, to its
	// path + "/v1/traces". "" turns tracing off.
	Endpoint string
	// Headers are sent with every export (an API key, for instance).
	Headers map[string]string
	// SampleRatio is the share of new traces recorded, from 0 to 1. A span
	// whose parent came with the request follows the parent's decision.
	SampleRatio float64
	// ServiceName is the resource's service.name; "" means "tandem".
	ServiceName string
	// ServiceVersion is the resource's service.version; "" leaves it out.
	ServiceVersion string
	// HostName is the resource's host.name; "" means os.Hostname().
	HostName string
	// Node, Zone and Site place the spans in the cluster: tandem.node
	// (also service.instance.id), tandem.zone and tandem.site; "" leaves
	// the attribute out.
	Node, Zone, Site string
	// BatchTimeout is the longest a finished span waits before it is
	// exported; 0 means 5s.
	BatchTimeout time.Duration
	// ExportTimeout bounds one export request; 0 means 10s.
	ExportTimeout time.Duration
	// Logger receives failed exports; nil discards them.
	Logger *slog.Logger
}

// Tracing is the node's OpenTelemetry tracer provider: spans are sampled
// by trace id (parent-based), batched, and exported over OTLP/HTTP. When
// tracing is off it hands out a no-op provider, for which
// NewRequestTracer makes no tracer, so that requests pay nothing for it.
type Tracing struct {
	sdk *sdktrace.TracerProvider // nil when off
	tp  trace.TracerProvider     // sdk, or a no-op provider
}

// NewTracing builds the tracer provider opts describe. When tracing is on,
// the provider's batching goroutine runs from here until Shutdown; nothing
// is sent before the first span ends.
func NewTracing(opts TracingOptions) (*Tracing, error) {
	if opts.Endpoint == "" {
		return &Tracing{tp: noop.NewTracerProvider()}, nil
	}
	if r := opts.SampleRatio; !(r >= 0 && r <= 1) {
		return nil, fmt.Errorf("new tracing: sample ratio %g is not between 0 and 1", r)
	}
	endpoint, err := tracesURL(opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("new tracing: %w", err)
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithHeaders(opts.Headers),
		otlptracehttp.WithTimeout(cmp.Or(opts.ExportTimeout, 10*time.Second)),
	)
	if err != nil {
		return nil, fmt.Errorf("new tracing: otlp exporter: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithResource(tracingResource(opts)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
		sdktrace.WithBatcher(loggedExporter{SpanExporter: exp, log: log, endpoint: endpoint},
			sdktrace.WithBatchTimeout(cmp.Or(opts.BatchTimeout, 5*time.Second))),
	)
	return &Tracing{sdk: sdk, tp: sdk}, nil
}

// TracerProvider returns the provider spans are made with: the SDK's, or a
// no-op provider when tracing is off. It is never nil.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.tp }

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown exports the spans still queued and stops the provider, waiting
// at most until ctx ends. Spans started afterwards are dropped. Calling it
// again, or when tracing is off, does nothing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down tracing: %w", err)
	}
	return nil
}

// tracesURL appends the OTLP traces path to a base URL.
func tracesURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("otlp endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("otlp endpoint %q: not an http:// or https:// URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
	u.RawPath = ""
	return u.String(), nil
}

// tracingResource describes this node to the tracing backend.
func tracingResource(o TracingOptions) *resource.Resource {
	name := o.ServiceName
	if name == "" {
		name = "tandem"
	}
	host := o.HostName
	if host == "" {
		host, _ = os.Hostname() // left out when unknown
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	for _, a := range []struct {
		key attribute.Key
		val string
	}{
		{semconv.ServiceVersionKey, o.ServiceVersion},
		{semconv.HostNameKey, host},
		{semconv.ServiceInstanceIDKey, o.Node},
		{"tandem.node", o.Node},
		{"tandem.zone", o.Zone},
		{"tandem.site", o.Site},
	} {
		if a.val != "" {
			attrs = append(attrs, a.key.String(a.val))
		}
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

// loggedExporter logs a failed export instead of handing the error back to
// the batch processor, which would report it through OpenTelemetry's
// process-wide error handler.
type loggedExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
}

// ExportSpans implements sdktrace.SpanExporter.
func (e loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil && !errors.Is(err, context.Canceled) {
		e.log.Warn("trace export failed", "endpoint", e.endpoint, "spans", len(spans), "err", err)
	}
	return nil
}
