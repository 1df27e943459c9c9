package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStripPrefix(t *testing.T) {
	tests := []struct {
		prefix, in, wantPath, wantEscaped string
	}{
		{"/legacy/", "/legacy/a/b", "/a/b", "/a/b"},
		{"/legacy", "/legacy/a", "/a", "/a"},
		{"/legacy", "/legacy", "/", "/"},
		{"/legacy/", "/legacy/", "/", "/"},
		{"/m", "/m/a%2Fb/c%20d", "/a/b/c d", "/a%2Fb/c%20d"},
		{"/a b", "/a%20b/x%2Fy", "/x/y", "/x%2Fy"},
		{"/a/b", "/a%2Fb/x", "/x", "/x"}, // an escaped "/" in the prefix: the rest escaped anew
		{"/", "/x", "/x", "/x"},
	}
	for _, tc := range tests {
		var gotPath, gotEscaped, origPath string
		h := stripPrefix(tc.prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotPath, gotEscaped = r.URL.Path, r.URL.EscapedPath()
		}))
		req := httptest.NewRequest(http.MethodGet, "http://example.com"+tc.in+"?q=1", nil)
		origPath = req.URL.EscapedPath()
		h.ServeHTTP(httptest.NewRecorder(), req)
		if gotPath != tc.wantPath || gotEscaped != tc.wantEscaped {
			t.Errorf("strip %q from %q = %q (escaped %q); want %q (%q)", tc.prefix, tc.in, gotPath, gotEscaped, tc.wantPath, tc.wantEscaped)
		}
		if req.URL.EscapedPath() != origPath {
			t.Errorf("strip %q changed the caller's request: %q; want %q", tc.prefix, req.URL.EscapedPath(), origPath)
		}
	}
}

func FuzzStripPrefix(f *testing.F) {
	for _, s := range []string{"/m/a%2Fb", "/m", "/m/%zz", "/m/../x", "/m//x"} {
		f.Add("/m", s)
	}
	f.Fuzz(func(t *testing.T, prefix, path string) {
		req, err := http.NewRequest(http.MethodGet, "http://h"+path, nil)
		if err != nil || len(prefix) == 0 || prefix[0] != '/' || !pathMatches(prefix, req.URL.Path) {
			return
		}
		h := stripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "" || r.URL.Path[0] != '/' {
				t.Fatalf("strip %q from %q left %q: not a path", prefix, path, r.URL.Path)
			}
			if got := r.URL.EscapedPath(); got == "" || got[0] != '/' {
				t.Fatalf("strip %q from %q left escaped %q", prefix, path, got)
			}
		}))
		h.ServeHTTP(httptest.NewRecorder(), req)
	})
}
