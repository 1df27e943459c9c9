package httpcache

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestRunStopsBackgroundWork(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=1, stale-while-revalidate=60"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.c.Run(ctx) }()
	e.get("http://example.org/")
	arrived := make(chan struct{})
	exited := make(chan struct{})
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done() // a revalidation that only ends when cancelled
		close(exited)
	})
	e.clock.Advance(5 * time.Second)
	e.doAsync("GET", "http://example.org/") // stale: starts a background revalidation
	<-arrived
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil", err)
	}
	select {
	case <-exited:
	default:
		t.Errorf("Run returned before the background revalidation exited")
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"utm_*", "utm_source", true},
		{"utm_*", "UTM_Medium", true},
		{"utm_*", "xutm_source", false},
		{"*session*", "PHPSESSID", false},
		{"*sess*", "PHPSESSID", true},
		{"*session*", "my_session_id", true},
		{"__ac", "__ac", true},
		{"__ac", "__ac_name", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	}
	for _, tt := range tests {
		if got := newGlobs([]string{tt.pattern}).match(tt.name); got != tt.want {
			t.Errorf("glob(%q).match(%q) = %v; want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestSpoolBackPressureAndAbandon(t *testing.T) {
	s := newSpool()
	rd, _ := s.newReader()
	ctx := context.Background()
	wrote := make(chan error)
	go func() {
		buf := make([]byte, 64<<10)
		for i := 0; i < 4*streamWindow/len(buf); i++ {
			if err := s.write(ctx, buf); err != nil {
				wrote <- err
				return
			}
		}
		s.finish(nil)
		wrote <- nil
	}()
	// The writer cannot run more than streamWindow ahead of the reader.
	n := 0
	for {
		b, err := rd.next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		ahead := s.size - rd.off
		s.mu.Unlock()
		if ahead > streamWindow+64<<10 {
			t.Fatalf("writer ran %d bytes ahead", ahead)
		}
		n += len(b)
	}
	if err := <-wrote; err != nil || n != 4*streamWindow {
		t.Fatalf("read %d bytes, writer %v; want %d, nil", n, err, 4*streamWindow)
	}
	rd.close()

	// With no reader left and nothing retained, the writer is told to stop.
	s2 := newSpool()
	r2, _ := s2.newReader()
	r2.close()
	if err := s2.write(ctx, []byte("x")); err != errAbandoned {
		t.Errorf("write with no readers = %v; want errAbandoned", err)
	}
}

func TestSpoolFileFailureKeepsBytes(t *testing.T) {
	path := t.TempDir() + "/f"
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path) // read-only: every write fails, as on a broken disk
	if err != nil {
		t.Fatal(err)
	}
	s := newSpool()
	rd, _ := s.newReader()
	s.setRetain(true)
	if err := s.useFile(ro); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var de *diskError
	if err := s.write(ctx, []byte("hello ")); !errors.As(err, &de) {
		t.Fatalf("write to a failing file = %v; want a *diskError", err)
	}
	if err := s.write(ctx, []byte("world")); err != nil {
		t.Fatalf("write after the failure = %v; want nil (memory)", err)
	}
	s.finish(nil)
	var got []byte
	for {
		b, err := rd.next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	rd.close()
	if string(got) != "hello world" {
		t.Errorf("read %q; want %q", got, "hello world")
	}
}
