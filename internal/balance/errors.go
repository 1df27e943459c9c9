package balance

import (
	"errors"
	"fmt"
)

var (
	// ErrNoTarget means no target of the pool can take a request: none was
	// added, none is healthy yet, or all are draining. The edge answers 503.
	ErrNoTarget = errors.New("no eligible target")

	// ErrUpstreamTimeout means a target accepted the request but did not
	// answer in time (Options.UpstreamTimeout, or the transport's own
	// timeouts). The edge answers 504.
	ErrUpstreamTimeout = errors.New("upstream timeout")

	// ErrLocalResources means this host ran out of what it needs to reach a
	// target: file descriptors (EMFILE, ENFILE), socket buffers or memory
	// (ENOBUFS, ENOMEM), local ports (EADDRNOTAVAIL). It is not the
	// target's failure: the target is neither marked unhealthy nor ejected
	// for it, and the request is not retried on another target, which
	// would meet the same shortage. The edge answers 503.
	ErrLocalResources = errors.New("local resources exhausted")

	// ErrUnknownTarget is returned for an ID the pool does not hold.
	ErrUnknownTarget = errors.New("unknown target")

	// ErrTargetExists is returned by Add for an ID the pool already holds.
	ErrTargetExists = errors.New("target already exists")

	// ErrNotRemote is returned by SetHealth for a target whose health the
	// pool checks itself.
	ErrNotRemote = errors.New("target is not remote")
)

// UpstreamError is the failure of the last attempt of a request. It wraps
// the transport's error; errors.Is(err, ErrUpstreamTimeout) reports whether
// the target timed out.
type UpstreamError struct {
	Target   string // ID of the target of the last attempt
	Addr     string // its address
	Attempts int    // targets tried by the request, the last one included
	Timeout  bool   // the target did not answer in time
	Err      error  // the transport's error
}

// Error implements error.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream %s at %s (attempt %d): %v", e.Target, e.Addr, e.Attempts, e.Err)
}

// Unwrap returns the transport's error.
func (e *UpstreamError) Unwrap() error { return e.Err }

// Is reports whether target is ErrUpstreamTimeout and the attempt timed out.
func (e *UpstreamError) Is(target error) bool {
	return e.Timeout && target == ErrUpstreamTimeout
}
