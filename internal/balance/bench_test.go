package balance

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// staticTransport answers at once, so that a benchmark measures the pool.
// Its Response is the one allocation per request that is not the pool's.
type staticTransport struct{}

func (staticTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: nopBody{}, Request: r}, nil
}

type nopBody struct{}

func (nopBody) Read([]byte) (int, error) { return 0, io.EOF }
func (nopBody) Close() error             { return nil }

func benchPool(b *testing.B, targets int, retry Retry) *Pool {
	p, err := NewPool(Options{App: "web", Zone: "a", Transport: staticTransport{}, Retry: retry})
	if err != nil {
		b.Fatal(err)
	}
	for i := range targets {
		zone := "a"
		if i%2 == 1 {
			zone = "b"
		}
		if err := p.Add(Target{ID: "web-" + strconv.Itoa(i), Addr: "127.0.0.1:" + strconv.Itoa(10000+i), Zone: zone}); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// noHedging disables hedged tries.
var noHedging = Retry{Hedge: Hedge{Disabled: true}}

// BenchmarkRoundTrip measures the pool's overhead per request: selection,
// in-flight accounting, passive health bookkeeping and the response body
// wrapper. One of the reported allocations is staticTransport's Response.
// A hedged request through a Transport (not the pool's own connections)
// also gets a context of its own, which the Transport can be stopped by.
func BenchmarkRoundTrip(b *testing.B) {
	req, _ := http.NewRequest(http.MethodGet, "http:///", nil)
	for name, retry := range map[string]Retry{"serial": {}, "serial-no-hedging": noHedging} {
		b.Run(name, func(b *testing.B) {
			p := benchPool(b, 8, retry)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := p.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		p := benchPool(b, 8, Retry{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := p.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	})
}

// benchTargets returns n targets, alternately in the local zone and in
// another one, idle and eligible.
func benchTargets(n int) []*target {
	ts := make([]*target, n)
	for i := range ts {
		ts[i] = testTarget("web-"+strconv.Itoa(i), i%2 == 0, 0)
	}
	return ts
}

// BenchmarkPick measures selection alone with the pool's default policy:
// the common case (local targets eligible, not saturated), a saturated
// local zone spilling to the others, and the fallback to other zones when
// no local target is eligible. It must not allocate.
func BenchmarkPick(b *testing.B) {
	const spill = 64
	run := func(name string, ts []*target) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			r := uint64(0x9e3779b97f4a7c15)
			for b.Loop() {
				r = r*6364136223846793005 + 1442695040888963407 // an LCG: cheaper than rand
				if pick(ts, 0, nil, r, spill) == nil {
					b.Fatal("pick = nil")
				}
			}
		})
	}
	for _, n := range []int{4, 16, 64} {
		run("local/"+strconv.Itoa(n), benchTargets(n))
	}
	saturated, down := benchTargets(16), benchTargets(16)
	for i := range 16 {
		if saturated[i].local {
			saturated[i].inflight.Store(spill)
			down[i].healthy.Store(false)
		}
	}
	run("spill/16", saturated)
	run("fallback/16", down)
}

// rawBackend is a loopback HTTP/1.1 server that answers every request with
// the same small response, reading and writing with no allocation of its
// own, so that a benchmark's allocations are the pool's and its
// connection's. It stops when the benchmark ends.
func rawBackend(b testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { l.Close(); wg.Wait() })
	const resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.Cleanup(func() { c.Close() })
			wg.Go(func() {
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 { // the blank line that ends a request's header
						if _, err := io.WriteString(c, resp); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// proxiedGET is one bodyless request through p, its body read and closed.
func proxiedGET(tb testing.TB, p *Pool, req *http.Request, buf []byte) {
	resp, err := p.RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
	}
	resp.Body.Close()
}

// directPool returns a pool of one target at a rawBackend, over the pool's
// own connections.
func directPool(tb testing.TB, retry Retry) *Pool {
	p, err := NewPool(Options{App: "web", Health: HealthCheck{}, Retry: retry})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Add(Target{ID: "web-1", Addr: rawBackend(tb)}); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkProxiedGET measures a bodyless request through the pool's own
// kept-alive connections to a loopback target, as the edge sends nearly
// every request: selection, the request written and the response header
// read in the caller's goroutine, the body read and closed. Hedging must
// cost such a request, answered within the per-try timeout, no allocation
// (TestHedgingAddsNoAllocation).
func BenchmarkProxiedGET(b *testing.B) {
	for _, bc := range []struct {
		name  string
		retry Retry
	}{{"hedging", Retry{}}, {"no-hedging", noHedging}} {
		b.Run(bc.name, func(b *testing.B) {
			p := directPool(b, bc.retry)
			req, _ := http.NewRequest(http.MethodGet, "http:///page", nil)
			buf := make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				proxiedGET(b, p, req, buf)
			}
		})
	}
}
