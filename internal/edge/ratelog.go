package edge

import (
	"sync"
	"time"
)

// rateLog lets an event that may repeat many times a second (a limit
// reached, a full disk) be logged at most once per interval, with the
// number of times it was not. The zero value logs every event.
type rateLog struct {
	every time.Duration

	mu      sync.Mutex // guards the fields below
	next    time.Time  // the earliest time the next line may be written
	skipped int        // events since the last line that were not logged
}

// allow reports whether the event at now is to be logged and, if so, how
// many events since the last logged one were not.
func (l *rateLog) allow(now time.Time) (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.skipped++
		return false, 0
	}
	skipped, l.skipped = l.skipped, 0
	l.next = now.Add(l.every)
	return true, skipped
}
