package edge

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/telemetry"
)

// accessLine is one access log record. Field names follow the common
// structured-log vocabulary so log pipelines need no mapping.
type accessLine struct {
	Time       string  `json:"time"`
	ID         string  `json:"request_id"`
	ClientIP   string  `json:"client_ip"`
	Method     string  `json:"method"`
	Host       string  `json:"host"`
	Path       string  `json:"path"`
	Proto      string  `json:"proto"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	App        string  `json:"app,omitempty"`
	Cache      string  `json:"cache,omitempty"`
	Instance   string  `json:"instance,omitempty"`
	Upstream   string  `json:"upstream,omitempty"`
	UpstreamMS float64 `json:"upstream_ms,omitempty"`
	Error      string  `json:"error,omitempty"`
	UserAgent  string  `json:"user_agent,omitempty"`
	Referer    string  `json:"referer,omitempty"`
	TraceID    string  `json:"trace_id,omitempty"`
}

// TargetNamer is an app's upstream that can name the target (instance)
// at an address, for the access log; a balance.Pool, and a Gate in
// front of one, are.
type TargetNamer interface {
	TargetAt(addr string) string
}

// logAccess writes the access log line of a request; upstream is the
// address of the instance that answered, if any.
func (s *Server) logAccess(r *http.Request, x *exchange, info *telemetry.Request, upstream string) {
	line := accessLine{
		Time:       x.start.UTC().Format(time.RFC3339Nano),
		ID:         x.id,
		ClientIP:   x.clientIP.String(),
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.RequestURI(),
		Proto:      r.Proto,
		Status:     info.Status,
		Bytes:      info.Bytes,
		DurationMS: milliseconds(info.Duration),
		App:        info.App,
		Cache:      info.Cache,
		Upstream:   upstream,
		UpstreamMS: milliseconds(info.Upstream),
		Error:      info.Error,
		UserAgent:  r.UserAgent(),
		Referer:    r.Referer(),
		TraceID:    traceID(r, x),
	}
	if n, ok := s.opts.Upstreams[info.App].(TargetNamer); ok && upstream != "" {
		line.Instance = n.TargetAt(upstream)
	}
	b, err := json.Marshal(line)
	if err != nil {
		return // every field is a plain string or number; cannot happen
	}
	b = append(b, '\n')
	s.opts.AccessLog.Write(b) // the writer serialises lines; a failed log write must not fail the request
}

// milliseconds rounds d to microseconds, in milliseconds.
func milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
