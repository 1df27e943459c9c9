package config

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// UptimeCheck is an HTTP check of a URL run from every node, for the
// question "is it down for everyone or just me?". The check is down when
// a majority of the nodes that reported recently see it failing.
type UptimeCheck struct {
	// Name is the check's key under checks, a name like an app's.
	Name string `yaml:"-"`
	// URL is the http or https URL requested; required.
	URL string `yaml:"url"`
	// Interval is the time between probes, >= 1s; default 30s.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe, > 0 and < Interval; default 10s.
	Timeout Duration `yaml:"timeout"`
	// Expect is what a passing probe's answer looks like.
	Expect CheckExpect `yaml:"expect"`
	// Fall is how many failed probes in a row make a node call the check
	// down, >= 1; default 2.
	Fall int `yaml:"fall"`
	// Rise is how many passed probes in a row make a node call it up,
	// >= 1; default 2.
	Rise int `yaml:"rise"`
	// Method is CheckGET (default) or CheckHEAD, upper case.
	Method string `yaml:"method"`
	// Headers are sent with every probe; a Host header sets the request's
	// host. Nil when none.
	Headers map[string]string `yaml:"headers"`
}

// CheckExpect is what a passing probe's answer looks like.
type CheckExpect struct {
	// Status lists the accepted status codes, each 100..599; nil (the
	// default) accepts 200-399.
	Status []int `yaml:"status"`
	// Body, when not "", must occur in the answer's body (its first MiB);
	// not with method HEAD.
	Body string `yaml:"body"`
}

// Methods of UptimeCheck.Method.
const (
	CheckGET  = "GET"
	CheckHEAD = "HEAD"
)

// minCheckInterval is the shortest interval between probes of a check.
const minCheckInterval = Duration(time.Second)

// maxRiseFall bounds UptimeCheck.Rise and Fall.
const maxRiseFall = 100

func (c *UptimeCheck) setDefaults() {
	c.Interval = Duration(30 * time.Second)
	c.Timeout = Duration(10 * time.Second)
	c.Fall = 2
	c.Rise = 2
	c.Method = CheckGET
}

// Alerts says where a check's changes of state are sent. Only one node of
// the cluster sends each alert.
type Alerts struct {
	// Webhook receives a JSON POST per alert; nil when not set.
	Webhook *WebhookAlert `yaml:"webhook"`
	// SMTP sends a plain-text mail per alert; nil when not set.
	SMTP *SMTPAlert `yaml:"smtp"`
	// Renotify repeats the alert of a check still down after this long;
	// 0 means never. Default 1h.
	Renotify Duration `yaml:"renotify"`
}

func (a *Alerts) setDefaults() { a.Renotify = Duration(time.Hour) }

// WebhookAlert is an HTTP endpoint alerts are POSTed to as JSON.
type WebhookAlert struct {
	URL     string            `yaml:"url"`     // http or https; required
	Headers map[string]string `yaml:"headers"` // sent with every POST (e.g. Authorization); nil when none
}

// SMTPAlert is a mail server alerts are sent through.
type SMTPAlert struct {
	Host     string   `yaml:"host"`     // required
	Port     int      `yaml:"port"`     // 1..65535; default 587
	From     string   `yaml:"from"`     // sender address; required
	To       []string `yaml:"to"`       // recipient addresses; at least one
	Username string   `yaml:"username"` // for SMTP AUTH PLAIN; "" sends without authenticating
	Password string   `yaml:"password"` // only with Username; use ${VAR}
	StartTLS bool     `yaml:"starttls"` // upgrade the connection with STARTTLS; default true
}

func (s *SMTPAlert) setDefaults() {
	s.Port = 587
	s.StartTLS = true
}

func (k *checker) checks() {
	for _, name := range k.st.CheckNames {
		c := k.st.Checks[name]
		c.Name = name
		k.uptimeCheck("checks."+name, c)
	}
	k.alerts("alerts", &k.st.Alerts)
}

func (k *checker) uptimeCheck(p string, c *UptimeCheck) {
	if len(c.Name) > 63 || !nameRE.MatchString(c.Name) {
		k.c.note(k.c.line(p), p, "check name %q must be lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters", c.Name)
	}
	k.httpURL(p+".url", c.URL)
	if c.Interval < minCheckInterval {
		k.c.addf(p+".interval", "must be >= %s, got %s", minCheckInterval, c.Interval)
	}
	k.positive(p+".timeout", c.Timeout)
	if c.Timeout >= c.Interval && c.Interval >= minCheckInterval {
		k.c.addf(p+".timeout", "must be < interval (%s), got %s", c.Interval, c.Timeout)
	}
	if c.Expect.Status != nil && len(c.Expect.Status) == 0 {
		k.c.addf(p+".expect.status", "must list at least one status code (leave it out to accept 200-399)")
	}
	for i, s := range c.Expect.Status {
		k.between(fmt.Sprintf("%s.expect.status[%d]", p, i), s, 100, 599)
	}
	k.between(p+".fall", c.Fall, 1, maxRiseFall)
	k.between(p+".rise", c.Rise, 1, maxRiseFall)
	c.Method = strings.ToUpper(c.Method)
	switch {
	case c.Method != CheckGET && c.Method != CheckHEAD:
		k.c.addf(p+".method", "must be GET or HEAD, got %q", c.Method)
	case c.Method == CheckHEAD && c.Expect.Body != "":
		k.c.addf(p+".expect.body", "cannot be checked with method HEAD, which gets no body: use GET")
	}
	k.headers(p+".headers", c.Headers)
}

func (k *checker) alerts(p string, a *Alerts) {
	if w := a.Webhook; w != nil {
		k.httpURL(p+".webhook.url", w.URL)
		k.headers(p+".webhook.headers", w.Headers)
	}
	if s := a.SMTP; s != nil {
		switch {
		case s.Host == "":
			k.c.addf(p+".smtp.host", "required: the mail server's host name or IP address")
		case !validHostname(s.Host) && !isIP(s.Host):
			k.c.addf(p+".smtp.host", "must be a host name or IP address, got %q", s.Host)
		}
		k.between(p+".smtp.port", s.Port, 1, 65535)
		k.mailAddr(p+".smtp.from", s.From)
		if len(s.To) == 0 {
			k.c.addf(p+".smtp.to", `required: at least one recipient, e.g. ["ops@example.com"]`)
		}
		for i, to := range s.To {
			k.mailAddr(fmt.Sprintf("%s.smtp.to[%d]", p, i), to)
		}
		switch {
		case s.Password != "" && s.Username == "":
			k.c.addf(p+".smtp.password", "given without smtp.username")
		case s.Username != "" && !s.StartTLS && s.Host != "localhost" && s.Host != "127.0.0.1" && s.Host != "::1":
			k.c.addf(p+".smtp.username", "a password is sent only over TLS (or to localhost): set smtp.starttls: true")
		}
	}
	if a.Renotify < 0 {
		k.c.addf(p+".renotify", "must be >= 0 (0 = never), got %s", a.Renotify)
	}
}

// httpURL checks a required absolute http or https URL.
func (k *checker) httpURL(field, s string) {
	if s == "" {
		k.c.addf(field, "required: an http or https URL, e.g. https://example.org/")
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		k.c.addf(field, "invalid URL %q", s)
	case u.Scheme != "http" && u.Scheme != "https":
		k.c.addf(field, "must be an http or https URL, got %q", s)
	case u.Host == "" || u.Hostname() == "":
		k.c.addf(field, "has no host: %q", s)
	}
}

// headers checks HTTP header names and values.
func (k *checker) headers(p string, h map[string]string) {
	for _, name := range sortedKeys(h) {
		switch {
		case !validHeaderName(name):
			k.c.addf(p+"."+name, "invalid header name %q", name)
		case strings.ContainsAny(h[name], "\r\n\x00"):
			k.c.addf(p+"."+name, "header value must not contain line breaks or NUL")
		}
	}
}

// isIP reports whether s is an IP address without a zone.
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// validHeaderName reports whether s is an HTTP field name (an RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// mailAddr checks a required mail address such as "ops@example.com" or
// "Ops <ops@example.com>".
func (k *checker) mailAddr(field, s string) {
	if s == "" {
		k.c.addf(field, "required: a mail address, e.g. ops@example.com")
		return
	}
	if _, err := mail.ParseAddress(s); err != nil {
		k.c.addf(field, "invalid mail address %q", s)
	}
}
