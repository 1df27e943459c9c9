package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBuiltins: a built-in path is answered by its handler on every host,
// before any route and before the app, which sees only the rest; the
// longest prefix wins.
func TestBuiltins(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	defer app.Close()
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.Path) })
	}
	s, log := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}},
		[]Route{{Host: "wiki.example", App: "web"}}, func(o *Options) {
			o.Builtins = map[string]http.Handler{"/.tandem/": named("tandem"), "/.tandem/sites/": named("sites")}
		})
	tests := []struct{ url, want string }{
		{"http://wiki.example/.tandem/sites/probe", "sites /.tandem/sites/probe"},
		{"http://other.example/.tandem/sites/", "sites /.tandem/sites/"}, // any host, even one no route takes
		{"http://wiki.example/.tandem/sites", "sites /.tandem/sites"},
		{"http://wiki.example/.tandem/x", "tandem /.tandem/x"},
		{"http://wiki.example/.tandemx", "app"},
		{"http://wiki.example/page", "app"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tt.url, nil))
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != tt.want {
			t.Errorf("GET %s = %d %q; want 200 %q", tt.url, rec.Code, got, tt.want)
		}
	}
	if l := log.lines(); len(l) != len(tests) || l[0].App != "" || l[4].App != "web" {
		t.Errorf("access log = %+v; want %d lines, the built-ins' without an app", l, len(tests))
	}
	for _, bad := range []string{"/", "/x", "x/", ""} {
		_, err := New(Options{Listen: "127.0.0.1:0", Builtins: map[string]http.Handler{bad: named("x")}})
		if err == nil || !strings.Contains(err.Error(), "must start and end with /") {
			t.Errorf("New with built-in %q = %v; want an error", bad, err)
		}
	}
}
