package balance

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"
)

// localLogEvery is the least time between two log lines about local
// resource errors of one pool: when descriptors run out, every request
// and health check fails, and one line a second says as much as thousands.
const localLogEvery = time.Second

// isLocalResource reports whether err says this host lacks a resource it
// needs to reach any target: descriptors, buffers, memory, local ports.
// Such an error says nothing about the target.
func isLocalResource(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.EADDRNOTAVAIL)
}

// localErrors counts a pool's local resource errors and logs them at a
// bounded rate. The zero value is ready to use.
type localErrors struct {
	count  atomic.Uint64
	logged atomic.Uint64 // count at the last log line
	next   atomic.Int64  // pool clock: no log line before
}

// record counts one local resource error of op (a request or a health
// check) to target at now, and logs it unless a line was logged less than
// localLogEvery ago; the line says how many errors it stands for.
func (l *localErrors) record(log *slog.Logger, now int64, op, target string, err error) {
	n := l.count.Add(1)
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(localLogEvery)) {
		return
	}
	log.Warn("local resource error", "op", op, "target", target, "errors", n-l.logged.Swap(n), "err", err)
}
