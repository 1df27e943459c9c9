//go:build !race

// The race detector changes allocation counts: this test runs without it.

package balance

import (
	"net/http"
	"testing"
)

// TestHedgingAddsNoAllocation: a bodyless request over the pool's own
// connections, answered within the per-try timeout, allocates no more with
// hedging on than with it off.
func TestHedgingAddsNoAllocation(t *testing.T) {
	allocs := func(retry Retry) float64 {
		p := directPool(t, retry)
		req, _ := http.NewRequest(http.MethodGet, "http:///page", nil)
		buf := make([]byte, 64)
		proxiedGET(t, p, req, buf) // dials
		return testing.AllocsPerRun(500, func() { proxiedGET(t, p, req, buf) })
	}
	off, on := allocs(noHedging), allocs(Retry{})
	if on > off {
		t.Errorf("a GET allocates %v times with hedging, %v without; want no more", on, off)
	}
	t.Logf("allocations per GET: %v with hedging, %v without", on, off)
}
