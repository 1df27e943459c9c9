package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// GoLoader is a small closed-loop load generator built into the harness,
// for when wrk is absent (CI's smoke run). Each connection is a goroutine
// sending GETs back to back on one keep-alive connection. It is much
// slower than wrk: its figures show that the benchmark works, not how fast
// a peer is.
type GoLoader struct{}

var _ Loader = GoLoader{}

// maxLatencies bounds the latencies one worker keeps for percentiles.
const maxLatencies = 1 << 16

func (GoLoader) Name() string { return "go" }

func (GoLoader) Run(ctx context.Context, spec LoadSpec) (LoadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: spec.Conns, MaxConnsPerHost: spec.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, spec.Duration)
	defer cancel()

	results := make([]goWorker, spec.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Go(func() { results[i].run(ctx, client, spec, i) })
	}
	wg.Wait()
	r := LoadResult{Elapsed: time.Since(start)}
	var lat []time.Duration
	for _, w := range results {
		r.Requests += w.ok
		r.Errors += w.errors
		lat = append(lat, w.latencies...)
	}
	if len(lat) == 0 {
		return r, fmt.Errorf("go loader: no request completed (%d errors)", r.Errors)
	}
	slices.Sort(lat)
	r.P50, r.P99 = lat[len(lat)*50/100], lat[len(lat)*99/100]
	return r, nil
}

// goWorker is one connection's loop and what it counted.
type goWorker struct {
	ok, errors int64
	latencies  []time.Duration
}

func (w *goWorker) run(ctx context.Context, client *http.Client, spec LoadSpec, id int) {
	for n := 1; ctx.Err() == nil; n++ {
		path := spec.Path
		if spec.Mix {
			path = mixPath(spec.Nonce, id, n)
		}
		t0 := time.Now()
		if err := get(ctx, client, spec.BaseURL+path); err != nil {
			if ctx.Err() == nil {
				w.errors++
			}
			continue
		}
		w.ok++
		if len(w.latencies) < maxLatencies {
			w.latencies = append(w.latencies, time.Since(t0))
		}
		if spec.Pause > 0 {
			select {
			case <-time.After(spec.Pause):
			case <-ctx.Done():
			}
		}
	}
}

// get fetches url, reads the body and wants a 2xx or 3xx status.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("get %s: read body: %w", url, err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return nil
}
