package main

import (
	"context"
	"time"
)

// LoadSpec is one load-generator run.
type LoadSpec struct {
	BaseURL  string // http://127.0.0.1:port
	Path     string // fixed path; ignored when Mix
	Mix      bool
	Nonce    string // makes the mix's miss keys unique to this run
	Conns    int
	Threads  int
	Pause    time.Duration // between a response and the connection's next request; 0 for none
	Duration time.Duration
}

// LoadResult is what a load generator measured.
type LoadResult struct {
	Requests int64         // completed with a 2xx/3xx response
	Errors   int64         // socket errors, timeouts and non-2xx/3xx responses
	Elapsed  time.Duration // the measured time
	P50, P99 time.Duration // response latency percentiles
}

// RPS is completed requests per second.
func (r LoadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Loader generates load in a process apart from the peer: wrk, or the
// small built-in generator when wrk is absent.
type Loader interface {
	Name() string
	Run(ctx context.Context, spec LoadSpec) (LoadResult, error)
}
