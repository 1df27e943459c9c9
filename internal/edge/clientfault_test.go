package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// TestMalformedChunkedBodyIs400: a body whose chunked framing is broken
// is the client's error: 400, logged as such, and no "upstream error".
func TestMalformedChunkedBodyIs400(t *testing.T) {
	bodies := map[string]string{
		"bad size":        "zz\r\nhello\r\n0\r\n\r\n",
		"missing CRLF":    "5\r\nhelloXX0\r\n\r\n",
		"size too large":  "ffffffffffffffffff\r\nx\r\n",
		"chunk extension": "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n",
	}
	for name, body := range bodies {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", name, stream), func(t *testing.T) {
				malformedChunked(t, body, stream)
			})
		}
	}
}

func malformedChunked(t *testing.T, body string, stream bool) {
	synctest.Test(t, func(t *testing.T) {
		app := new(echoLength)
		b := startBubble(t, app, func(o *Options) { o.Routes[0].StreamBody = stream })
		defer b.close()
		resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+body)
		c.Close()
		synctest.Wait()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("malformed chunked body: %d; want 400", resp.StatusCode)
		}
		if l := b.log.lines(); len(l) != 1 || l[0].Status != 400 || l[0].Error != "bad_body" {
			t.Errorf("access log %+v; want one line, 400 bad_body", l)
		}
		if ev := b.events.b.String(); strings.Contains(ev, "upstream error") {
			t.Errorf("the edge logged a client's error as the app's: %s", ev)
		}
	})
}

// TestBodyCutShortIs499: a client that closes its connection in the
// middle of the body gave up on its request: 499, not the app's 502.
func TestBodyCutShortIs499(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		app := new(echoLength)
		b := startBubble(t, app, nil)
		defer b.close()
		c := b.dial(t)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
		c.Close()
		synctest.Wait()
		if l := b.log.lines(); len(l) != 1 || l[0].Status != 499 || l[0].Error != "client_closed" {
			t.Errorf("access log %+v; want one line, 499 client_closed", l)
		}
		if ev := b.events.b.String(); strings.Contains(ev, "upstream error") {
			t.Errorf("the edge logged a client's error as the app's: %s", ev)
		}
	})
}

// TestAbandonedRequestIs499: a client that leaves while the app is still
// working is recorded as 499 in the access log and the observer, whether
// the route is cached (the fetch goes on for the cache) or not.
func TestAbandonedRequestIs499(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-release
					w.Header().Set("Cache-Control", "public, max-age=60")
					io.WriteString(w, "late")
				})
				obs := new(observed)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var cache *httpcache.Cache
				if cached {
					var err error
					if cache, err = httpcache.New(httpcache.Options{Memory: 1 << 20}); err != nil {
						t.Fatal(err)
					}
					done := make(chan error, 1)
					go func() { done <- cache.Run(ctx) }()
					defer func() { cancel(); <-done }()
				}
				b := startBubble(t, app, func(o *Options) {
					o.Observer = obs
					if cached {
						o.Cache = cache
						o.Routes[0].Cache = &httpcache.RouteOptions{}
					}
				})
				defer b.close()
				c := b.dial(t)
				io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
				synctest.Wait()
				c.Close() // the client gives up
				synctest.Wait()
				close(release)
				synctest.Wait()
				if l := b.log.lines(); len(l) != 1 || l[0].Status != 499 {
					t.Errorf("access log %+v; want one line with 499", l)
				}
				obs.mu.Lock()
				defer obs.mu.Unlock()
				if len(obs.infos) != 1 || obs.infos[0].Status != 499 {
					t.Errorf("observer got %+v; want one request with 499", obs.infos)
				}
			})
		})
	}
}

// TestContentLengthWithTransferEncodingClosesTheConnection: RFC 9112
// §6.1 — a request with both framings is answered, then its connection
// is closed, so nothing the client sent after it can be read as another
// request. Sent on the wire, since net/http's client never sends both.
func TestContentLengthWithTransferEncodingClosesTheConnection(t *testing.T) {
	var requests atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}}, nil)
	c, err := net.Dial("tcp", runEdge(t, s))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A smuggling attempt: by Content-Length the body is "0\r\n\r\nGET /x"...;
	// by Transfer-Encoding the body is empty and a second request follows.
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("CL+TE request: %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the response, read = %v; want EOF (connection closed)", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("the app got %d requests; want 1 (nothing after the CL+TE request)", n)
	}
}
