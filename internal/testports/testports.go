// Package testports hands out TCP ports to the tests that start servers
// on fixed ports (etcd, PostgreSQL, tandem nodes), from below Linux's
// ephemeral range (32768-60999 by default): a port handed out stays free
// until its server binds it, since neither a listener on port 0 nor a
// client's connection takes one from there. Each port is handed out once
// per process, and found free by binding it first.
//
// Every package whose tests use it has a range of its own, so that test
// binaries running at the same time never hand out the same port: once,
// a PostgreSQL server of one binary answered another's connections on a
// port the other had found free.
package testports

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// The packages' ranges, [First, End).
var (
	Tandem  = newRange(20000, 28000) // cmd/tandem
	PGHA    = newRange(28000, 31000) // internal/pgha
	Cluster = newRange(31000, 32768) // internal/cluster
)

// Range hands out the ports of one package's range.
type Range struct {
	First, End int

	mu        sync.Mutex
	next      int // the next port to try; 0 before the first call
	handedOut map[int]bool
}

func newRange(first, end int) *Range {
	return &Range{First: first, End: end, handedOut: map[int]bool{}}
}

// Free returns a port nobody listens on at ip (an IPv4 or IPv6 literal),
// and that no other call returned. It fails t when the range is used up.
func (r *Range) Free(t testing.TB, ip string) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	span := r.End - r.First
	if r.next == 0 {
		// Where to start depends on the process: two runs of the same
		// package at once rarely try the same ports.
		r.next = r.First + rand.IntN(span)
	}
	for range span {
		port := r.next
		r.next = r.First + (port+1-r.First)%span
		if r.handedOut[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			continue // in use
		}
		ln.Close()
		r.handedOut[port] = true
		return port
	}
	t.Fatalf("no free port on %s from %d to %d", ip, r.First, r.End-1)
	return 0
}
