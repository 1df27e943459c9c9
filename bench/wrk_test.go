package main

import (
	"testing"
	"time"
)

const wrkSample = `Running 10s test @ http://127.0.0.1:18081/pass/1k
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.05ms  30.11ms   90.12%
    Req/Sec    15.20k     1.10k   17.00k    70.00%
  Latency Distribution
     50%  530.00us
     75%    1.20ms
     90%    3.00ms
     99%    2.10s 
  302500 requests in 10.00s, 350.00MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 500
Requests/sec:  30250.00
Transfer/sec:     35.00MB
`

func TestParseWrk(t *testing.T) {
	got, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatalf("parseWrk: %v", err)
	}
	want := LoadResult{Requests: 302000, Errors: 506, Elapsed: 10 * time.Second, P50: 530 * time.Microsecond, P99: 2100 * time.Millisecond}
	if got != want {
		t.Errorf("parseWrk = %+v; want %+v", got, want)
	}
	if rps := got.RPS(); rps != 30200 {
		t.Errorf("RPS() = %v; want 30200", rps)
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	for _, in := range []string{"", "unable to connect to 127.0.0.1:1 Connection refused\n", "  5 requests in 1.00s, 1KB read\n"} {
		if _, err := parseWrk(in); err == nil {
			t.Errorf("parseWrk(%q) = nil error; want one", in)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add("  1 requests in 1m, x\n 50% 1us\n 99% 1s\n")
	f.Fuzz(func(t *testing.T, s string) {
		parseWrk(s) //nolint:errcheck // must not panic
	})
}
