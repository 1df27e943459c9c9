package config

// SitesDNS configures the DNS responder of sites.dns.
type SitesDNS struct{}

// SitesHealthProxy configures the client-side health proxy of
// sites.health_proxy.
type SitesHealthProxy struct{}
