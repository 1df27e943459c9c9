package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/tandem-run/tandem/internal/headless"
	"github.com/tandem-run/tandem/internal/siteproxy"
	"github.com/tandem-run/tandem/internal/siteproxy/sitetest"
)

// scenario is one way of reaching the follower: the worker, or the page.
type scenario struct {
	worker  bool // the worker on the leader's origin; else the proxy's page at the follower
	hung    bool // the dark site holds connections; else it refuses them
	decided bool // the sites core has made the follower lead (the probes say so); else not yet
}

var scenarios = []scenario{
	{worker: true},
	{worker: true, hung: true},
	{},
	{hung: true},
	{hung: true, decided: true},
}

func (sc scenario) String() string {
	return fmt.Sprintf("worker %v, hung %v, decided %v", sc.worker, sc.hung, sc.decided)
}

type browserResult struct {
	skipped string
	times   map[scenario][]time.Duration
	timeout time.Duration
}

// measureBrowser times, for each scenario, the page load at the dark
// leader site (or the proxy's page, asked to open a page) until the
// follower's app serves that page, with the proxy's default timings.
func measureBrowser(ctx context.Context, rounds int) (*browserResult, error) {
	res := &browserResult{times: map[scenario][]time.Duration{}, timeout: 3 * time.Second}
	b, err := headless.Find()
	if err != nil {
		res.skipped = err.Error()
		return res, nil
	}
	for _, sc := range scenarios {
		for range rounds {
			d, err := runScenario(ctx, b, sc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sc, err)
			}
			res.times[sc] = append(res.times[sc], d)
		}
	}
	return res, nil
}

func runScenario(ctx context.Context, b *headless.Browser, sc scenario) (_ time.Duration, err error) {
	t := &benchT{}
	defer t.cleanup()
	defer func() {
		switch p := recover().(type) {
		case nil:
		case fatal:
			err = p.err
		default:
			panic(p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c := sitetest.StartControl(t)
	sites := sitetest.NewSites("home", "cloud")
	all := sitetest.StartSites(t, c, siteproxy.Options{Sites: sites}, "home", "cloud") // the defaults: probe every 2s, timeout 3s
	home, cloud := all[0], all[1]
	first := home
	if !sc.worker {
		first = cloud
	}
	s, err := b.Open(ctx, first.Origin()+"/wiki/Start")
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := c.WaitReady(ctx, first.Name, "/wiki/Start"); err != nil {
		return 0, err
	}
	if sc.hung {
		err = home.Hang()
	} else {
		home.Down()
	}
	if err != nil {
		return 0, err
	}
	if sc.decided {
		sites.Set("cloud")
	}
	target := home.Origin() + "/wiki/After"
	if !sc.worker {
		target = cloud.Origin() + siteproxy.DefaultPrefix + "?" + url.Values{"to": {"/wiki/After"}}.Encode()
	}
	start := time.Now()
	if err := c.Go(ctx, target); err != nil {
		return 0, err
	}
	hit, err := cloud.WaitHit(ctx, "/wiki/After")
	if err != nil {
		return 0, err
	}
	return hit.At.Sub(start), nil
}

func (r *browserResult) write(out io.Writer) {
	fmt.Fprintln(out, "## Browser health proxy: the browser lands at the follower")
	fmt.Fprintln(out)
	if r.skipped != "" {
		fmt.Fprintf(out, "Not measured: %s.\n\n", r.skipped)
		return
	}
	fmt.Fprintf(out, "Headless Chromium, the proxy's defaults (probe timeout %s). From the start of a page load to the follower's app serving that page; median (min–max) of %d rounds.\n\n",
		r.timeout, len(r.times[scenarios[0]]))
	fmt.Fprintln(out, "| way | leader site | sites core | the browser lands at the follower after |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, sc := range scenarios {
		way, dark, core := "service worker (page load at the leader's origin)", "refuses connections", "still names the leader"
		if !sc.worker {
			way = "proxy page at the follower"
		}
		if sc.hung {
			dark = "holds connections unanswered"
		}
		if sc.decided {
			core = "made the follower lead"
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s |\n", way, dark, core, summary(r.times[sc]))
	}
	fmt.Fprintln(out)
}

// benchT runs sitetest's helpers outside a test: Fatal unwinds to
// runScenario, Cleanup runs when it returns.
type benchT struct{ cleanups []func() }

type fatal struct{ err error }

func (t *benchT) Helper()           {}
func (t *benchT) Fatal(args ...any) { panic(fatal{errors.New(fmt.Sprint(args...))}) }
func (t *benchT) Cleanup(f func())  { t.cleanups = append(t.cleanups, f) }
func (t *benchT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
