package main

import "time"

// Sample is one measured run of one scenario against one peer.
type Sample struct {
	Round     int           `json:"round"`
	RPS       float64       `json:"rps"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	CPUPerReq time.Duration `json:"cpu_per_req_ns"` // the peer's CPU time / completed requests
	IdleRSS   int64         `json:"idle_rss_bytes"` // the peer's RSS after it started, before any load
	PeakRSS   int64         `json:"peak_rss_bytes"` // the highest RSS sampled during the run
	// MemPerConn is (RSS with IdleConns idle keep-alive connections open
	// − RSS before) / IdleConns, in bytes; 0 when not measured.
	MemPerConn float64 `json:"mem_per_conn_bytes,omitempty"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	// OriginShare is the origin's requests during the run / requests
	// completed: ~0 for cache hits, ~0.1 for the mix, 1 for pass-through.
	OriginShare float64 `json:"origin_share"`
}
