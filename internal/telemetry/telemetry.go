// Package telemetry owns what a node tells about itself: the Prometheus
// registry and the metrics in it (Metrics), the in-process recorder of
// each app's recent traffic behind the status page's charts (Series),
// the edge's observer that feeds both (RequestObserver), and its traces:
// the OpenTelemetry tracer provider and exporter (Tracing) and the spans
// of the edge's requests (RequestTracer). Each is a value the node
// creates and passes to the parts that feed it; nothing here is global,
// and no other package imports the Prometheus client or OpenTelemetry.
//
// Metric names follow what dashboards already query: the OpenTelemetry
// HTTP server conventions in Prometheus form
// (http_server_request_duration_seconds and friends) for requests, and
// tandem_* for the rest (instances, cache, edge, deploys, jobs).
package telemetry
