package balance

import (
	"context"
	"errors"
	"testing"
)

// TestSiteTransport: a site's transport draws only from that site's
// targets: the pool's own instances and other nodes of its site for the
// pool's site, the leader site's nodes for the leader's; a site with no
// eligible target fails with ErrNoTarget, and the pool itself still draws
// from every site.
func TestSiteTransport(t *testing.T) {
	home := newPeer(t, newBackend(t, "h-1", nil))
	tp := startPool(t, Options{Zone: "a", Site: "cloud", RemoteTransport: home.transport()}, newBackend(t, "c-1", nil))
	ht := home.target("h")
	ht.Site = "home"
	if err := tp.Add(ht); err != nil {
		t.Fatal(err)
	}
	if st, err := tp.Target(ht.ID); err != nil || st.Site != "home" {
		t.Fatalf("Target(%s) = %+v, %v; want site home", ht.ID, st, err)
	}
	cloud, leader := tp.SiteTransport("cloud"), tp.SiteTransport("home")
	for i := range 10 {
		if got, err := get(context.Background(), cloud, "/"); err != nil || got != "c-1" {
			t.Fatalf("cloud GET %d = %q, %v; want c-1", i, got, err)
		}
		if got, err := get(context.Background(), leader, "/"); err != nil || got != "h-1" {
			t.Fatalf("home GET %d = %q, %v; want h-1", i, got, err)
		}
	}
	if _, err := get(context.Background(), tp.SiteTransport("witness"), "/"); !errors.Is(err, ErrNoTarget) {
		t.Errorf("GET through a site with no target: %v; want ErrNoTarget", err)
	}
	tp.SetHealth(ht.ID, false)
	if _, err := get(context.Background(), leader, "/"); !errors.Is(err, ErrNoTarget) {
		t.Errorf("GET through a site whose only node is unhealthy: %v; want ErrNoTarget", err)
	}
	if got, err := get(context.Background(), tp, "/"); err != nil || got != "c-1" {
		t.Errorf("GET through the pool = %q, %v; want c-1", got, err)
	}
	if n := home.hits.Load(); n != 10 {
		t.Errorf("the home node got %d requests; want the 10 sent through its site", n)
	}
}
