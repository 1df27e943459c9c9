package siteproxy_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/headless"
	"github.com/tandem-run/tandem/internal/siteproxy"
	"github.com/tandem-run/tandem/internal/siteproxy/sitetest"
)

// The health proxy in a real browser, against two sites that are real
// edges serving it on their built-in path, with an app behind each.

var testOptions = siteproxy.Options{ProbeInterval: 500 * time.Millisecond, ProbeTimeout: time.Second}

// entry is the URL of the proxy's page at site, sending the browser to
// path.
func entry(s *sitetest.Site, path string) string {
	return s.Origin() + siteproxy.DefaultPrefix + "?" + url.Values{"to": {path}}.Encode()
}

// landed returns the site and path of the app page the browser ended on.
func landed(p headless.Page) (site, path string) {
	for _, e := range p.Elements("data-site") {
		if _, ok := e["data-path"]; ok {
			return e["data-site"], e["data-path"]
		}
	}
	return "", ""
}

func dumpDOM(t *testing.T, b *headless.Browser, u string) headless.Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := b.DumpDOM(ctx, u)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log)
	}
	return p
}

// TestPageRoutesToTheSiteThatAnswers: the page probes the sites and opens
// the requested page at the leading site when it answers, at the follower
// when the leader site is down, and at the leader again once it is back.
// With no site answering it says so and keeps trying.
func TestPageRoutesToTheSiteThatAnswers(t *testing.T) {
	b := headless.ForTest(t)
	sites := sitetest.NewSites("home", "cloud")
	o := testOptions
	o.Sites = sites
	all := sitetest.StartSites(t, nil, o, "home", "cloud")
	home, cloud := all[0], all[1]

	steps := []struct {
		name   string
		change func()
		page   *sitetest.Site // where the page is opened
		site   string         // where the browser must land
	}{
		{"both up", func() {}, cloud, "home"},
		{"leader site down", func() { home.Down(); sites.Set("cloud") }, cloud, "cloud"},
		{"leader site back", func() {
			if err := home.Up(); err != nil {
				t.Fatal(err)
			}
			sites.Set("home", "cloud")
		}, cloud, "home"},
		// During an emergency the follower leads: a leader site that
		// answers again (fenced, or not yet failed back) is passed over.
		{"emergency leader", func() { sites.Set("cloud") }, home, "cloud"},
	}
	for _, s := range steps {
		s.change()
		p := dumpDOM(t, b, entry(s.page, "/wiki/Main_Page?action=view#top"))
		if site, path := landed(p); site != s.site || path != "/wiki/Main_Page" {
			t.Errorf("%s: the browser landed at %q %q; want %s /wiki/Main_Page\nconsole: %q", s.name, site, path, s.site, p.Console)
		}
	}
}

// TestPageWhenNoSiteAnswers: the page, served by a third site that is
// not one of the sites it probes, shows both sites down and waits.
func TestPageWhenNoSiteAnswers(t *testing.T) {
	b := headless.ForTest(t)
	o := testOptions
	o.Sites = sitetest.NewSites("home", "cloud")
	all := sitetest.StartSites(t, nil, o, "home", "cloud")
	all[0].Down()
	all[1].Down()
	// A page served from elsewhere that probes the two dark sites.
	o.Origins = map[string]string{"home": all[0].Origin(), "cloud": all[1].Origin()}
	spare := sitetest.StartSites(t, nil, o, "spare")[0]
	p := dumpDOM(t, b, entry(spare, "/wiki/Main_Page"))
	if body := p.Elements("data-state"); len(body) == 0 || body[0]["data-state"] != "waiting" {
		t.Errorf("body = %v; want data-state waiting\n%s", body, p.DOM)
	}
	var down []string
	for _, e := range p.Elements("data-site") {
		if e["data-state"] == "down" {
			down = append(down, e["data-site"])
		}
	}
	if slices.Sort(down); !slices.Equal(down, []string{"cloud", "home"}) {
		t.Errorf("sites shown down: %q; want cloud and home", down)
	}
	if errs, _ := p.Text("errors"); errs != "" {
		t.Errorf("page errors: %s", errs)
	}
	shot := headless.ArtifactPath(t, "sites-proxy-waiting.png")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := b.Screenshot(ctx, entry(spare, "/wiki/Main_Page"), shot); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerMovesTheBrowser: a browser that once loaded a page of the
// leader site has the worker installed; when the leader site goes dark —
// its connections refused, or accepted and never answered — the next page
// load there is answered by the worker with the cached page, which sends
// the browser to the same page at the follower. Once the leader is back,
// the page sends the browser back to it.
func TestWorkerMovesTheBrowser(t *testing.T) {
	for _, dark := range []string{"refused", "hung"} {
		t.Run(dark, func(t *testing.T) {
			if dark == "hung" && testing.Short() {
				t.Skip("-short: the hung site takes two probe timeouts")
			}
			b := headless.ForTest(t)
			c := sitetest.StartControl(t)
			sites := sitetest.NewSites("home", "cloud")
			o := testOptions
			o.Sites = sites
			all := sitetest.StartSites(t, c, o, "home", "cloud")
			home, cloud := all[0], all[1]
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()

			s, err := b.Open(ctx, home.Origin()+"/wiki/Start")
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if p := s.Close(); t.Failed() {
					t.Logf("browser console: %q", p.Console)
				}
			}()
			must(t, c.WaitReady(ctx, "home", "/wiki/Start"))

			if dark == "refused" {
				home.Down()
			} else {
				must(t, home.Hang())
			}
			sites.Set("cloud")
			start := time.Now()
			must(t, c.Go(ctx, home.Origin()+"/wiki/After?x=1"))
			hit, err := cloud.WaitHit(ctx, "/wiki/After")
			must(t, err)
			t.Logf("leader site %s: the browser reached the follower %s after the page load began", dark, hit.At.Sub(start).Round(time.Millisecond))

			must(t, c.WaitReady(ctx, "cloud", "/wiki/After"))
			must(t, home.Up())
			sites.Set("home", "cloud")
			must(t, c.Go(ctx, entry(cloud, "/wiki/Back")))
			_, err = home.WaitHit(ctx, "/wiki/Back")
			must(t, err)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The page refuses a destination that would leave the chosen site.
func TestPageStaysOnTheSite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: one more browser run")
	}
	b := headless.ForTest(t)
	o := testOptions
	o.Sites = sitetest.NewSites("home")
	home := sitetest.StartSites(t, nil, o, "home")[0]
	for _, to := range []string{"//evil.example/x", "/\\evil.example/x"} {
		p := dumpDOM(t, b, entry(home, to))
		if errs, _ := p.Text("errors"); !strings.Contains(errs, "refused to leave") {
			t.Errorf("to=%q: errors %q; want the page to refuse it\n%s", to, errs, p.DOM)
		}
	}
}
