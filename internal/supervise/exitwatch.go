package supervise

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// exitWatch tells when a child process has exited, without reaping it:
// while it is a zombie its pid, and so its process group id, cannot be
// reused, which makes killing the group after the exit safe.
//
// It waits on a pidfd through Go's poller, so stop can end the wait: a
// Supervisor that hands its processes over stops watching them without
// touching them. Where pidfds are missing (Linux before 5.3) it blocks in
// waitid; stop then leaves that goroutine until the process exits.
type exitWatch struct {
	pid      int
	pidfd    *os.File      // nil: blocking waitid
	exited   chan struct{} // closed when the process has exited
	done     chan struct{} // closed when the watching goroutine has returned
	blocking chan struct{} // closed when it waits in waitid, which stop cannot end
}

// watchExit starts watching child pid; the caller owns the goroutine and
// must call stop (after exited, stop only releases the pidfd).
func watchExit(pid int) *exitWatch {
	w := &exitWatch{pid: pid, exited: make(chan struct{}), done: make(chan struct{}), blocking: make(chan struct{})}
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		// Non-blocking, so that os.NewFile puts it in the poller.
		_ = unix.SetNonblock(fd, true)
		w.pidfd = os.NewFile(uintptr(fd), "pidfd")
	}
	go w.run()
	return w
}

func (w *exitWatch) run() {
	defer close(w.done)
	if w.pidfd != nil {
		exited, err := w.poll()
		if !exited && errors.Is(err, os.ErrDeadlineExceeded) {
			return // stopped
		}
		if exited {
			close(w.exited)
			return
		}
		// The poller refused the pidfd: wait the blocking way.
	}
	close(w.blocking)
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, w.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			close(w.exited) // exited, or ECHILD: reaped already
			return
		}
	}
}

// poll waits for the pidfd to become readable, which it does when its
// process exits. The poller calls the function again on each readiness;
// the function checks without waiting.
func (w *exitWatch) poll() (exited bool, err error) {
	sc, err := w.pidfd.SyscallConn()
	if err != nil {
		return false, err
	}
	err = sc.Read(func(uintptr) bool {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, w.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		exited = err != nil || info.Signo != 0 // ECHILD: reaped already
		return exited
	})
	return exited, err
}

// stop ends the watch and returns once its goroutine has returned (at
// once if the process has exited), or has fallen back to waitid. exited
// stays open if the process runs.
func (w *exitWatch) stop() {
	if w.pidfd == nil {
		return // the blocking waitid cannot be interrupted; it ends with the process
	}
	_ = w.pidfd.SetReadDeadline(time.Unix(1, 0)) // ends a wait in progress
	select {
	case <-w.done:
	case <-w.blocking: // not on the pidfd any more; ends with the process
	}
	_ = w.pidfd.Close()
}

// isChild reports whether pid is a child of this process that has not been
// reaped: only then may it be waited for, and only then is its pid, and
// the process group id it leads, sure not to have been reused.
func isChild(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err == nil
		}
	}
}
