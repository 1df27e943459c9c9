package edge

import "testing"

func TestRouteTable(t *testing.T) {
	table := newRouteTable([]Route{
		{Path: "/", App: "default"},
		{Path: "/api", App: "api"},
		{Host: "wiki.example.com", Path: "/", App: "wiki"},
		{Host: "wiki.example.com", Path: "/files/", App: "files"},
		{Host: "*.example.com", Path: "/", App: "sub"},
		{Host: "*.b.example.com", Path: "/", App: "deep"},
	})
	tests := []struct {
		host, path string
		want       string
	}{
		{"other.org", "/", "default"},
		{"other.org", "/api", "api"},
		{"other.org", "/api/v1", "api"},
		{"other.org", "/apix", "default"},
		{"wiki.example.com", "/page", "wiki"},
		{"WIKI.example.com:8080", "/page", "wiki"},
		{"wiki.example.com.", "/files/a.png", "files"},
		{"wiki.example.com", "/files", "wiki"},
		{"x.example.com", "/", "sub"},
		{"a.b.example.com", "/", "deep"},
		{"example.com", "/", "default"},
		{"[::1]:80", "/api", "api"},
	}
	for _, tt := range tests {
		r, ok := table.match(tt.host, tt.path)
		if !ok || r.App != tt.want {
			t.Errorf("match(%q, %q) = %q, %v; want %q", tt.host, tt.path, r.App, ok, tt.want)
		}
	}
	if _, ok := newRouteTable([]Route{{Host: "a.org", App: "a"}}).match("b.org", "/"); ok {
		t.Error("match of an unrouted host succeeded; want no route")
	}
}

func FuzzRouteMatch(f *testing.F) {
	table := newRouteTable([]Route{{Path: "/api", App: "api"}, {Host: "*.example.com", App: "sub"}, {Host: "a.org", Path: "/x/", App: "x"}})
	for _, s := range []string{"a.org", "x.example.com:1", "[::1]", "", ".", "*.", "[", "a.org."} {
		f.Add(s, "/x/y")
	}
	f.Fuzz(func(t *testing.T, host, path string) {
		r, ok := table.match(host, path)
		if ok && r.App == "" {
			t.Fatalf("match(%q, %q) returned a route without app", host, path)
		}
		if ok && !pathMatches(r.Path, path) {
			t.Fatalf("match(%q, %q) = %+v whose path does not match", host, path, r)
		}
	})
}
