package main

import (
	"slices"
	"sync"
	"time"
)

// Procs tracks every child the harness started and has not stopped yet, so
// that the end of the run — normal, on error or on Ctrl-C — stops them all.
type Procs struct {
	mu   sync.Mutex // guards live
	live []*Proc
}

// Start starts spec and tracks it.
func (s *Procs) Start(spec ProcSpec) (*Proc, error) {
	p, err := startProc(spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.live = append(s.live, p)
	s.mu.Unlock()
	return p, nil
}

// Stop stops p (see Proc.Stop) and forgets it.
func (s *Procs) Stop(p *Proc, grace time.Duration) {
	p.Stop(grace)
	s.mu.Lock()
	s.live = slices.DeleteFunc(s.live, func(q *Proc) bool { return q == p })
	s.mu.Unlock()
}

// StopAll stops every tracked child, the newest first.
func (s *Procs) StopAll(grace time.Duration) {
	s.mu.Lock()
	live := s.live
	s.live = nil
	s.mu.Unlock()
	for i := len(live) - 1; i >= 0; i-- {
		live[i].Stop(grace)
	}
}
