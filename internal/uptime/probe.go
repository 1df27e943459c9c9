package uptime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxBody is how much of an answer's body a probe reads and searches.
const maxBody = 1 << 20

// userAgent is sent with probes unless the check sets its own.
const userAgent = "tandem-uptime"

// Check is one uptime check as the Monitor runs it.
type Check struct {
	Name     string
	URL      string // http or https
	Method   string // GET or HEAD; "" means GET
	Interval time.Duration
	Timeout  time.Duration // < Interval
	// Status lists the status codes that pass; nil means 200-399.
	Status []int
	// Body, if not "", must occur in the first MiB of the answer's body.
	Body string
	// Rise and Fall are the passed and failed probes in a row that turn
	// this node's view up or down; below 1 counts as 1.
	Rise, Fall int
	// Headers are sent with each probe; "Host" sets the request's host.
	Headers map[string]string
}

// validate checks c and fills its defaults.
func (c *Check) validate() error {
	if c.Name == "" {
		return errors.New("check without a name")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("check %s: url %q is not an http or https URL", c.Name, c.URL)
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Method != http.MethodGet && c.Method != http.MethodHead {
		return fmt.Errorf("check %s: method %q is not GET or HEAD", c.Name, c.Method)
	}
	if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout >= c.Interval {
		return fmt.Errorf("check %s: need 0 < timeout (%s) < interval (%s)", c.Name, c.Timeout, c.Interval)
	}
	return nil
}

// statusOK reports whether code passes.
func (c *Check) statusOK(code int) bool {
	if c.Status == nil {
		return code >= 200 && code <= 399
	}
	return slices.Contains(c.Status, code)
}

// probe requests the check's URL once through client and judges the answer.
func (c *Check) probe(ctx context.Context, client *http.Client, now func() time.Time) Probe {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	p := Probe{At: now()}
	fail := func(format string, args ...any) Probe {
		p.Latency = now().Sub(p.At)
		p.Error = fmt.Sprintf(format, args...)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			p.Error = fmt.Sprintf("timeout after %s", c.Timeout)
		}
		return p
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, nil)
	if err != nil {
		return fail("build request: %v", err)
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is known; it may hold a token
		}
		return fail("%v", err)
	}
	defer resp.Body.Close()
	p.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fail("read body: %v", err)
	}
	switch {
	case !c.statusOK(resp.StatusCode):
		return fail("status %d, want %s", resp.StatusCode, c.wantStatus())
	case c.Body != "" && !bytes.Contains(body, []byte(c.Body)):
		return fail("body does not contain %q", c.Body)
	}
	p.Latency = now().Sub(p.At)
	p.OK = true
	return p
}

// wantStatus describes the status codes that pass.
func (c *Check) wantStatus() string {
	if c.Status == nil {
		return "200-399"
	}
	s := make([]string, len(c.Status))
	for i, code := range c.Status {
		s[i] = fmt.Sprint(code)
	}
	return strings.Join(s, " or ")
}

// newClient returns the client probes use: it follows no redirects (a
// redirect is an answer to judge) and, unless a transport is given, opens
// a new connection for every probe so that each one tests the way in.
func newClient(rt http.RoundTripper) *http.Client {
	if rt == nil {
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DisableKeepAlives:   true,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
