package telemetry

// RequestObserver records the requests the edge answers in the node's
// Metrics and Series: it is the edge's Observer. Requests to an app's
// health check path are left out of both (monitors and load balancers
// poll it all day), though they count as active while they run. Its
// methods are safe for concurrent use.
type RequestObserver struct {
	metrics *Metrics
	series  *Series
	health  map[string]string // app -> its health check path; read-only
}

// NewRequestObserver returns the observer that feeds m and s. health
// maps each app to its health check path; an app without one has all its
// requests recorded.
func NewRequestObserver(m *Metrics, s *Series, health map[string]string) *RequestObserver {
	o := &RequestObserver{metrics: m, series: s, health: make(map[string]string, len(health))}
	for app, path := range health {
		if path != "" {
			o.health[app] = path
		}
	}
	return o
}

// RequestStarted counts a request routed to app as active until
// ObserveRequest reports it answered.
func (o *RequestObserver) RequestStarted(app string) { o.metrics.RequestStarted(app) }

// ObserveRequest records an answered request.
func (o *RequestObserver) ObserveRequest(r Request) {
	if r.App != "" {
		o.metrics.RequestEnded(r.App)
		if p, ok := o.health[r.App]; ok && r.Path == p {
			return
		}
	}
	o.metrics.ObserveRequest(r)
	o.series.Observe(r)
}
