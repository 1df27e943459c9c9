// Package sitetest runs "sites" on loopback for the tests and benchmarks
// of the client-side health proxy: each site is a real edge (edge.Server)
// serving the proxy on its built-in path and a small app behind it whose
// pages report to the test — through a control server — that they were
// loaded and are ready, and navigate where the test tells them. A site
// can go dark (its edge stops: connections are refused) or hang (its
// port accepts connections and never answers), and come back on the same
// address.
package sitetest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/siteproxy"
)

// T is what the helpers need of the test that runs them: *testing.T and
// *testing.B are ones, and a benchmark program has its own.
type T interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Sites is a sites core whose answer the test sets.
type Sites struct {
	mu      sync.Mutex // guards serving
	serving []string
}

// NewSites returns Sites serving the given sites, the leader first.
func NewSites(serving ...string) *Sites { return &Sites{serving: serving} }

// Serving implements siteproxy.Sites.
func (s *Sites) Serving() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving
}

// Set changes the answer.
func (s *Sites) Set(serving ...string) {
	s.mu.Lock()
	s.serving = serving
	s.mu.Unlock()
}

// Hit is one page an app served.
type Hit struct {
	Site, Path string
	At         time.Time
}

// Site is one site: an edge on a fixed loopback address and its app.
type Site struct {
	Name string
	Addr string // the edge's host:port, kept across restarts

	app     *httptest.Server
	hits    chan Hit
	control string // the control server's URL, written into pages; "" for none
	proxy   *siteproxy.Proxy

	mu   sync.Mutex // guards stop
	stop func()     // stops what serves Addr now; nil when nothing does
}

// StartSites starts one site per name, each serving the proxy with the
// given options (Site and Node filled in; Origins, if not set, the
// started sites'), on ports free now: all at once, since each proxy must
// know every site's origin. Their pages report to c and take its orders;
// with c nil they are plain pages (a browser run in virtual time must
// not be left waiting for orders). Everything stops when the test ends.
func StartSites(tb T, c *Control, opts siteproxy.Options, names ...string) []*Site {
	tb.Helper()
	origins := map[string]string{}
	var sites []*Site
	for _, n := range names {
		s := &Site{Name: n, Addr: freeAddr(tb), hits: make(chan Hit, 100)}
		if c != nil {
			s.control = c.URL()
		}
		origins[n] = s.Origin()
		sites = append(sites, s)
	}
	if opts.Origins != nil {
		origins = opts.Origins
	}
	for _, s := range sites {
		o := opts
		o.Site, o.Node, o.Origins = s.Name, s.Name+"-1", origins
		p, err := siteproxy.New(o)
		if err != nil {
			tb.Fatal(err)
		}
		s.proxy = p
		s.app = httptest.NewServer(http.HandlerFunc(s.page))
		tb.Cleanup(s.app.Close)
		if err := s.Up(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(s.Down)
	}
	return sites
}

// Origin is the site's URL.
func (s *Site) Origin() string { return "http://" + s.Addr }

// Hits receives every page the site's app serves.
func (s *Site) Hits() <-chan Hit { return s.hits }

// Up starts the site's edge on its address.
func (s *Site) Up() error {
	s.Down()
	e, err := edge.New(edge.Options{
		Listen: s.Addr, ShutdownTimeout: time.Second,
		Routes:    []edge.Route{{App: "web"}},
		Upstreams: map[string]http.RoundTripper{"web": toServer{s.app.Listener.Addr().String()}},
		Builtins:  map[string]http.Handler{s.proxy.Prefix(): s.proxy},
	})
	if err != nil {
		return err
	}
	if err := e.Listen(); err != nil {
		return fmt.Errorf("site %s up: %w", s.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Run(ctx) // a failure shows as the site not answering, which the test sees
	}()
	s.mu.Lock()
	s.stop = func() { cancel(); <-done }
	s.mu.Unlock()
	return nil
}

// Down stops whatever serves the site's address: connections are refused.
func (s *Site) Down() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Hang stops the site's edge and holds its address: connections are
// accepted and never answered. To a browser this is a site whose network
// is gone without a word (no refusal): nothing comes back until its own
// timeouts, which run to minutes.
func (s *Site) Hang() error {
	s.Down()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("site %s hang: %w", s.Name, err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read
			mu.Unlock()
		}
	}()
	s.mu.Lock()
	s.stop = func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	s.mu.Unlock()
	return nil
}

// WaitHit waits for the app to serve path, and returns when it did.
func (s *Site) WaitHit(ctx context.Context, path string) (Hit, error) {
	for {
		select {
		case h := <-s.hits:
			if h.Path == path {
				return h, nil
			}
		case <-ctx.Done():
			return Hit{}, fmt.Errorf("site %s never served %s: %w", s.Name, path, ctx.Err())
		}
	}
}

// page is the app: every path is a page that installs the proxy's worker
// and, with a control server, once the worker is active tells the
// control server it is ready and navigates where the control server says.
func (s *Site) page(w http.ResponseWriter, r *http.Request) {
	select {
	case s.hits <- Hit{Site: s.Name, Path: r.URL.Path, At: time.Now()}:
	default:
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	where := html.EscapeString(s.Name + " " + r.URL.Path)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<script src="%sregister.js" async></script></head>
<body data-site="%s" data-path="%s"><h1 id="where">%s</h1>
`, where, s.proxy.Prefix(), html.EscapeString(s.Name), html.EscapeString(r.URL.Path), where)
	if s.control != "" {
		fmt.Fprintf(w, `<script>
const control = %q;
navigator.serviceWorker.ready.then(async () => {
  await fetch(control + '/ready?' + new URLSearchParams({site: %q, path: location.pathname}));
  const r = await fetch(control + '/go');
  if (r.ok) location.href = await r.text();
}).catch((e) => console.log('test page: ' + e));
</script>
`, s.control, s.Name)
	}
	io.WriteString(w, "</body></html>\n")
}

// toServer sends every request to one server.
type toServer struct{ addr string }

func (u toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r.URL.Scheme, r.URL.Host = "http", u.addr
	return http.DefaultTransport.RoundTrip(r)
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(tb T) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Control is the server test pages report to and take orders from.
type Control struct {
	srv   *httptest.Server
	ready chan Hit
	goTo  chan string
}

// StartControl starts a control server; it stops when the test ends.
func StartControl(tb T) *Control {
	c := &Control{ready: make(chan Hit, 100), goTo: make(chan string)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		select {
		case c.ready <- Hit{Site: r.URL.Query().Get("site"), Path: r.URL.Query().Get("path"), At: time.Now()}:
		default:
		}
	})
	mux.HandleFunc("GET /go", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		select {
		case u := <-c.goTo:
			io.WriteString(w, u)
		case <-r.Context().Done():
		}
	})
	c.srv = httptest.NewServer(mux)
	tb.Cleanup(func() {
		c.srv.CloseClientConnections()
		c.srv.Close()
	})
	return c
}

// URL is the control server's base URL.
func (c *Control) URL() string { return c.srv.URL }

// WaitReady waits for a page at site and path to say its worker is
// active.
func (c *Control) WaitReady(ctx context.Context, site, path string) error {
	for {
		select {
		case h := <-c.ready:
			if h.Site == site && h.Path == path {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("no page %s at %s got ready: %w", path, site, ctx.Err())
		}
	}
}

// Go tells the page waiting for orders to navigate to target.
func (c *Control) Go(ctx context.Context, target string) error {
	if _, err := url.Parse(target); err != nil {
		return err
	}
	select {
	case c.goTo <- target:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("no page waits for orders"), ctx.Err())
	}
}
