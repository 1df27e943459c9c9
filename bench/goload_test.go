package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGoLoaderMix(t *testing.T) {
	var mu sync.Mutex
	misses, hits := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if strings.HasPrefix(r.URL.Path, "/mix/miss-n1-") {
			misses++
		} else if strings.HasPrefix(r.URL.Path, "/mix/") {
			hits++
		}
		mu.Unlock()
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	defer srv.Close()
	res, err := GoLoader{}.Run(context.Background(), LoadSpec{BaseURL: srv.URL, Mix: true, Nonce: "n1", Conns: 4, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("Run = %+v; want requests, no errors, 0 < p50 <= p99", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if total := misses + hits; total < 20 || misses*10 < total*8/10 || misses*10 > total*12/10 {
		t.Errorf("misses %d of %d; want about 10%%", misses, total)
	}
}

// TestGoLoaderPaced: with a pause, each connection sends at most one
// request per pause (and one at the start), however fast the server is.
func TestGoLoaderPaced(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	defer srv.Close()
	const conns, pause, d = 2, 100 * time.Millisecond, 500 * time.Millisecond
	res, err := GoLoader{}.Run(context.Background(), LoadSpec{BaseURL: srv.URL, Path: "/", Conns: conns, Duration: d, Pause: pause})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if most := int64(conns * (d/pause + 1)); res.Requests == 0 || res.Requests > most || res.Errors != 0 {
		t.Errorf("Run = %+v; want 1 to %d requests, no errors", res, most)
	}
}

func TestMissingPackagesError(t *testing.T) {
	_, err := locatePrograms([]program{{"sh", "dash"}, {"no-such-program-x1", "nginx"}, {"no-such-program-x2", "wrk"}})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y nginx wrk\n") {
		t.Errorf("locatePrograms = %v; want the apt-get line for nginx and wrk", err)
	}
}
