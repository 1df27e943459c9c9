package admin

import "net/http"

// registerMetrics serves Options.Metrics (the node's Prometheus
// exposition) at GET /metrics, where scrapers look by default. Without
// it, /metrics is an unknown endpoint (404).
func (s *Server) registerMetrics(mux *http.ServeMux) {
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
}
