package balance

import "net/http"

// scope says which of a pool's targets a request may be sent to. The zero
// value is every target.
type scope struct {
	ownNode bool   // only targets that are not Remote (LocalTransport)
	site    string // only the targets of this site (SiteTransport); "" for any
}

// targetGroup is the targets of one site, sorted by ID, and their
// priority levels (nil when every priority is 0).
type targetGroup struct {
	ts     []*target
	levels *[][]*target
}

// groupBySite groups ts, sorted by ID, by site: a target's Site, or the
// pool's own for a target that names none.
func (p *Pool) groupBySite(ts []*target) *map[string]*targetGroup {
	groups := make(map[string]*targetGroup)
	for _, t := range ts {
		site := t.Site
		if site == "" {
			site = p.opts.Site
		}
		g := groups[site]
		if g == nil {
			g = &targetGroup{}
			groups[site] = g
		}
		g.ts = append(g.ts, t)
	}
	for _, g := range groups {
		g.levels = byPriority(g.ts)
	}
	return &groups
}

// scoped returns the targets in sc and their priority levels.
func (p *Pool) scoped(sc scope) ([]*target, *[][]*target) {
	switch {
	case sc.ownNode:
		return *p.own.Load(), p.ownLevels.Load()
	case sc.site != "":
		if g := (*p.sites.Load())[sc.site]; g != nil {
			return g.ts, g.levels
		}
		return nil, nil
	}
	return *p.targets.Load(), p.levels.Load()
}

// SiteTransport returns a RoundTripper that balances like the pool, with
// its retries, retry budget and passive health, but only over the targets
// of site: those whose Target.Site is site, and the targets that name no
// site when site is the pool's own (Options.Site). Within the site, the
// pool's zone is preferred as usual. With no eligible target in the site
// its RoundTrip fails with ErrNoTarget, having sent nothing: the caller
// may then send the request elsewhere.
//
// A follower site's node sends an app's reads to its own site's instances
// and its writes to the leader site's nodes through two of them.
func (p *Pool) SiteTransport(site string) http.RoundTripper {
	return siteTransport{p: p, sc: scope{site: site}}
}

// siteTransport is the RoundTripper SiteTransport returns.
type siteTransport struct {
	p  *Pool
	sc scope
}

// RoundTrip implements http.RoundTripper like Pool.RoundTrip, drawing
// from the site's targets only.
func (s siteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return s.p.roundTrip(req, s.sc)
}
