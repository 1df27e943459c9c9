package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCache(t *testing.T) {
	st, err := parse(t, `
cluster: { node: n1 }
edge:
  cache: { memory: 64MiB, disk: { path: /var/cache/tandem, size: 0 } }
  purge: { allow: [10.0.0.0/8, 192.0.2.7], token: "0123456789abcdef" }
  routes:
    - path: /
      app: web
      cache:
        sort_query: true
        drop_query: ["utm_*", fbclid]
        key_headers: [Accept-Language]
        bypass_cookies: ["wordpress_logged_in_*"]
        vary_cookies: [sessionid, "lang_*"]
        max_object_size: 10MiB
        default_ttl: 1m
        grace: 24h
        hit_for_pass: 30s
        client_cache_control: "private, must-revalidate, max-age=0"
        keep_tag_headers: true
    - { path: /admin, app: web, cache: { bypass: true } }
apps:
  web: { command: [./wiki] }
`)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	e := st.Edge
	if want := (EdgeCache{Memory: 64 * MiB, Disk: CacheDisk{Path: "/var/cache/tandem", Size: 0}}); e.Cache != want {
		t.Errorf("edge.cache = %+v; want %+v", e.Cache, want)
	}
	if want := (Purge{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, Token: "0123456789abcdef"}); !reflect.DeepEqual(e.Purge, want) {
		t.Errorf("edge.purge = %+v; want %+v", e.Purge, want)
	}
	want := RouteCache{SortQuery: true, DropQuery: []string{"utm_*", "fbclid"}, KeyHeaders: []string{"Accept-Language"},
		BypassCookies: []string{"wordpress_logged_in_*"}, VaryCookies: []string{"sessionid", "lang_*"}, MaxObjectSize: 10 * MiB, DefaultTTL: Duration(time.Minute),
		Grace: Duration(24 * time.Hour), HitForPass: Duration(30 * time.Second),
		ClientCacheControl: "private, must-revalidate, max-age=0", KeepTagHeaders: true}
	if !reflect.DeepEqual(e.Routes[0].Cache, want) {
		t.Errorf("routes[0].cache = %+v; want %+v", e.Routes[0].Cache, want)
	}
	if c := e.Routes[1].Cache; !c.Bypass || c.Grace != Duration(time.Hour) || c.HitForPass != Duration(2*time.Minute) {
		t.Errorf("routes[1].cache = %+v; want bypass with defaults", c)
	}
}

func TestCacheProblems(t *testing.T) {
	_, err := parse(t, `
edge:
  cache: { memory: -1MiB }
  purge: { token: short, allow: [not-an-ip] }
  routes:
    - { app: web, cache: { key_headers: ["bad header"], grace: -1s, hit_for_pass: -2m, client_cache_control: ", ", colour: blue, vary_cookies: [a, " "] } }
apps:
  web: { command: [./wiki] }
`)
	if err == nil {
		t.Fatal("Parse accepted a stack file with bad cache settings")
	}
	for _, want := range []string{
		`stack.yaml:3: edge.cache.memory: size "-1MiB" is negative`,
		"stack.yaml:4: edge.purge.token: must be at least 16 characters",
		"edge.purge.allow[0]",
		`edge.routes[0].cache.key_headers[0]: "bad header" is not a header field name`,
		"edge.routes[0].cache.grace: must be >= 0",
		"edge.routes[0].cache.hit_for_pass: must be >= 0",
		`edge.routes[0].cache.client_cache_control: ", " is not a Cache-Control value`,
		"edge.routes[0].cache.colour: unknown field",
		"edge.routes[0].cache.vary_cookies[1]: must not be empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not contain %q:\n%v", want, err)
		}
	}
}
