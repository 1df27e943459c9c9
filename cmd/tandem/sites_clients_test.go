package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/headless"
)

// How the sites test's clients find a site: the nodes' DNS responders
// and the health proxy their edges serve.

// siteName is the name the sites test's responders answer for.
const siteName = "www.sites.test."

// lookupSite asks the DNS responder at addr for siteName's IPv4
// addresses, sorted; nil when it gives none or does not answer.
func lookupSite(addr string) []string {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := r.LookupIP(ctx, "ip4", siteName)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return out
}

// watchDNS asks n's responder every 100ms until it answers want (sorted),
// and sends when it first did on the channel it returns; the zero time
// if it did not within timeout, or the test ended first.
func watchDNS(n *siteNode, want []string, timeout time.Duration) <-chan time.Time {
	want = slices.Sorted(slices.Values(want))
	ctx, cancel := context.WithTimeout(n.t.Context(), timeout)
	at := make(chan time.Time, 1)
	go func() {
		defer cancel()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if slices.Equal(lookupSite(n.dns()), want) {
				at <- time.Now()
				return
			}
			select {
			case <-ctx.Done():
				at <- time.Time{}
				return
			case <-tick.C:
			}
		}
	}()
	return at
}

// healthProxyServed checks that n's edge serves the health proxy's page,
// and that its probe names leading as the site that serves first.
func healthProxyServed(t *testing.T, n *siteNode, leading string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + n.edge() + "/.tandem/sites/?to=/wiki/Read-0")
	if err != nil {
		t.Fatalf("GET the health proxy's page at %s: %v", n.name, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("the health proxy's page at %s: %d %s %.100q; want the page", n.name, resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	resp, err = c.Get("http://" + n.edge() + "/.tandem/sites/probe")
	if err != nil {
		t.Fatalf("GET the health proxy's probe at %s: %v", n.name, err)
	}
	defer resp.Body.Close()
	var probe struct {
		Site    string   `json:"site"`
		Serving []string `json:"serving"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&probe); err != nil || probe.Site != n.site || len(probe.Serving) == 0 || probe.Serving[0] != leading {
		t.Errorf("the health proxy's probe at %s: %+v (%v); want site %s serving %s first", n.name, probe, err, n.site, leading)
	}
}

// browserToFollower opens the health proxy's page at the follower's node
// n in headless Chromium, asking for path, while the leader site is dark
// (its addresses unreachable, the test's included): the browser must end
// on path's page, which shows text, and only the follower can have served
// it. It returns what it saw, for the summary; without Chromium it says
// so (and fails when $TANDEM_REQUIRE_CHROMIUM is set).
func browserToFollower(t *testing.T, n *siteNode, path, text string) string {
	t.Helper()
	b, err := headless.Find()
	if err != nil {
		if os.Getenv("TANDEM_REQUIRE_CHROMIUM") != "" {
			t.Errorf("TANDEM_REQUIRE_CHROMIUM is set but %v", err)
		}
		return "the browser check was left out: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	u := "http://" + n.edge() + "/.tandem/sites/?" + url.Values{"to": {path}}.Encode()
	start := time.Now()
	p, err := b.DumpDOM(ctx, u)
	took := time.Since(start)
	if err != nil {
		t.Errorf("the health proxy in Chromium: %v\nconsole: %q", err, p.Console)
		return "the browser check failed"
	}
	if !strings.Contains(p.DOM, text) || strings.Contains(p.DOM, `data-state="`) {
		t.Errorf("the health proxy in Chromium with home dark: the page did not open %s at cloud (want %q in the DOM)\nconsole: %q\n%s", path, text, p.Console, tail(p.DOM, 20))
		return "the browser did not reach the follower"
	}
	return fmt.Sprintf("headless Chromium opened the health proxy's page at %s and ended on %s served by cloud (the run took %s)", n.name, path, took.Round(time.Millisecond))
}
