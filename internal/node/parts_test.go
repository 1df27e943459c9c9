package node

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestParts: stopEarly stops only the parts run with runEarly; a part
// that fails stops them all, and wait reports it.
func TestParts(t *testing.T) {
	p := newParts(t.Context())
	stopped := make(chan string, 3)
	block := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			stopped <- name
			return nil
		}
	}
	p.run("late", block("late"))
	p.runEarly("early", block("early"))
	p.stopEarly()
	if got := <-stopped; got != "early" {
		t.Fatalf("stopEarly stopped %s first; want early", got)
	}
	select {
	case got := <-stopped:
		t.Fatalf("stopEarly stopped %s too", got)
	case <-time.After(50 * time.Millisecond):
	}
	boom := errors.New("boom")
	p.run("failing", func(context.Context) error { return boom })
	if got := <-stopped; got != "late" {
		t.Fatalf("a failed part stopped %s; want late", got)
	}
	if err := p.wait(); !errors.Is(err, boom) {
		t.Errorf("wait() = %v; want the failure", err)
	}
}
