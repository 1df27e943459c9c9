package testports

import (
	"fmt"
	"net"
	"strconv"
	"testing"
)

// fakeTB records Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}

// TestFree: ports come from the range, each once, never one in use; when
// the range is used up the test fails saying so.
func TestFree(t *testing.T) {
	const first = 19990 // below every package's range
	r := newRange(first, first+3)
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+1))
	if err != nil {
		t.Skipf("port %d: %v", first+1, err)
	}
	defer busy.Close()
	seen := map[int]bool{}
	for range 2 {
		p := r.Free(t, "127.0.0.1")
		if p < r.First || p >= r.End || p == first+1 || seen[p] {
			t.Fatalf("Free = %d; want a free port in [%d, %d) not handed out before (%v)", p, r.First, r.End, seen)
		}
		seen[p] = true
	}
	f := &fakeTB{TB: t}
	if p := r.Free(f, "127.0.0.1"); p != 0 || f.fatal == "" {
		t.Errorf("Free with the range used up = %d, failure %q; want 0 and a failure", p, f.fatal)
	}
}
