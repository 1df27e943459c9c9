package balance

import (
	"io"
	"strings"
	"testing"
)

type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

func TestReplayBodyClosesOriginalOnceAfterFinalAttempt(t *testing.T) {
	orig := &closeCounter{Reader: strings.NewReader("data")}
	b := newReplayBody(orig)
	first := b.attempt(0)
	first.Close() // the transport of a failed attempt closes its body
	if orig.closes != 0 || b.read.Load() {
		t.Fatalf("after a failed attempt: %d closes, read %v; want 0, false", orig.closes, b.read.Load())
	}
	second := b.attempt(1)
	b.finish(second) // a response came back; the transport still sends the body
	if orig.closes != 0 {
		t.Fatalf("finish closed the body while the transport may still read it")
	}
	if got, _ := io.ReadAll(second); string(got) != "data" || !b.read.Load() {
		t.Errorf("second attempt read %q, read %v; want data, true", got, b.read.Load())
	}
	second.Close()
	first.Close()
	if orig.closes != 1 {
		t.Errorf("original closed %d times; want 1", orig.closes)
	}
}

func TestReplayBodyFinishAfterClose(t *testing.T) {
	orig := &closeCounter{Reader: strings.NewReader("")}
	b := newReplayBody(orig)
	a := b.attempt(0)
	a.Close()
	b.finish(a)
	if orig.closes != 1 {
		t.Errorf("original closed %d times; want 1", orig.closes)
	}
	var nilBody *replayBody
	nilBody.finish(nilBody.attempt(0)) // requests without a body
	nilBody.close()
}

type rwc struct{ strings.Builder }

func (*rwc) Read([]byte) (int, error) { return 0, io.EOF }
func (*rwc) Close() error             { return nil }

func TestResponseBodyReleasesOnce(t *testing.T) {
	tg := testTarget("a", true, 1)
	tg.draining.Store(true)
	tg.drained = make(chan struct{})
	drained := tg.drained
	conn := &rwc{}
	body := wrapResponseBody(conn, tg, nil)
	w, ok := body.(io.Writer)
	if !ok {
		t.Fatalf("wrapped upgrade body %T is not an io.Writer", body)
	}
	io.WriteString(w, "ping")
	if conn.String() != "ping" {
		t.Errorf("write through the wrapper = %q; want ping", conn.String())
	}
	body.Close()
	body.Close()
	if n := tg.inflight.Load(); n != 0 {
		t.Errorf("in flight after two Closes = %d; want 0", n)
	}
	select {
	case <-drained:
	default:
		t.Errorf("the last release did not signal the drain")
	}
	if _, ok := wrapResponseBody(io.NopCloser(strings.NewReader("")), tg, nil).(io.Writer); ok {
		t.Errorf("a plain body became writable")
	}
}
