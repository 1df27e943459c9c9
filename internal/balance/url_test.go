package balance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// urlTarget is a URL target at srv's address with base path and Host.
func urlTarget(t *testing.T, id string, srv *httptest.Server, path string, prio int) Target {
	t.Helper()
	u, err := url.Parse(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return Target{ID: id, URL: u, Priority: prio}
}

func TestURLTargetPathAndHost(t *testing.T) {
	type seen struct{ uri, host string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != "tandem-health-check" {
			got <- seen{r.RequestURI, r.Host}
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	p := startPool(t, Options{Health: HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Rise: 1, Fall: 1}})
	tests := []struct {
		name, base, host, in, wantURI, wantHost string
	}{
		{"base path", "/bucket", "store.example", "/a.png", "/bucket/a.png", "store.example"},
		{"base with slash", "/bucket/", "", "/dir/a.png", "/bucket/dir/a.png", "client.example"},
		{"escaping kept", "/b%20k", "", "/a%2Fb/c%20d.png?x=1", "/b%20k/a%2Fb/c%20d.png?x=1", "client.example"},
		{"no base", "", "", "/x", "/x", "client.example"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := urlTarget(t, "s"+string(rune('a'+i)), srv, tc.base, 0)
			tg.Host = tc.host
			if err := p.Add(tg); err != nil {
				t.Fatal(err)
			}
			defer p.Remove(tg.ID)
			p.waitState(t, tg.ID, StateHealthy)
			req := httptest.NewRequest(http.MethodGet, "http://client.example"+tc.in, nil)
			req.URL.Scheme, req.URL.Host, req.RequestURI = "http", "", ""
			resp, err := p.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			resp.Body.Close()
			s := <-got
			if s.uri != tc.wantURI || s.host != tc.wantHost {
				t.Errorf("GET %s via base %q = %s with Host %q; want %s with Host %q", tc.in, tc.base, s.uri, s.host, tc.wantURI, tc.wantHost)
			}
		})
	}
}

func TestURLTargetChecksItsBasePath(t *testing.T) {
	var checked atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checked.Store(r.URL.Path + " " + r.Host)
	}))
	t.Cleanup(srv.Close)
	p := startPool(t, Options{Health: HealthCheck{Path: "/ping", Interval: 20 * time.Millisecond, Rise: 1, Fall: 1}})
	tg := urlTarget(t, "s", srv, "/base/", 0)
	tg.Host = "svc.example"
	if err := p.Add(tg); err != nil {
		t.Fatal(err)
	}
	p.waitState(t, "s", StateHealthy)
	if got, want := checked.Load(), "/base/ping svc.example"; got != want {
		t.Errorf("health check went to %q; want %q", got, want)
	}
}

func TestPriorityBackupServesOnlyWhenPrimaryDown(t *testing.T) {
	primary := newBackend(t, "primary", nil)
	backup := newBackend(t, "backup", nil)
	p := startPool(t, Options{})
	for _, tg := range []Target{urlTarget(t, "primary", primary.srv, "", 0), urlTarget(t, "backup", backup.srv, "", 1)} {
		if err := p.Add(tg); err != nil {
			t.Fatal(err)
		}
		p.waitState(t, tg.ID, StateHealthy)
	}
	ctx := context.Background()
	count := func(n int, want string) {
		t.Helper()
		for range n {
			body, err := get(ctx, p, "/")
			if err != nil || body != want {
				t.Fatalf("GET = %q, %v; want %q", body, err, want)
			}
		}
	}
	count(50, "primary")
	if n := backup.hits.Load(); n != 0 {
		t.Fatalf("backup served %d requests while the primary was up; want 0", n)
	}

	primary.healthy.Store(false) // active checks take it out
	p.waitState(t, "primary", StateUnhealthy)
	count(20, "backup")

	primary.healthy.Store(true)
	p.waitState(t, "primary", StateHealthy)
	before := backup.hits.Load()
	count(20, "primary")
	if n := backup.hits.Load() - before; n != 0 {
		t.Errorf("backup served %d requests after the primary returned; want 0", n)
	}
}

func TestPriorityFailoverWithoutChecksIsRetried(t *testing.T) {
	primary := newBackend(t, "primary", nil)
	backup := newBackend(t, "backup", nil)
	p := startPool(t, Options{Health: noChecks, Passive: PassiveHealth{ConsecutiveErrors: 1, BaseEjection: time.Minute}})
	for _, tg := range []Target{urlTarget(t, "primary", primary.srv, "", 0), urlTarget(t, "backup", backup.srv, "", 1)} {
		if err := p.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	primary.kill()
	// The first GET finds the primary dead and is retried on the backup;
	// then the primary is ejected and the backup serves alone.
	for i := range 10 {
		body, err := get(context.Background(), p, "/")
		if err != nil || body != "backup" {
			t.Fatalf("GET %d after the primary died = %q, %v; want backup", i, body, err)
		}
	}
	if st, _ := p.Target("primary"); st.State != StateEjected {
		t.Errorf("primary is %v; want ejected", st.State)
	}
}

func TestURLTargetTLSWithCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p := startPool(t, Options{TLS: &tls.Config{RootCAs: roots, ServerName: "example.com"}, Health: fastHealth})
	if err := p.Add(urlTarget(t, "s", srv, "", 0)); err != nil {
		t.Fatal(err)
	}
	p.waitState(t, "s", StateHealthy) // the check too went over TLS
	if body, err := get(context.Background(), p, "/"); err != nil || body != "secure" {
		t.Fatalf("GET over TLS = %q, %v; want secure", body, err)
	}

	// Without the CA the certificate is refused: no answer, ever.
	untrusted := startPool(t, Options{Health: noChecks, Retry: Retry{Attempts: 1}})
	if err := untrusted.Add(urlTarget(t, "s", srv, "", 0)); err != nil {
		t.Fatal(err)
	}
	_, err := get(context.Background(), untrusted, "/")
	var uerr *UpstreamError
	var cerr *tls.CertificateVerificationError
	if !errors.As(err, &uerr) || !errors.As(err, &cerr) {
		t.Errorf("GET without the CA = %v; want an *UpstreamError wrapping a certificate verification error", err)
	}
}

// countingTransport counts what goes through it.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestURLTargetTransportCarriesAttemptsAndChecks(t *testing.T) {
	b := newBackend(t, "b", nil)
	p := startPool(t, Options{})
	ct := &countingTransport{next: http.DefaultTransport}
	tg := urlTarget(t, "b", b.srv, "", 0)
	tg.Transport = ct
	if err := p.Add(tg); err != nil {
		t.Fatal(err)
	}
	p.waitState(t, "b", StateHealthy)
	checks := ct.n.Load()
	if checks == 0 {
		t.Fatal("no health check went through the target's transport")
	}
	for range 5 {
		if _, err := get(context.Background(), p, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if got := ct.n.Load() - checks; got < 5 {
		t.Errorf("%d requests went through the target's transport; want at least 5", got)
	}
}

func TestAddRefusesBadURLTargets(t *testing.T) {
	p, err := NewPool(Options{App: "web", RemoteTransport: http.DefaultTransport})
	if err != nil {
		t.Fatal(err)
	}
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name string
		tg   Target
		want string
	}{
		{"scheme", Target{ID: "a", URL: mustURL("ftp://h:1/")}, "scheme must be http or https"},
		{"query", Target{ID: "a", URL: mustURL("http://h:1/?x=1")}, "without user, query or fragment"},
		{"user", Target{ID: "a", URL: mustURL("http://u:p@h:1/")}, "without user, query or fragment"},
		{"remote", Target{ID: "a", URL: mustURL("http://h:1/"), Remote: true}, "cannot be remote"},
		{"priority", Target{ID: "a", URL: mustURL("http://h:1/"), Priority: -1}, "must not be negative"},
	}
	for _, tc := range tests {
		err := p.Add(tc.tg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Add = %v; want an error containing %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), "u:p@") {
			t.Errorf("%s: the error shows the URL's password: %v", tc.name, err)
		}
	}
}

func TestPickLevels(t *testing.T) {
	mk := func(id string, prio int, healthy bool, ejectedUntil int64) *target {
		tg := &target{Target: Target{ID: id, Priority: prio}, local: true}
		tg.healthy.Store(healthy)
		tg.ejectedUntil.Store(ejectedUntil)
		tg.weight.Store(1)
		return tg
	}
	const now = 100
	tests := []struct {
		name string
		ts   []*target
		want string
	}{
		{"first level", []*target{mk("a", 0, true, 0), mk("b", 1, true, 0)}, "a"},
		{"first level down", []*target{mk("a", 0, false, 0), mk("b", 1, true, 0)}, "b"},
		{"healthy backup beats an ejected primary", []*target{mk("a", 0, true, now+1), mk("b", 1, true, 0)}, "b"},
		{"panic mode only once every level is out", []*target{mk("a", 0, true, now+1), mk("b", 1, false, 0)}, "a"},
		{"third level", []*target{mk("a", 0, false, 0), mk("b", 1, false, 0), mk("c", 2, true, 0)}, "c"},
		{"none", []*target{mk("a", 0, false, 0), mk("b", 1, false, 0)}, ""},
	}
	for _, tc := range tests {
		levels := byPriority(tc.ts)
		if levels == nil {
			t.Fatalf("%s: byPriority = nil; want levels", tc.name)
		}
		got := ""
		if tg := pickLevels(*levels, now, nil, 12345, 64); tg != nil {
			got = tg.ID
		}
		if got != tc.want {
			t.Errorf("%s: pickLevels = %q; want %q", tc.name, got, tc.want)
		}
	}
	if byPriority([]*target{mk("a", 0, true, 0), mk("b", 0, true, 0)}) != nil {
		t.Error("byPriority of targets all at priority 0 is not nil: their requests would pay for levels")
	}
}
