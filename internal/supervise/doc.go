// Package supervise runs an app's instances as supervised OS processes: it
// starts them, captures their output, restarts them with capped exponential
// back-off when they exit, enforces memory limits and stops them gracefully.
// It knows nothing about HTTP; an instance is any program.
//
// A [Supervisor] owns every process it starts, and no process outlives it:
//
//   - Each instance runs in its own process group (Setpgid), so the stop
//     signal and the final SIGKILL reach the whole group.
//   - Each child gets Pdeathsig=SIGKILL, so it dies when tandem dies, even
//     when tandem is SIGKILLed. Linux sends Pdeathsig when the thread that
//     forked the child exits, not the process (golang/go#27505), so all
//     children are forked from one goroutine locked to its OS thread that
//     lives exactly as long as [Supervisor.Run]; see spawner.
//   - Where a cgroup hierarchy is writable, each instance gets its own
//     cgroup. Grandchildren that left the process group are killed through
//     it, and cgroups left behind by a previous tandem that was SIGKILLed are
//     emptied and removed when Run starts.
//
// Memory limits use cgroup v2 (memory.max, OOM kills from memory.events)
// where /sys/fs/cgroup is a unified hierarchy with the memory controller,
// and otherwise the cgroup v1 memory controller (memory.limit_in_bytes, OOM
// kills from memory.oom_control). On a hybrid machine the v2 hierarchy
// (/sys/fs/cgroup/unified) is still used to track and kill processes, and
// v1 for the limit. Where neither works, instances run without a limit,
// [Status.MemoryLimitEnforced] is false and one log line per app says why.
//
// Restart timing is decided by restartPolicy, a pure type tested without
// sleeping; goroutines, timers and processes live in [Instance].
package supervise
