// Package telemetry owns what a node tells about itself: the Prometheus
// registry and the metrics in it (Metrics), and the in-process recorder
// of each app's recent traffic behind the status page's charts (Series).
// Both are values the node creates and passes to the parts that feed
// them; nothing here is global, and no other package imports the
// Prometheus client.
//
// Metric names follow what dashboards already query: the OpenTelemetry
// HTTP server conventions in Prometheus form
// (http_server_request_duration_seconds and friends) for requests, and
// tandem_* for the rest (instances, cache, deploys, jobs).
package telemetry
