package supervise

import (
	"syscall"
	"time"
)

// EventKind says what happened to an instance.
type EventKind int

// The kinds of events. For every process, EventStarted is followed by
// exactly one EventExited or EventOOMKilled.
const (
	// EventStarted: a process of the instance was started; PID is set.
	EventStarted EventKind = iota + 1
	// EventExited: the process exited (ExitCode or Signal set), or a
	// process could not be started (PID 0, Err set).
	EventExited
	// EventOOMKilled: the process was killed by the kernel's out-of-memory
	// killer; sent instead of EventExited.
	EventOOMKilled
	// EventCrashLoop: the instance has just become crash looping.
	EventCrashLoop
	// EventStopped: the instance stopped for good; the last event.
	EventStopped
)

func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventExited:
		return "exited"
	case EventOOMKilled:
		return "oom-killed"
	case EventCrashLoop:
		return "crashloop"
	case EventStopped:
		return "stopped"
	}
	return "unknown"
}

// Event tells Options.OnEvent what happened to an instance.
type Event struct {
	Time     time.Time
	Instance string // Spec.Name
	App      string
	Kind     EventKind
	PID      int
	// ExitCode is the exit code for EventExited; -1 if the process was
	// killed by a signal or never started.
	ExitCode int
	// Signal is the signal that killed the process, for EventExited and
	// EventOOMKilled.
	Signal syscall.Signal
	// Requested is set on exits asked for by Stop or Restart; the load
	// balancer should already have drained the instance.
	Requested bool
	// Err is why a process could not be started (EventExited with PID 0).
	Err error
}
