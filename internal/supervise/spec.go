package supervise

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Defaults for the zero values of Spec's fields.
const (
	DefaultStopSignal  = syscall.SIGTERM
	DefaultStopGrace   = 10 * time.Second
	DefaultMinBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultStableAfter = 10 * time.Second
)

// Spec describes one instance: the process to run and how to treat it.
type Spec struct {
	// Name identifies the instance in logs, status and events; it must be
	// unique among the Supervisor's instances that have not stopped.
	Name string
	// App is the app the instance belongs to; for logs, status and events.
	App string
	// Command is the program and its arguments. A program without a slash
	// is looked up in the PATH of Env (or, if Env has none, in
	// /usr/local/bin:/usr/bin:/bin); one with a slash is relative to Dir.
	Command []string
	// Dir is the working directory; "" means tandem's.
	Dir string
	// Env is the complete environment of the process; supervise adds
	// nothing to it. nil means an empty environment.
	Env []string

	// MemoryLimit is the limit for the instance's memory and swap in bytes,
	// enforced through its cgroup; 0 means no limit.
	MemoryLimit int64

	// StopSignal is sent to the process group to stop the instance;
	// 0 means SIGTERM.
	StopSignal syscall.Signal
	// StopGrace is how long a stopping instance may take to exit before
	// its process group and cgroup get SIGKILL; 0 means 10s.
	StopGrace time.Duration

	// MinBackoff and MaxBackoff bound the delay before an exited instance
	// is started again (see CrashLoopExits); 0 means 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a process must stay up for its instance to
	// count as healthy again: the back-off and the crash loop count reset.
	// 0 means 10s.
	StableAfter time.Duration

	// Once runs the command a single time (a job, a release phase): the
	// instance stops for good when its process exits, however it exits.
	// See Supervisor.RunOnce.
	Once bool
	// Output, if not nil, receives each line of the process's output
	// (stream is "stdout" or "stderr") besides the log. It is called from
	// the goroutines reading the pipes and must not block for long.
	// It is not part of a Handover: an adopted instance has none.
	Output func(stream, line string) `json:"-"`
}

// withDefaults returns s with zero values replaced by the defaults, or an
// error naming the field that is invalid.
func (s Spec) withDefaults() (Spec, error) {
	switch {
	case s.Name == "":
		return s, errors.New("name: must not be empty")
	case len(s.Command) == 0 || s.Command[0] == "":
		return s, errors.New("command: must not be empty")
	case s.MemoryLimit < 0:
		return s, fmt.Errorf("memory limit: %d must be >= 0", s.MemoryLimit)
	case s.StopGrace < 0 || s.MinBackoff < 0 || s.MaxBackoff < 0 || s.StableAfter < 0:
		return s, errors.New("durations: must be >= 0")
	}
	if s.Env == nil {
		s.Env = []string{} // os.StartProcess would use tandem's environment for nil
	}
	if s.StopSignal == 0 {
		s.StopSignal = DefaultStopSignal
	}
	if s.StopGrace == 0 {
		s.StopGrace = DefaultStopGrace
	}
	if s.MinBackoff == 0 {
		s.MinBackoff = DefaultMinBackoff
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = max(DefaultMaxBackoff, s.MinBackoff)
	}
	if s.StableAfter == 0 {
		s.StableAfter = DefaultStableAfter
	}
	if s.MinBackoff > s.MaxBackoff {
		return s, fmt.Errorf("min backoff: %v must be <= max backoff %v", s.MinBackoff, s.MaxBackoff)
	}
	return s, nil
}
