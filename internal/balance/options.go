package balance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// maxAttempts bounds Retry.Attempts; it sizes the per-request list of tried
// targets, which lives on the stack.
const maxAttempts = 10

// Options configure a Pool. Zero values of the numeric fields mean the
// documented default; negative values disable what they bound, where said.
type Options struct {
	App  string // the app the pool serves; names it in logs and errors; required
	Zone string // the local zone; "" means no zone preference
	Site string // the local site, for SiteTransport; "" means none

	// SpillInFlight is when the local zone counts as saturated: once every
	// eligible target in it has at least SpillInFlight requests in flight,
	// targets in other zones join the draw, and the least busy of the two
	// drawn wins as usual. 0 means 64; negative means never: other zones
	// get requests only while no local target is eligible.
	SpillInFlight int

	Health  HealthCheck
	Passive PassiveHealth
	Retry   Retry

	// UpstreamTimeout bounds the wait for a target's response headers once
	// the request was sent (the default transport's ResponseHeaderTimeout).
	// 0 means 60s; negative means no limit. Ignored when Transport is set.
	UpstreamTimeout time.Duration
	// ConnectTimeout bounds dialling a target, for requests and health
	// checks. 0 means 3s. Transport's own dialler is used when Transport is set.
	ConnectTimeout time.Duration

	// DialContext opens connections to targets, for requests and health
	// checks, within ConnectTimeout. nil means a net.Dialer's. It must
	// report failures as a net.Dialer does (a *net.OpError with Op "dial"
	// wrapping the system's error), for them to be retried and for a
	// failure of this host's own resources (see ErrLocalResources) to be
	// told from the target's. Transport's own dialler is used when
	// Transport is set.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Transport sends proxied requests. nil means the pool's own: kept-alive
	// connections per target for requests without a body (see conns), and
	// a net/http Transport tuned for a proxy for the others (see
	// newTransport). Health checks never use it. Connection
	// failures are recognised as *net.OpError with Op "dial", as net.Dialer
	// reports them; a Transport that dials otherwise loses retries on them.
	Transport http.RoundTripper

	// TLS configures the connections of the pool's own transports to
	// https URL targets (see Target.URL): the CA to trust, the server
	// name to verify. nil means the system's roots and the URL's host.
	// Ignored when Transport is set, and for targets with a Transport.
	TLS *tls.Config

	// RemoteTransport sends attempts to Remote targets: HTTPS to another
	// node's node-to-node listener, with the client certificate that
	// listener requires. Its own timeouts apply, not UpstreamTimeout and
	// ConnectTimeout. It must report dial failures as Transport does, for
	// them to be retried with any method. nil means the pool accepts no
	// Remote target.
	RemoteTransport http.RoundTripper

	// Logger receives state changes of targets; nil discards them.
	Logger *slog.Logger

	// OnHealthChange, if set, is called with a target's status whenever its
	// State differs from the one last reported for it (changes that undo
	// each other in between may go unreported; removal is not reported).
	// It is called from the goroutine Run started for that target, outside
	// any lock, so calls for one target are serialised; it must not block
	// for long, or it delays that target's health checks and Run's return.
	OnHealthChange func(TargetStatus)

	// OnAttempt, if set, is called before each attempt to send a request
	// to a target (tracing uses it), with the pool's own shallow copy of
	// the request, whose URL names the target. It may replace out.Header
	// (not modify the map: it is the caller's) to add headers such as a
	// trace context. The function it returns, if not nil, is called once
	// with the attempt's outcome: the response, its headers received, or
	// the transport's error. nil costs the request path nothing.
	OnAttempt func(out *http.Request, a Attempt) func(*http.Response, error)
}

// Attempt is one try of a request at a target, as Options.OnAttempt sees it.
type Attempt struct {
	Target string // the target's ID
	Addr   string // its address, host:port
	N      int    // 1 for the request's first try, 2 for its first retry...
}

// HealthCheck configures active health checks: GET Path on each target
// every Interval (with ±10% jitter), failing after Timeout. A 2xx or 3xx
// answer passes; anything else, including no answer in time, fails.
type HealthCheck struct {
	// Path is the path checked, e.g. "/healthz". "" disables active checks:
	// a target is then healthy as soon as it is added or reset.
	Path string
	// Host is sent as the Host header; "" means the target's address.
	Host     string
	Interval time.Duration // 0 means 2s
	Timeout  time.Duration // 0 means 1s
	Rise     int           // consecutive passes that make a target healthy; 0 means 2
	Fall     int           // consecutive failures that make it unhealthy; 0 means 3
}

// PassiveHealth configures ejection of targets on failures of proxied
// requests. An ejected target gets no requests for its ejection period:
// BaseEjection, doubled on each ejection up to MaxEjection. When the period
// ends the target is on probation: the first failure ejects it again, the
// first success ends probation. The doubling starts over once the target has
// gone MaxEjection without being ejected.
type PassiveHealth struct {
	// ConsecutiveErrors ejects after that many transport failures in a row
	// (connection refused or reset, timeouts, tries beaten by a hedged try
	// after the per-try timeout). 0 means 3; negative disables. A failure
	// for lack of this host's resources does not count.
	ConsecutiveErrors int
	// Consecutive5xx ejects after that many 5xx responses in a row.
	// 0 means 5; negative disables.
	Consecutive5xx int
	BaseEjection   time.Duration // 0 means 5s
	MaxEjection    time.Duration // 0 means 2m
}

// Retry configures retries of failed attempts on other targets (see the
// package comment for which failures are retried). Retries are limited per
// request by Attempts and per pool by a budget in the style of Finagle's
// RetryBudget: each request deposits Ratio of a token, each retry withdraws
// one, and MinPerSecond tokens per second are added regardless of traffic so
// that a quiet pool can still retry. At most max(10, 10s × MinPerSecond)
// tokens are saved up; a new pool starts with 10s × MinPerSecond.
type Retry struct {
	Attempts     int     // tries per request, the first included; 0 means 3; 1 disables retries and hedging; at most 10
	Ratio        float64 // tokens deposited per request; 0 means 0.2; negative means none
	MinPerSecond float64 // tokens added per second; 0 means 10; negative means none
	Hedge        Hedge
}

// Hedge configures hedged tries (see the package comment): a request that
// may be sent twice gets another try on another target when no try of it
// has answered within the per-try timeout, and the first answer wins.
//
// The per-try timeout follows the app: it is Factor times the Percentile of
// the times to response headers of the pool's recent successful tries,
// kept between Min and Max. Until enough tries were seen, it is Max. Min
// equal to Max makes it fixed.
type Hedge struct {
	Disabled   bool          // no hedged tries; the zero value hedges
	Percentile float64       // of recent tries' latencies, in (0, 100); 0 means 99
	Factor     float64       // times the percentile, at least 1; 0 means 2
	Min        time.Duration // the least per-try timeout; 0 means 50ms
	Max        time.Duration // the most per-try timeout; 0 means 2s
}

// withDefaults returns o with defaults filled in, or an error naming the
// first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.App == "" {
		return o, errors.New("app: must not be empty")
	}
	o.UpstreamTimeout = orDefault(o.UpstreamTimeout, 60*time.Second)
	if o.ConnectTimeout < 0 {
		return o, errors.New("connect_timeout: must not be negative")
	}
	o.ConnectTimeout = orDefault(o.ConnectTimeout, 3*time.Second)
	o.SpillInFlight = orDefault(o.SpillInFlight, 64)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if o.Health, err = o.Health.withDefaults(); err != nil {
		return o, fmt.Errorf("health.%w", err)
	}
	if o.Passive, err = o.Passive.withDefaults(); err != nil {
		return o, fmt.Errorf("passive.%w", err)
	}
	if o.Retry, err = o.Retry.withDefaults(); err != nil {
		return o, fmt.Errorf("retry.%w", err)
	}
	return o, nil
}

func (h HealthCheck) withDefaults() (HealthCheck, error) {
	switch {
	case h.Path != "" && !strings.HasPrefix(h.Path, "/"):
		return h, fmt.Errorf("path: %q must start with /", h.Path)
	case h.Interval < 0:
		return h, errors.New("interval: must not be negative")
	case h.Timeout < 0:
		return h, errors.New("timeout: must not be negative")
	case h.Rise < 0:
		return h, errors.New("rise: must not be negative")
	case h.Fall < 0:
		return h, errors.New("fall: must not be negative")
	}
	h.Interval = orDefault(h.Interval, 2*time.Second)
	h.Timeout = orDefault(h.Timeout, time.Second)
	h.Rise = orDefault(h.Rise, 2)
	h.Fall = orDefault(h.Fall, 3)
	return h, nil
}

func (p PassiveHealth) withDefaults() (PassiveHealth, error) {
	switch {
	case p.BaseEjection < 0:
		return p, errors.New("base_ejection: must not be negative")
	case p.MaxEjection < 0:
		return p, errors.New("max_ejection: must not be negative")
	}
	p.ConsecutiveErrors = orDefault(p.ConsecutiveErrors, 3)
	p.Consecutive5xx = orDefault(p.Consecutive5xx, 5)
	p.BaseEjection = orDefault(p.BaseEjection, 5*time.Second)
	p.MaxEjection = orDefault(p.MaxEjection, 2*time.Minute)
	if p.MaxEjection < p.BaseEjection {
		return p, fmt.Errorf("max_ejection: %s must not be less than base_ejection %s", p.MaxEjection, p.BaseEjection)
	}
	return p, nil
}

func (r Retry) withDefaults() (Retry, error) {
	if r.Attempts < 0 || r.Attempts > maxAttempts {
		return r, fmt.Errorf("attempts: %d must be between 1 and %d", r.Attempts, maxAttempts)
	}
	r.Attempts = orDefault(r.Attempts, 3)
	r.Ratio = orDefault(r.Ratio, 0.2)
	r.MinPerSecond = orDefault(r.MinPerSecond, 10)
	var err error
	if r.Hedge, err = r.Hedge.withDefaults(); err != nil {
		return r, fmt.Errorf("hedge.%w", err)
	}
	return r, nil
}

func (h Hedge) withDefaults() (Hedge, error) {
	switch {
	case h.Percentile < 0 || h.Percentile >= 100:
		return h, fmt.Errorf("percentile: %g must be between 0 and 100, exclusive", h.Percentile)
	case h.Factor < 0 || (h.Factor > 0 && h.Factor < 1):
		return h, fmt.Errorf("factor: %g must be at least 1", h.Factor)
	case h.Min < 0:
		return h, errors.New("min: must not be negative")
	case h.Max < 0:
		return h, errors.New("max: must not be negative")
	}
	h.Percentile = orDefault(h.Percentile, 99)
	h.Factor = orDefault(h.Factor, 2)
	h.Min = orDefault(h.Min, 50*time.Millisecond)
	h.Max = orDefault(h.Max, 2*time.Second)
	if h.Max < h.Min {
		return h, fmt.Errorf("max: %s must not be less than min %s", h.Max, h.Min)
	}
	return h, nil
}

func orDefault[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
