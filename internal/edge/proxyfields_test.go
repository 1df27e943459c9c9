package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProxyFieldsFromClientsAreDropped: fields that only a proxy in front
// of the edge may set (the URL it rewrote, the prefix it stripped, the
// client address it saw) reach the app from trusted proxies only, and a
// method override never turns a GET or HEAD into something else.
func TestProxyFieldsFromClientsAreDropped(t *testing.T) {
	var got http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}}, nil)

	proxyFields := []string{
		"X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Forwarded-Prefix", "X-Forwarded-Path",
		"X-Forwarded-Uri", "X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Ssl",
		"X-Url-Scheme", "Front-End-Https", "X-Original-Host", "X-Host", "X-Real-Ip", "X-Client-Ip",
		"True-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Forwarded-For", "X-Original-Method",
	}
	overrides := []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}
	tests := []struct {
		method, peer       string
		wantProxy, wantOvr bool
	}{
		{"GET", "192.0.2.9:1234", false, false},  // a client
		{"POST", "192.0.2.9:1234", false, true},  // a client tunnelling PUT/DELETE through POST
		{"GET", "10.0.0.5:1234", true, false},    // a trusted proxy: its fields pass; GET stays GET
		{"HEAD", "10.0.0.5:1234", true, false},   // likewise
		{"POST", "[2001:db8::1]:1", false, true}, // a client over IPv6
	}
	for _, tt := range tests {
		got = nil
		req := httptest.NewRequest(tt.method, "http://wiki.example/public", nil)
		req.RemoteAddr = tt.peer
		for _, f := range append(proxyFields, overrides...) {
			req.Header.Set(f, "/admin")
		}
		req.Header.Set("X-Custom", "kept")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 || got == nil {
			t.Fatalf("%s from %s: %d; want 200 from the app", tt.method, tt.peer, rec.Code)
		}
		for _, f := range proxyFields {
			if _, ok := got[f]; ok != tt.wantProxy {
				t.Errorf("%s from %s: app got %s: %v; want %v", tt.method, tt.peer, f, ok, tt.wantProxy)
			}
		}
		for _, f := range overrides {
			if _, ok := got[f]; ok != tt.wantOvr {
				t.Errorf("%s from %s: app got %s: %v; want %v", tt.method, tt.peer, f, ok, tt.wantOvr)
			}
		}
		if got.Get("X-Custom") != "kept" {
			t.Errorf("%s from %s: an ordinary field was dropped", tt.method, tt.peer)
		}
	}
}
