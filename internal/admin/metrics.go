package admin

import "net/http"

// registerMetrics serves Options.Metrics (the node's Prometheus
// exposition) at GET /metrics, where scrapers look by default. Without
// it, /metrics answers 404.
func (s *Server) registerMetrics(mux *http.ServeMux) {
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Metrics == nil {
			writeError(w, http.StatusNotFound, "this node exports no metrics")
			return
		}
		s.opts.Metrics.ServeHTTP(w, r)
	})
}
