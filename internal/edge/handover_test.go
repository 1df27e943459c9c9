package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandoverToNextServer hands a serving edge's listener to a second
// Server, as an upgrade does across an exec, under a steady load of GETs
// and POSTs on kept-alive connections and with a slow request in flight:
// no request fails, the slow one finishes on the first edge, and the
// connections opened during the gap wait in the backlog and are served by
// the second.
func TestHandoverToNextServer(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("d")); err == nil {
			time.Sleep(d)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	up := map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}
	first, firstLog := newTestEdge(t, up, []Route{{App: "web"}}, nil)
	if err := first.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := first.Addrs()[0].String()
	ran := make(chan error, 1)
	go func() { ran <- first.Run(context.Background()) }()

	var failures, closed atomic.Int64
	var failed sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var resp *http.Response
				var err error
				if i%3 == 0 {
					resp, err = c.Post("http://"+addr+"/echo", "text/plain", strings.NewReader("body"))
				} else {
					resp, err = c.Get("http://" + addr + "/")
				}
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					if resp.Close {
						closed.Add(1)
					}
				}
				if err != nil {
					failures.Add(1)
					failed.Store(err.Error(), true)
				}
			}
		})
	}
	slow := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow?d=300ms")
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("slow request: status %d", resp.StatusCode)
			}
		}
		slow <- err
	}()
	time.Sleep(100 * time.Millisecond)

	files, err := first.ListenerFiles()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Handover(t.Context(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run after Handover = %v; want nil", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("request in flight during the handover: %v", err)
	}
	// The gap an exec takes: new connections queue in the backlog.
	time.Sleep(200 * time.Millisecond)
	inherited := map[string]net.Listener{}
	for name, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		inherited[name] = ln
	}
	second, secondLog := newTestEdge(t, up, []Route{{App: "web"}}, func(o *Options) { o.Inherited = inherited })
	if got := runEdge(t, second); got != addr {
		t.Fatalf("second edge listens on %s; want the inherited %s", got, addr)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failures.Load(); n > 0 {
		var msgs []string
		failed.Range(func(k, _ any) bool { msgs = append(msgs, k.(string)); return true })
		t.Errorf("%d requests failed across the handover: %s", n, strings.Join(msgs, "; "))
	}
	if closed.Load() == 0 {
		t.Error("no response asked its client to close the connection; want those answered while draining to")
	}
	served1, served2 := len(firstLog.lines()), len(secondLog.lines())
	if served1 == 0 || served2 == 0 {
		t.Errorf("first edge served %d requests, second %d; want both some", served1, served2)
	}
	t.Logf("first edge served %d requests, second %d", served1, served2)
}

// TestHandoverNeedsRun: an edge that is not serving hands nothing over.
func TestHandoverNeedsRun(t *testing.T) {
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": failing{io.EOF}}, []Route{{App: "web"}}, nil)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Handover(t.Context(), time.Second); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Handover before Run = %v; want ErrNotRunning", err)
	}
}
