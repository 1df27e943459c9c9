package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// echoLength answers with the length of the body it read and the
// Content-Length it was given, and counts the requests it was handed.
type echoLength struct{ entered atomic.Int32 }

func (a *echoLength) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.entered.Add(1)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%d %d %q", len(b), r.ContentLength, r.TransferEncoding)
}

// TestSlowBodyDoesNotReachTheApp: a request whose body is still arriving
// holds a buffer at the edge, not one of the app's workers; the app gets
// it whole, with a Content-Length, once the last byte is in.
func TestSlowBodyDoesNotReachTheApp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		app := new(echoLength)
		b := startBubble(t, app, nil)
		defer b.close()

		c := b.dial(t)
		defer c.Close()
		go io.WriteString(c, "POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n")
		synctest.Wait()
		if n := app.entered.Load(); n != 0 {
			t.Fatalf("the app was handed %d request(s) whose body had not all arrived", n)
		}
		// Other requests go through meanwhile.
		resp, other := b.exchange(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		other.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET while a body is arriving: %d; want 200", resp.StatusCode)
		}
		go io.WriteString(c, "5\r\n56789\r\n0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := text(resp); resp.StatusCode != 200 || got != `10 10 []` {
			t.Errorf("POST: %d %q; want 200 \"10 10 []\" (the whole body, with its length, not chunked)", resp.StatusCode, got)
		}
	})
}

// TestTrickledBodyTimesOut: a body sent one byte every 5 seconds is cut
// off with 408 once the minimum rate is not met, and the app never sees it.
func TestTrickledBodyTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		app := new(echoLength)
		b := startBubble(t, app, nil)
		defer b.close()

		c := b.dial(t)
		defer c.Close()
		respc := make(chan *http.Response, 1)
		go func() {
			resp, _ := http.ReadResponse(bufio.NewReader(c), nil) // nil when the connection closed first
			respc <- resp
		}()
		start := time.Now()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		var resp *http.Response
	trickle:
		for {
			select {
			case resp = <-respc:
				break trickle
			case <-time.After(5 * time.Second):
				if time.Since(start) > time.Hour {
					t.Fatal("no answer after an hour of one byte every 5s")
				}
				go c.Write([]byte("x")) // may never be read
			}
		}
		if resp == nil {
			t.Fatal("no response")
		}
		waited := time.Since(start)
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Errorf("trickled body: %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
		}
		if waited < 60*time.Second || waited > 70*time.Second {
			t.Errorf("trickled body answered after %v; want about 60s (the body timeout)", waited)
		}
		if n := app.entered.Load(); n != 0 {
			t.Errorf("the app was handed %d trickled request(s)", n)
		}
		synctest.Wait()
		if l := b.log.lines(); len(l) != 1 || l[0].Status != 408 || l[0].Error != "body_timeout" {
			t.Errorf("access log %+v; want one line, 408 body_timeout", l)
		}
	})
}

// TestStalledBodyTimesOut: a body that stops arriving is answered 408
// after the body timeout, on a streaming route too, where the app had the
// request already and the edge still cuts the client off.
func TestStalledBodyTimesOut(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				app := new(echoLength)
				b := startBubble(t, app, func(o *Options) {
					o.BodyTimeout = 30 * time.Second
					o.Routes[0].StreamBody = stream
				})
				defer b.close()
				start := time.Now()
				resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
				c.Close()
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Errorf("stalled body: %d; want 408", resp.StatusCode)
				}
				if waited := time.Since(start); waited != 30*time.Second {
					t.Errorf("stalled body answered after %v; want 30s, the body timeout", waited)
				}
				if n := app.entered.Load(); (n != 0) != stream {
					t.Errorf("the app was handed %d stalled request(s); streaming %v", n, stream)
				}
				synctest.Wait()
				if l := b.log.lines(); len(l) != 1 || l[0].Status != 408 || l[0].Error != "body_timeout" {
					t.Errorf("access log %+v; want one line, 408 body_timeout", l)
				}
			})
		})
	}
}

// TestBodyPace: the deadline of the next read, for a body timeout of 60s
// and a minimum rate of 1 KiB/s.
func TestBodyPace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		received int64
		now      time.Duration // since the body began
		want     time.Duration // the deadline, since the body began
	}{
		{"first read", 0, 0, 60 * time.Second},
		{"a gap after a fast start", 10 << 20, 5 * time.Second, 65 * time.Second},
		{"a trickle, 12 bytes in a minute", 12, 59 * time.Second, 60*time.Second + 11718750*time.Nanosecond},
		{"at the minimum rate", 100 << 10, 100 * time.Second, 160 * time.Second},
		{"below the minimum rate", 50 << 10, 100 * time.Second, 110 * time.Second},
	}
	for _, tt := range tests {
		p := bodyPace{timeout: 60 * time.Second, minRate: 1 << 10, start: t0, received: tt.received}
		if got := p.deadline(t0.Add(tt.now)).Sub(t0); got != tt.want {
			t.Errorf("%s: deadline(%v) = %v; want %v", tt.name, tt.now, got, tt.want)
		}
	}
	p := bodyPace{timeout: 60 * time.Second, start: t0, received: 3}
	if got := p.deadline(t0.Add(time.Hour)).Sub(t0); got != time.Hour+time.Minute {
		t.Errorf("no minimum rate: deadline after an hour = %v; want an hour and a minute", got)
	}
}

// TestStalledBodyOverHTTP2TimesOut: the body deadline holds for an
// HTTP/2 stream too, whose deadline is the stream's, not the connection's.
func TestStalledBodyOverHTTP2TimesOut(t *testing.T) {
	certSrv := httptest.NewUnstartedServer(nil)
	certSrv.StartTLS() // only for its certificate
	certSrv.Close()
	clientTLS := certSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	clientTLS.ServerName = "example.com" // a name of httptest's certificate
	clientTLS.NextProtos = []string{"h2"}
	synctest.Test(t, func(t *testing.T) {
		app := new(echoLength)
		b := startBubble(t, app, func(o *Options) { o.BodyTimeout = 30 * time.Second })
		defer b.close()
		// The same edge served over TLS on pipes, negotiating HTTP/2.
		ln := newPipeListener()
		cfg := &tls.Config{Certificates: certSrv.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
		srv := b.edge.newHTTPServer(cfg)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(tls.NewListener(ln, cfg)) }()
		defer func() { srv.Close(); <-served }()
		tr := &http.Transport{Protocols: new(http.Protocols), DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := ln.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, clientTLS)
			return tc, tc.HandshakeContext(ctx)
		}}
		tr.Protocols.SetHTTP2(true)
		defer tr.CloseIdleConnections()

		body, w := io.Pipe()
		defer w.Close()
		go w.Write([]byte("abc")) // then nothing
		start := time.Now()
		resp, err := (&http.Client{Transport: tr}).Post("https://edge/", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("stalled body over %s: %d; want HTTP/2 and 408", resp.Proto, resp.StatusCode)
		}
		if waited := time.Since(start); waited != 30*time.Second {
			t.Errorf("answered after %v; want 30s, the body timeout", waited)
		}
		if n := app.entered.Load(); n != 0 {
			t.Errorf("the app was handed %d stalled request(s)", n)
		}
	})
}
