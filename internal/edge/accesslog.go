package edge

import (
	"encoding/json"
	"net/http"
	"time"
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
	Upstream   string  `json:"upstream,omitempty"`
	Error      string  `json:"error,omitempty"`
	UserAgent  string  `json:"user_agent,omitempty"`
	Referer    string  `json:"referer,omitempty"`
	TraceID    string  `json:"trace_id,omitempty"`
}

func (s *Server) logAccess(r *http.Request, x *exchange, rec *recorder) {
	w := s.opts.AccessLog
	if w == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	upstream, errKind := x.outcome()
	line := accessLine{
		Time:       x.start.UTC().Format(time.RFC3339Nano),
		ID:         x.id,
		ClientIP:   x.clientIP.String(),
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.RequestURI(),
		Proto:      r.Proto,
		Status:     status,
		Bytes:      rec.bytes,
		DurationMS: float64(time.Since(x.start).Microseconds()) / 1000,
		App:        x.app,
		Upstream:   upstream,
		Error:      errKind,
		UserAgent:  r.UserAgent(),
		Referer:    r.Referer(),
		TraceID:    s.tracer.traceID(r, x),
	}
	b, err := json.Marshal(line)
	if err != nil {
		return // every field is a plain string or number; cannot happen
	}
	b = append(b, '\n')
	w.Write(b) // the writer serialises lines; a failed log write must not fail the request
}
