package supervise

import (
	"syscall"
	"time"
)

// State is where an instance is in its life.
type State string

// The states of an instance.
const (
	StateStarting  State = "starting"  // its process is being started
	StateRunning   State = "running"   // its process runs
	StateBackoff   State = "backoff"   // its process exited; waiting to start it again
	StateCrashLoop State = "crashloop" // like StateBackoff, but it keeps crashing; retried at MaxBackoff
	StateStopping  State = "stopping"  // its process got the stop signal (Stop or Restart)
	StateStopped   State = "stopped"   // stopped for good; it will not run again
)

// Status is a snapshot of an instance, safe to keep and to marshal.
type Status struct {
	Name, App string
	// PID is the process id of the running process; 0 when none runs.
	PID   int
	State State
	// Restarts counts the starts after the first one, failed ones included.
	Restarts int
	// StartedAt is when the current (or last) process started; zero if
	// none ever did.
	StartedAt time.Time
	// LastExit describes how the last process ended; nil if none has.
	LastExit *Exit
	// OOMKills counts processes of the instance killed by the kernel's
	// out-of-memory killer (only known where the memory limit is enforced).
	OOMKills int
	// CrashLoop is set from the CrashLoopExits-th consecutive exit until
	// a process stays up for Spec.StableAfter.
	CrashLoop bool
	// MemoryLimitEnforced reports whether Spec.MemoryLimit is enforced by a
	// cgroup; false when there is no limit or no usable cgroup.
	MemoryLimitEnforced bool
	// LogTail holds the instance's last output lines (stdout and stderr
	// interleaved), oldest first.
	LogTail []string
}

// Exit describes how a process ended, or why it could not start.
type Exit struct {
	Time time.Time
	// Code is the exit code; -1 when the process was killed by a signal or
	// never started.
	Code int
	// Signal is the signal that killed the process; 0 if none did.
	Signal syscall.Signal
	// OOMKilled is set when the kernel's OOM killer killed the process.
	OOMKilled bool
	// Requested is set when the exit was asked for by Stop or Restart.
	Requested bool
	// Err says what happened in words: "exit status 3", "signal: killed",
	// or why the process could not be started.
	Err string
	// Uptime is how long the process ran; 0 if it never started.
	Uptime time.Duration
}
