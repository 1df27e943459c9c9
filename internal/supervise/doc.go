// Package supervise runs an app's instances as supervised OS processes: it
// starts them, captures their output, restarts them with capped exponential
// back-off when they exit, enforces memory limits and stops them gracefully.
// It knows nothing about HTTP; an instance is any program.
//
// A [Supervisor] owns every process it starts, and no process outlives it:
//
//   - Each instance runs in its own process group (Setpgid), so the stop
//     signal and the final SIGKILL reach the whole group.
//   - Where a cgroup hierarchy is writable, each process of an instance is
//     born in a cgroup made for it: on cgroup v2 through clone3
//     CLONE_INTO_CGROUP; on cgroup v1 by forking from a thread that has
//     joined the cgroup (v1 moves single threads, and a child is born in
//     its forking thread's cgroups). So even a child that a wrapper script
//     forks first is inside, under the memory limit and found when the
//     instance is killed. Each start gets a new cgroup, removed once its
//     processes are gone: on some kernels a v2 cgroup killed through
//     cgroup.kill kills every process later cloned into it.
//   - With Options.KeeperPath, a keeper process (the tandem binary in a
//     hidden mode; see [KeeperMain]) is told each instance's cgroup and
//     process group over a pipe whose write end only tandem holds. When
//     tandem dies, however it dies, the pipe ends and the keeper kills them
//     all, then exits. Without a keeper, each child gets Pdeathsig=SIGKILL
//     instead, which reaches only the processes tandem forked itself.
//     Linux sends Pdeathsig when the thread that forked the child exits,
//     not the process (golang/go#27505), so all children are forked from
//     one goroutine locked to its OS thread that lives exactly as long as
//     [Supervisor.Run]; see spawner.
//   - cgroups left behind by a previous tandem that died are emptied and
//     removed when Run starts.
//
// [Supervisor.Handover] lets a new tandem binary take over running
// instances: the Supervisor lets go of its processes, keeper and cgroups
// without stopping them, the process execve's the new binary (same pid, so
// the instances are still its children), and a Supervisor created with
// Options.Adopt resumes them, restarts and stops in progress included.
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
