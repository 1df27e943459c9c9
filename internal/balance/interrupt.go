package balance

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errHedgeLost ends a try that was interrupted because another try of the
// same request answered first.
var errHedgeLost = errors.New("another try answered first")

// States of an interrupt.
const (
	intrOpen    uint8 = iota // the try runs and may be interrupted
	intrSettled              // its response header arrived: it can no longer be
	intrFired                // it was interrupted
)

// interrupt lets one goroutine stop a try that another goroutine is making,
// wherever the try is: dialling (its context is cancelled), writing the
// request or waiting for the response header (its connection's deadline is
// moved to the past). A try settles when its response header arrives;
// from then on it can no longer be interrupted, so the body of a response
// that was taken is never cut off. A nil *interrupt never fires.
//
// The zero value is open, watching nothing.
type interrupt struct {
	mu     sync.Mutex // guards the fields below
	state  uint8
	nc     net.Conn           // the connection the try uses; nil if none yet
	cancel context.CancelFunc // cancels the try's dial or its request; nil if none
}

// fire interrupts the try, if it is still open, and reports whether it was.
func (i *interrupt) fire() bool {
	i.mu.Lock()
	if i.state != intrOpen {
		i.mu.Unlock()
		return false
	}
	i.state = intrFired
	nc, cancel := i.nc, i.cancel
	i.nc, i.cancel = nil, nil
	i.mu.Unlock()
	if nc != nil {
		nc.SetDeadline(aLongTimeAgo) // the try closes nc when it sees the error
	}
	if cancel != nil {
		cancel()
	}
	return true
}

// fired reports whether the try was interrupted.
func (i *interrupt) fired() bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state == intrFired
}

// watchConn makes fire interrupt I/O on nc. It reports false if the try
// was interrupted already.
func (i *interrupt) watchConn(nc net.Conn) bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.nc = nc
	return i.state != intrFired
}

// watchCancel makes fire call cancel, until unwatchCancel. It reports false
// if the try was interrupted already.
func (i *interrupt) watchCancel(cancel context.CancelFunc) bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cancel = cancel
	return i.state != intrFired
}

// unwatchCancel forgets the function watchCancel was given.
func (i *interrupt) unwatchCancel() {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.cancel = nil
	i.mu.Unlock()
}

// settle records that the try's response header arrived, and reports false
// if the try was interrupted first: then its response must be dropped.
func (i *interrupt) settle() bool {
	if i == nil {
		return true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.state == intrFired {
		return false
	}
	i.state, i.nc, i.cancel = intrSettled, nil, nil
	return true
}
