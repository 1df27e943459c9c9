package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that hands etcd's zap log entries to a slog
// logger, so that etcd's output lands in tandem's log and not on stderr.
type slogCore struct {
	log *slog.Logger
	min zapcore.Level
	// stopping, when true, demotes entries to debug: while etcd is being
	// stopped it reports its closed listeners as errors.
	stopping *atomic.Bool
	attrs    []slog.Attr // from With, in order
}

var _ zapcore.Core = (*slogCore)(nil)

// newZapLogger returns a zap logger writing entries at min and above to
// log, tagged component=etcd. etcd is chatty at info level (every raft
// step, every applied configuration), so tandem passes zapcore.WarnLevel.
// A nil stopping never demotes.
func newZapLogger(log *slog.Logger, min zapcore.Level, stopping *atomic.Bool, opts ...zap.Option) *zap.Logger {
	if stopping == nil {
		stopping = new(atomic.Bool)
	}
	return zap.New(&slogCore{log: log.With("component", "etcd"), min: min, stopping: stopping}, opts...)
}

// fatalHook replaces zap's exit on etcd's fatal errors. etcd logs Fatal
// (and zap would end the process) when it cannot write its WAL or commit
// to its database, a full disk being the common cause; the data plane
// must outlive the control plane, so instead the hook hands the error to
// failed and ends the goroutine that logged it, leaving that etcd stopped
// where it stood (see member.fail). A panic is left to etcd: it has its
// own recovery in places (see recoverStatus).
type fatalHook struct {
	failed func(error)
}

var _ zapcore.CheckWriteHook = fatalHook{}

// OnWrite runs after the entry was written to the log.
func (h fatalHook) OnWrite(ce *zapcore.CheckedEntry, fields []zapcore.Field) {
	h.failed(fatalError(ce.Message, fields))
	runtime.Goexit()
}

// fatalError is etcd's fatal message with the error it logged, if any.
func fatalError(msg string, fields []zapcore.Field) error {
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType {
			return fmt.Errorf("%w: %s: %w", errEtcdFatal, msg, err)
		}
	}
	return fmt.Errorf("%w: %s", errEtcdFatal, msg)
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, min: c.min, stopping: c.stopping, attrs: append(slices.Clip(c.attrs), fieldAttrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(slices.Clip(c.attrs), fieldAttrs(fields)...)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	level := slogLevel(e.Level)
	if c.stopping.Load() || expected(e.Message) {
		level = slog.LevelDebug
	}
	// Logging is not on a request path and carries no deadline.
	c.log.LogAttrs(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// expected reports whether etcd's message is a warning about a choice
// tandem made on purpose, which would otherwise be logged at every start.
func expected(msg string) bool {
	switch msg {
	case "Running http and grpc server on single port. This is not recommended for production.":
		return true // the client port serves gRPC only, over TLS
	case "simple token is not cryptographically signed":
		return true // etcd auth is off: clients authenticate with certificates
	case "Failed to detect schema version", "failed to update storage version":
		return true // a member that just joined has no term yet; etcd retries and succeeds
	}
	return false
}

// slogLevel maps zap's levels onto slog's four.
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

// fieldAttrs converts zap fields through zap's own map encoder, which
// knows every field type (durations, errors, objects, arrays).
func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	attrs := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		f.AddTo(enc)
		// AddTo may write nothing (zap.Skip) or nest under a namespace.
		if v, ok := enc.Fields[f.Key]; ok {
			attrs = append(attrs, slog.Any(f.Key, v))
			delete(enc.Fields, f.Key)
		}
	}
	return attrs
}
