package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseChecks(t *testing.T) {
	st, err := parse(t, base+`checks:
  home:
    url: https://example.org/
    interval: 1m
    timeout: 5s
    expect: { status: [200, 301], body: Welcome }
    fall: 3
    rise: 1
    method: get
    headers: { Host: example.org, X-Probe: tandem }
  api:
    url: http://127.0.0.1:8080/healthz
alerts:
  webhook: { url: "https://hooks.example/t", headers: { Authorization: "Bearer ${DB_PASSWORD}" } }
  smtp: { host: mail.example.org, from: "tandem <tandem@example.org>", to: [ops@example.org], username: u, password: p }
  renotify: 0
`)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := st.CheckNames; !reflect.DeepEqual(got, []string{"home", "api"}) {
		t.Fatalf("CheckNames = %q; want [home api]", got)
	}
	home := &UptimeCheck{Name: "home", URL: "https://example.org/", Interval: Duration(time.Minute), Timeout: Duration(5 * time.Second),
		Expect: CheckExpect{Status: []int{200, 301}, Body: "Welcome"}, Fall: 3, Rise: 1, Method: CheckGET,
		Headers: map[string]string{"Host": "example.org", "X-Probe": "tandem"}}
	if got := st.Checks["home"]; !reflect.DeepEqual(got, home) {
		t.Errorf("checks.home = %+v; want %+v", got, home)
	}
	api := &UptimeCheck{Name: "api", URL: "http://127.0.0.1:8080/healthz", Interval: Duration(30 * time.Second),
		Timeout: Duration(10 * time.Second), Fall: 2, Rise: 2, Method: CheckGET}
	if got := st.Checks["api"]; !reflect.DeepEqual(got, api) {
		t.Errorf("checks.api = %+v; want the defaults %+v", got, api)
	}
	alerts := Alerts{
		Webhook: &WebhookAlert{URL: "https://hooks.example/t", Headers: map[string]string{"Authorization": "Bearer s3cret"}},
		SMTP: &SMTPAlert{Host: "mail.example.org", Port: 587, From: "tandem <tandem@example.org>", To: []string{"ops@example.org"},
			Username: "u", Password: "p", StartTLS: true},
	}
	if !reflect.DeepEqual(st.Alerts, alerts) {
		t.Errorf("alerts = %+v; want %+v (renotify 0 kept)", st.Alerts, alerts)
	}

	st, err = parse(t, base)
	if err != nil {
		t.Fatalf("Parse(base): %v", err)
	}
	if st.Checks != nil || st.CheckNames != nil || !reflect.DeepEqual(st.Alerts, Alerts{Renotify: Duration(time.Hour)}) {
		t.Errorf("Parse(base) checks %v, names %v, alerts %+v; want none and renotify 1h", st.Checks, st.CheckNames, st.Alerts)
	}
}

func TestParseCheckProblems(t *testing.T) {
	const c = "checks: { h: { url: \"http://a/\"%s } }\n"
	check := func(extra string) string { return strings.Replace(c, "%s", extra, 1) }
	tests := []struct{ src, path, msg string }{
		{"checks: { h: { interval: 5s } }\n", "checks.h.url", "required"},
		{"checks: { h: { url: \"ftp://a/\" } }\n", "checks.h.url", "must be an http or https URL"},
		{"checks: { h: { url: \"http:///x\" } }\n", "checks.h.url", "has no host"},
		{"checks: { h: { url: \"http://a b/\" } }\n", "checks.h.url", "invalid URL"},
		{check(", interval: 500ms"), "checks.h.interval", "must be >= 1s"},
		{check(", interval: 5s, timeout: 5s"), "checks.h.timeout", "must be < interval (5s)"},
		{check(", timeout: 0s"), "checks.h.timeout", "must be > 0"},
		{check(", expect: { status: [] }"), "checks.h.expect.status", "at least one status code"},
		{check(", expect: { status: [200, 600] }"), "checks.h.expect.status[1]", "must be <= 599"},
		{check(", expect: { status: \"200\" }"), "checks.h.expect.status", "must be a list"},
		{check(", fall: 0"), "checks.h.fall", "must be >= 1"},
		{check(", rise: 101"), "checks.h.rise", "must be <= 100"},
		{check(", method: POST"), "checks.h.method", "must be GET or HEAD"},
		{check(", method: HEAD, expect: { body: x }"), "checks.h.expect.body", "cannot be checked with method HEAD"},
		{check(", headers: { \"a b\": x }"), "checks.h.headers.a b", "invalid header name"},
		{check(", headers: { X: \"a\\nb\" }"), "checks.h.headers.X", "line breaks"},
		{check(", intervall: 5s"), "checks.h.intervall", `did you mean "interval"?`},
		{"checks: { H: { url: \"http://a/\" } }\n", "checks.H", "check name"},
		{"checks: { url: \"http://a/\" }\n", "checks.url", "is a field, not a name"},
		{"alerts: { webhook: { headers: {} } }\n", "alerts.webhook.url", "required"},
		{"alerts: { webhook: { url: \"mailto:a@b\" } }\n", "alerts.webhook.url", "must be an http or https URL"},
		{"alerts: { smtp: { from: a@b.c, to: [d@e.f] } }\n", "alerts.smtp.host", "required"},
		{"alerts: { smtp: { host: \"mail example\", from: a@b.c, to: [d@e.f] } }\n", "alerts.smtp.host", "must be a host name or IP address"},
		{"alerts: { smtp: { host: m, port: 0, from: a@b.c, to: [d@e.f] } }\n", "alerts.smtp.port", "must be >= 1"},
		{"alerts: { smtp: { host: m, to: [d@e.f] } }\n", "alerts.smtp.from", "required"},
		{"alerts: { smtp: { host: m, from: nobody, to: [d@e.f] } }\n", "alerts.smtp.from", "invalid mail address"},
		{"alerts: { smtp: { host: m, from: a@b.c } }\n", "alerts.smtp.to", "at least one recipient"},
		{"alerts: { smtp: { host: m, from: a@b.c, to: [d@e.f, x] } }\n", "alerts.smtp.to[1]", "invalid mail address"},
		{"alerts: { smtp: { host: m, from: a@b.c, to: [d@e.f], password: p } }\n", "alerts.smtp.password", "without smtp.username"},
		{"alerts: { smtp: { host: m, from: a@b.c, to: [d@e.f], username: u, starttls: false } }\n", "alerts.smtp.username", "only over TLS"},
		{"alerts: { renotify: -1h }\n", "alerts.renotify", "must be >= 0"},
	}
	for _, tt := range tests {
		_, err := parse(t, base+tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) = %v; want %s: ...%s", tt.src, err, tt.path, tt.msg)
		}
	}
}

func TestParseCheckSMTPHosts(t *testing.T) {
	for _, host := range []string{"mail.example.org", "127.0.0.1", "::1", "localhost"} {
		src := base + "alerts: { smtp: { host: \"" + host + "\", from: a@b.c, to: [d@e.f], starttls: false } }\n"
		st, err := parse(t, src)
		if err != nil {
			t.Errorf("Parse(smtp host %q) = %v; want no error", host, err)
			continue
		}
		if st.Alerts.SMTP.StartTLS {
			t.Errorf("Parse(smtp host %q): starttls = true; want false as written", host)
		}
	}
}
