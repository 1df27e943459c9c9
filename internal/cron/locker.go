package cron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLocked is returned by Locker.TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another holder")

// Locker grants exclusive locks by name. The Runner takes one per firing
// of a job (held until it expires, so that no other runner runs that
// firing) and one per job while a run is in progress (for the overlap
// policy).
type Locker interface {
	// TryLock takes the lock named key if nobody holds it, for at most ttl:
	// a holder that dies without releasing it loses it then. It returns
	// ErrLocked (wrapped) when somebody holds it, and otherwise a function
	// that releases it early.
	TryLock(ctx context.Context, key string, ttl time.Duration) (release func(context.Context) error, err error)
}

// RunningKey prefixes the key of the lock a job's run holds while it is in
// progress (the job's name follows); it is released when the run ends. A
// Locker may hold these for less than their ttl (only while its node
// lives), unlike the firings', which must last their whole window.
const RunningKey = "cron/running/"

var _ Locker = (*LocalLocker)(nil)

// LocalLocker is a Locker for runners in one process: a single node.
// The zero value is ready to use.
type LocalLocker struct {
	mu   sync.Mutex           // guards held
	held map[string]localLock // key -> the current holder
	seq  uint64               // numbers holders, so a stale release frees nothing
}

type localLock struct {
	expires time.Time
	id      uint64
}

// TryLock implements Locker.
func (l *LocalLocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(map[string]localLock)
	}
	for k, h := range l.held {
		if !now.Before(h.expires) {
			delete(l.held, k)
		}
	}
	if _, ok := l.held[key]; ok {
		return nil, fmt.Errorf("lock %s: %w", key, ErrLocked)
	}
	l.seq++
	id := l.seq
	l.held[key] = localLock{expires: now.Add(ttl), id: id}
	return func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if h, ok := l.held[key]; ok && h.id == id {
			delete(l.held, key)
		}
		return nil
	}, nil
}
