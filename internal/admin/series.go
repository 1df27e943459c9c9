package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SeriesSource gives each app's recent traffic, for the status page's
// charts.
type SeriesSource interface {
	// Series returns the steps of the last window, which is between
	// MinSeriesWindow and MaxSeriesWindow.
	Series(window time.Duration) Series
}

// The windows GET /v1/series accepts, and the one it uses when none is
// asked for.
const (
	MinSeriesWindow     = time.Minute
	MaxSeriesWindow     = time.Hour
	DefaultSeriesWindow = 15 * time.Minute
)

// Series is the answer to GET /v1/series: each app's traffic over the
// window, in steps of StepSeconds, oldest first.
type Series struct {
	StepSeconds int64                `json:"step_seconds"`
	End         time.Time            `json:"end"` // the end of the last step
	Apps        map[string]AppSeries `json:"apps"`
}

// AppSeries is one app's traffic over a window; every slice has one
// value per step. Requests to the app's health check path are left out.
type AppSeries struct {
	T        []int64 `json:"t"`         // start of each step, unix seconds
	RPS      Values  `json:"rps"`       // requests per second through the edge
	Errors   Values  `json:"errors"`    // share of answers that were 5xx, 0..1
	P50MS    Values  `json:"p50_ms"`    // latency quantiles, milliseconds
	P95MS    Values  `json:"p95_ms"`    //
	P99MS    Values  `json:"p99_ms"`    //
	HitRatio Values  `json:"hit_ratio"` // cache hits / cacheable lookups
}

// Values are the numbers of a chart. NaN marks a step without data (no
// requests for a ratio or a quantile; before the node started for all);
// in JSON it is null.
type Values []float64

// MarshalJSON writes NaN as null.
func (v Values) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("[]"), nil
	}
	b := make([]byte, 0, 2+8*len(v))
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads null as NaN.
func (v *Values) UnmarshalJSON(b []byte) error {
	var ps []*float64
	if err := json.Unmarshal(bytes.TrimSpace(b), &ps); err != nil {
		return err
	}
	*v = make(Values, len(ps))
	for i, p := range ps {
		(*v)[i] = math.NaN()
		if p != nil {
			(*v)[i] = *p
		}
	}
	return nil
}

func (s *Server) registerSeries(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/series", s.series)
}

func (s *Server) series(w http.ResponseWriter, r *http.Request) {
	if s.opts.Series == nil {
		writeError(w, http.StatusNotImplemented, "this node records no series")
		return
	}
	window, err := parseWindow(r.URL.Query().Get("window"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Series.Series(window))
}

// parseWindow reads the window parameter: a Go duration ("15m", "1h")
// between MinSeriesWindow and MaxSeriesWindow, whole seconds; "" is
// DefaultSeriesWindow.
func parseWindow(v string) (time.Duration, error) {
	if v == "" {
		return DefaultSeriesWindow, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, Errorf(ErrBadRequest, "window %q: not a duration such as 15m or 1h", v)
	case d < MinSeriesWindow || d > MaxSeriesWindow:
		return 0, Errorf(ErrBadRequest, "window %q: must be between 1m and 60m", v)
	case d%time.Second != 0:
		return 0, Errorf(ErrBadRequest, "window %q: must be whole seconds", v)
	}
	return d, nil
}

// Series fetches each app's traffic over the last window (0 means
// DefaultSeriesWindow).
func (c *Client) Series(ctx context.Context, window time.Duration) (Series, error) {
	path := "/v1/series"
	if window > 0 {
		path += "?window=" + url.QueryEscape(window.String())
	}
	var s Series
	err := c.do(ctx, http.MethodGet, path, &s)
	return s, err
}
