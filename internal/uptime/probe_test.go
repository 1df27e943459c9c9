package uptime

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	var mu sync.Mutex // guards the three below
	var gotHost, gotAgent, gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotAgent, gotMethod = r.Host, r.UserAgent(), r.Method
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("<h1>Welcome home</h1>"))
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/broken":
			http.Error(w, "Welcome, but broken", http.StatusInternalServerError)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	dead := deadAddr(t)
	tests := []struct {
		name   string
		check  Check
		ok     bool
		status int
		err    string
	}{
		{"200 passes", Check{URL: srv.URL + "/ok"}, true, 200, ""},
		{"body found", Check{URL: srv.URL + "/ok", Body: "Welcome"}, true, 200, ""},
		{"body missing", Check{URL: srv.URL + "/ok", Body: "Goodbye"}, false, 200, `body does not contain "Goodbye"`},
		{"redirect is not followed and passes", Check{URL: srv.URL + "/moved"}, true, 301, ""},
		{"redirect not listed", Check{URL: srv.URL + "/moved", Status: []int{200}}, false, 301, "status 301, want 200"},
		{"listed statuses", Check{URL: srv.URL + "/teapot", Status: []int{200, 418}}, true, 418, ""},
		{"5xx fails", Check{URL: srv.URL + "/broken", Body: "Welcome"}, false, 500, "status 500, want 200-399"},
		{"4xx fails", Check{URL: srv.URL + "/teapot"}, false, 418, "status 418, want 200-399"},
		{"HEAD", Check{URL: srv.URL + "/ok", Method: http.MethodHead}, true, 200, ""},
		{"timeout", Check{URL: srv.URL + "/slow", Timeout: 100 * time.Millisecond}, false, 0, "timeout after 100ms"},
		{"refused, without the URL", Check{URL: "http://" + dead + "/secret-token"}, false, 0, "connection refused"},
	}
	client := newClient(nil)
	for _, tt := range tests {
		c := tt.check
		c.Name, c.Interval = "x", time.Second
		if c.Timeout == 0 {
			c.Timeout = 900 * time.Millisecond
		}
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
		p := c.probe(t.Context(), client, time.Now)
		if p.OK != tt.ok || p.Status != tt.status || !strings.Contains(p.Error, tt.err) || (tt.ok && p.Error != "") ||
			strings.Contains(p.Error, "secret-token") || p.Latency <= 0 || p.At.IsZero() {
			t.Errorf("%s: probe(%q) = %+v; want ok %v, status %d, error containing %q", tt.name, c.URL, p, tt.ok, tt.status, tt.err)
		}
	}

	c := Check{Name: "x", URL: srv.URL + "/ok", Method: http.MethodHead, Interval: time.Second, Timeout: 500 * time.Millisecond,
		Headers: map[string]string{"Host": "wiki.example", "User-Agent": "mine"}}
	p := c.probe(t.Context(), client, time.Now)
	mu.Lock()
	defer mu.Unlock()
	if !p.OK || gotHost != "wiki.example" || gotAgent != "mine" || gotMethod != "HEAD" {
		t.Errorf("probe with headers = %+v; server saw host %q, agent %q, method %q; want wiki.example, mine, HEAD", p, gotHost, gotAgent, gotMethod)
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
