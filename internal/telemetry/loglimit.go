package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultLogEvery is how often a LogLimiter logs one cause when its
// caller gives no period.
const DefaultLogEvery = 30 * time.Second

// LogLimiter logs a failure that repeats — a write refused for a full
// disk, a watch that keeps failing while etcd is down — at most once per
// period per cause, so that a condition lasting hours costs a few lines
// rather than one a second. The cause is the record's message: tandem's
// messages are constant strings, so each names one kind of failure. A
// record logged after a quiet spell carries "suppressed", the count of
// records of that cause left out since the last one logged.
//
// The zero value is not usable; see NewLogLimiter. It is safe for
// concurrent use.
type LogLimiter struct {
	log   *slog.Logger
	every time.Duration

	mu     sync.Mutex // guards causes
	causes map[string]*causeState
}

// causeState is what a LogLimiter remembers of one cause.
type causeState struct {
	last       time.Time // when a record of it was last logged
	suppressed int       // records left out since then
}

// NewLogLimiter returns a limiter logging to log (nil discards) at most
// once per every per cause; every <= 0 means DefaultLogEvery.
func NewLogLimiter(log *slog.Logger, every time.Duration) *LogLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = DefaultLogEvery
	}
	return &LogLimiter{log: log, every: every, causes: make(map[string]*causeState)}
}

// Log logs msg at level with args unless a record with the same msg was
// logged less than the period ago; then it only counts it. It reports
// whether it logged.
func (l *LogLimiter) Log(ctx context.Context, level slog.Level, msg string, args ...any) bool {
	if !l.log.Enabled(ctx, level) {
		return false
	}
	now := time.Now()
	l.mu.Lock()
	c, ok := l.causes[msg]
	if !ok {
		c = &causeState{}
		l.causes[msg] = c
	}
	if ok && now.Sub(c.last) < l.every {
		c.suppressed++
		l.mu.Unlock()
		return false
	}
	suppressed := c.suppressed
	c.last, c.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args[:len(args):len(args)], "suppressed", suppressed)
	}
	l.log.Log(ctx, level, msg, args...)
	return true
}

// Warn is Log at slog.LevelWarn; a repeating failure that tandem works
// around (it retries, or serves from what it has) is a warning.
func (l *LogLimiter) Warn(msg string, args ...any) {
	// Logging is not on a request path and carries no deadline.
	l.Log(context.Background(), slog.LevelWarn, msg, args...)
}

// Error is Log at slog.LevelError.
func (l *LogLimiter) Error(msg string, args ...any) {
	l.Log(context.Background(), slog.LevelError, msg, args...)
}
