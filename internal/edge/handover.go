package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// The names of a Server's listeners, in Options.Inherited and in what
// Handover returns.
const (
	ListenerHTTP = "http"
	ListenerTLS  = "https"
)

// handoverGrace is how long a handover drain leaves idle keep-alive
// connections open before it closes them, so that a client sending its
// next request on one gets it served (with Connection: close) rather than
// a closed connection. Each ends earlier when it has no connection left.
const handoverGrace = 250 * time.Millisecond

// ErrNotRunning: Handover was called on a Server whose Run is not serving.
var ErrNotRunning = errors.New("edge not running")

// handoverRequest asks Run to drain for a handover.
type handoverRequest struct {
	drain time.Duration
	done  chan struct{} // closed by Run once drained
}

// ListenerFiles returns a duplicate of each listening socket, by name
// (ListenerHTTP, ListenerTLS), close-on-exec still set, for a handover to
// the program this process is about to exec (an upgrade of tandem), the
// way nginx hands its listeners to a new binary: with the duplicates
// open, the sockets outlive Handover's drain, and new connections wait in
// the kernel's backlog until the next program serves them instead of
// being refused. It changes nothing else.
func (s *Server) ListenerFiles() (map[string]*os.File, error) {
	s.mu.Lock()
	listeners := s.listeners
	s.mu.Unlock()
	files := make(map[string]*os.File, len(listeners))
	for _, l := range listeners {
		f, err := listenerFile(l.raw)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("edge listener %s: %w", l.name, err)
		}
		files[l.name] = f
	}
	return files, nil
}

// Handover makes Run stop accepting and drain for a handover, and returns
// once the drain is done and Run is returning (nil). Take ListenerFiles
// first: Handover closes the listeners.
//
// The drain: every response from now on carries Connection: close, so
// that a kept-alive connection closes after its current request; idle
// connections get handoverGrace to send one more request; then the
// servers shut down as at a stop, waiting at most drain for the requests
// in flight (hijacked connections are closed last).
func (s *Server) Handover(ctx context.Context, drain time.Duration) error {
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if !running {
		return fmt.Errorf("hand edge over: %w", ErrNotRunning)
	}
	req := handoverRequest{drain: drain, done: make(chan struct{})}
	select {
	case s.handover <- req:
	case <-s.ran:
		return fmt.Errorf("hand edge over: %w", ErrNotRunning)
	case <-ctx.Done():
		return fmt.Errorf("hand edge over: %w", ctx.Err())
	}
	<-req.done
	return nil
}

// listenerFile returns a duplicate of ln's socket.
func listenerFile(ln net.Listener) (*os.File, error) {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("listener %s (%T) has no descriptor", ln.Addr(), ln)
	}
	return fl.File()
}

// drainForHandover is Run's part of Handover.
func (s *Server) drainForHandover(listeners []listener, drain time.Duration) {
	s.log.Info("edge handing over", "drain", drain.String(), "open", s.conns.stats().Open)
	deadline := time.Now().Add(drain)
	s.draining.Store(true)
	for _, l := range listeners {
		l.ln.Close() // stops accepting; Handover's duplicate keeps the socket
	}
	grace := time.NewTimer(min(handoverGrace, drain))
	defer grace.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.conns.stats().Open > 0 {
		select {
		case <-grace.C:
			break wait
		case <-tick.C:
		}
	}
	s.drainUntil(listeners, deadline)
	s.log.Info("edge handed over")
}

// closingWhenDraining is the handler the servers run: the edge's, plus
// Connection: close on every response while draining for a handover
// (HTTP/2 answers it with a GOAWAY).
func (s *Server) closingWhenDraining() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		s.handler.ServeHTTP(w, r)
	})
}

// bind returns the inherited listener called name, or binds addr.
func (s *Server) bind(name, addr string) (net.Listener, error) {
	if ln := s.opts.Inherited[name]; ln != nil {
		s.log.Info("edge listener inherited", "name", name, "addr", ln.Addr().String())
		return ln, nil
	}
	return net.Listen("tcp", addr)
}
