package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// load is a bounded client: workers send requests until stopped, and every
// outcome is counted.
type load struct {
	mu       sync.Mutex // guards the counters below
	ok       map[string]int
	failures map[string][]string // kind -> examples
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type request func(ctx context.Context, c *http.Client) (kind string, err error)

// startLoad runs each request function in its own worker loop, at most
// every interval, until stop is called, the test ends, or one minute
// passes.
func startLoad(t *testing.T, reqs map[string]request, interval time.Duration) *load {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	l := &load{ok: map[string]int{}, failures: map[string][]string{}, cancel: cancel}
	t.Cleanup(l.stop)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for kind, f := range reqs {
		l.wg.Go(func() {
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				_, err := f(ctx, client)
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				if err != nil {
					l.failures[kind] = append(l.failures[kind], err.Error())
				} else {
					l.ok[kind]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// stop ends the load and waits for its workers; it may be called again.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) counts(kind string) (ok int, failed []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok[kind], l.failures[kind]
}

// waitOK waits until every kind of request has succeeded n times in all,
// or timeout passes: under a busy machine a load that is to show some
// number of requests may need longer than what it accompanied. The caller
// checks the counts.
func (l *load) waitOK(n int, timeout time.Duration, kinds ...string) {
	deadline := time.Now().Add(timeout)
	for _, k := range kinds {
		for ok, _ := l.counts(k); ok < n && time.Now().Before(deadline); ok, _ = l.counts(k) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitServed waits until every kind of request has succeeded n more times
// than when it is called, or fails the test after timeout: the load ran
// through whatever is happening meanwhile.
func (l *load) waitServed(t *testing.T, n int, timeout time.Duration, kinds ...string) {
	t.Helper()
	from := map[string]int{}
	for _, k := range kinds {
		from[k], _ = l.counts(k)
	}
	deadline := time.Now().Add(timeout)
	for _, k := range kinds {
		for {
			ok, _ := l.counts(k)
			if ok >= from[k]+n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("load %s: %d requests succeeded in %s; want %d", k, ok-from[k], timeout, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// get returns a request that GETs url and wants a 200; it reports the
// instance that answered.
func get(url string) request { return getHeader(url, "X-Instance") }

// getHeader returns a request that GETs url, wants a 200 and reports the
// answer's header field.
func getHeader(url, field string) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		h, err := send(c, req)
		return h.Get(field), err
	}
}

// post returns a request that POSTs a small body to url.
func post(url string) request {
	return func(ctx context.Context, c *http.Client) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(strings.Repeat("x", 512)))
		_, err := send(c, req)
		return "", err
	}
}

// send sends req, reads the answer and wants a 200; it returns the
// answer's header.
func send(c *http.Client, req *http.Request) (http.Header, error) {
	resp, err := c.Do(req)
	if err != nil {
		return http.Header{}, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return http.Header{}, fmt.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
	}
	return resp.Header, nil
}
