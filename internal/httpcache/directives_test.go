package httpcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestResponseDirectives(t *testing.T) {
	tests := []struct {
		name   string
		hdr    []string
		reqHdr []string
		hit    bool
	}{
		{"no-store", []string{"Cache-Control", "no-store, max-age=60"}, nil, false},
		{"private", []string{"Cache-Control", "private, max-age=60"}, nil, false},
		{"public stores", []string{"Cache-Control", "public, max-age=60"}, nil, true},
		{"private with field names stores", []string{"Cache-Control", `private="X-User", max-age=60`, "X-User", "bob"}, nil, true},
		{"no-cache needs validation", []string{"Cache-Control", "no-cache, max-age=60", "Etag", `"v1"`}, nil, false},
		{"no-cache with field names reuses", []string{"Cache-Control", `no-cache="X-Secret", max-age=60`}, nil, true},
		{"Set-Cookie not stored by default", []string{"Cache-Control", "max-age=60", "Set-Cookie", "a=b"}, nil, false},
		{"Vary star never matches", []string{"Cache-Control", "max-age=60", "Vary", "*"}, nil, false},
		{"Vary list with star", []string{"Cache-Control", "max-age=60", "Vary", "Accept, *"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, RouteOptions{}, nil)
			e.o.set(fixed(e.clock, 200, "body", tt.hdr...))
			e.get("http://example.org/", tt.reqHdr...)
			r := e.get("http://example.org/", tt.reqHdr...)
			if got := isHit(r); got != tt.hit {
				t.Errorf("hit = %v; want %v (Cache-Status %q)", got, tt.hit, r.Header().Get("Cache-Status"))
			}
		})
	}
}

func TestPrivateFieldsNotShared(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(fixed(e.clock, 200, "body", "Cache-Control", `private="X-User", max-age=60`, "X-User", "bob"))
	if r := e.get("http://example.org/"); r.Header().Get("X-User") != "bob" {
		t.Errorf("first client X-User = %q; want bob", r.Header().Get("X-User"))
	}
	if r := e.get("http://example.org/"); r.Header().Get("X-User") != "" || !isHit(r) {
		t.Errorf("hit X-User = %q, hit %v; want none, true", r.Header().Get("X-User"), isHit(r))
	}
}

func TestNoCacheFieldsStripped(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(fixed(e.clock, 200, "body", "Cache-Control", `no-cache="X-Secret", max-age=60`, "X-Secret", "s"))
	e.get("http://example.org/")
	if r := e.get("http://example.org/"); r.Header().Get("X-Secret") != "" {
		t.Errorf("hit X-Secret = %q; want it removed without revalidation", r.Header().Get("X-Secret"))
	}
}

func TestNoCacheRevalidates(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Etag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(304)
			return
		}
		w.Write([]byte("body"))
	})
	e.get("http://example.org/")
	r := e.get("http://example.org/")
	if r.Code != 200 || r.Body.String() != "body" {
		t.Fatalf("got %d %q; want 200 body", r.Code, r.Body.String())
	}
	if got := e.o.last().Header.Get("If-None-Match"); got != `"v1"` {
		t.Errorf("revalidation If-None-Match = %q; want \"v1\"", got)
	}
	if cs := r.Header().Get("Cache-Status"); !strings.Contains(cs, "fwd=stale; fwd-status=304") {
		t.Errorf("Cache-Status = %q; want fwd=stale; fwd-status=304", cs)
	}
}

func TestRequestDirectives(t *testing.T) {
	tests := []struct {
		name   string
		resp   string
		after  time.Duration
		reqCC  string
		hit    bool
		status int
	}{
		{"max-age within", "max-age=100", 10 * time.Second, "max-age=20", true, 200},
		{"max-age exceeded", "max-age=100", 30 * time.Second, "max-age=20", false, 200},
		{"max-age=0", "max-age=100", 0, "max-age=0", false, 200},
		{"min-fresh ok", "max-age=100", 10 * time.Second, "min-fresh=50", true, 200},
		{"min-fresh fails", "max-age=100", 60 * time.Second, "min-fresh=50", false, 200},
		{"max-stale accepts", "max-age=10", 20 * time.Second, "max-stale=30", true, 200},
		{"max-stale too little", "max-age=10", 50 * time.Second, "max-stale=30", false, 200},
		{"max-stale any", "max-age=10", time.Hour, "max-stale", true, 200},
		{"max-stale vs must-revalidate", "max-age=10, must-revalidate", 20 * time.Second, "max-stale", false, 200},
		{"max-stale vs s-maxage", "s-maxage=10", 20 * time.Second, "max-stale", false, 200},
		{"no-cache", "max-age=100", 0, "no-cache", false, 200},
		{"no-store still served from cache", "max-age=100", 0, "no-store", true, 200},
		{"only-if-cached hit", "max-age=100", 0, "only-if-cached", true, 200},
		{"only-if-cached stale", "max-age=10", time.Minute, "only-if-cached", false, 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, RouteOptions{}, nil)
			e.o.set(fixed(e.clock, 200, "body", "Cache-Control", tt.resp))
			e.get("http://example.org/")
			e.clock.Advance(tt.after)
			r := e.get("http://example.org/", "Cache-Control", tt.reqCC)
			if got := isHit(r); got != tt.hit || r.Code != tt.status {
				t.Errorf("hit, status = %v, %d; want %v, %d (Cache-Status %q)", got, r.Code, tt.hit, tt.status, r.Header().Get("Cache-Status"))
			}
		})
	}
}

func TestOnlyIfCachedMiss(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	r := e.get("http://example.org/", "Cache-Control", "only-if-cached")
	if r.Code != http.StatusGatewayTimeout || e.o.n() != 0 {
		t.Errorf("status %d, origin calls %d; want 504, 0", r.Code, e.o.n())
	}
}

func TestRequestNoStoreNotStored(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/", "Cache-Control", "no-store")
	if r := e.get("http://example.org/"); isHit(r) {
		t.Errorf("response to a no-store request was stored")
	}
}

func TestIgnoreClientNoCache(t *testing.T) {
	e := newEnv(t, RouteOptions{IgnoreClientNoCache: true}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/")
	if r := e.get("http://example.org/", "Cache-Control", "no-cache"); !isHit(r) {
		t.Errorf("no-cache from client not ignored: %q", r.Header().Get("Cache-Status"))
	}
}

func TestAuthorization(t *testing.T) {
	tests := []struct {
		cc    string
		store bool
	}{
		{"max-age=60", false},
		{"public, max-age=60", true},
		{"s-maxage=60", true},
		{"must-revalidate, max-age=60", true},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", tt.cc))
			e.get("http://example.org/", "Authorization", "Basic Zm9vOmJhcg==")
			r := e.get("http://example.org/")
			if got := isHit(r); got != tt.store {
				t.Errorf("response to Authorization request reused = %v; want %v", got, tt.store)
			}
		})
	}
}

func TestAuthorizationDoesNotPoisonAnonymous(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/", "Authorization", "Basic Zm9vOmJhcg==")
	e.get("http://example.org/")
	if r := e.get("http://example.org/"); !isHit(r) {
		t.Errorf("anonymous response not cached after an authorized one: %q", r.Header().Get("Cache-Status"))
	}
}
