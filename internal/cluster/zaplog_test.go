package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestZapLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var stopping atomic.Bool
	zl := newZapLogger(log, zapcore.WarnLevel, &stopping).Named("raft").With(zap.String("member", "a"))

	zl.Info("applied entry")
	zl.Warn("slow fdatasync", zap.Duration("took", 2*time.Second), zap.Error(errors.New("disk busy")), zap.Int("n", 3))
	zl.Error("lost leader")
	zl.Warn("simple token is not cryptographically signed")
	stopping.Store(true)
	zl.Error("accept: use of closed network connection")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=WARN msg="slow fdatasync" component=etcd member=a took=2s error="disk busy" n=3 logger=raft`,
		`level=ERROR msg="lost leader" component=etcd member=a logger=raft`,
		`level=DEBUG msg="simple token is not cryptographically signed" component=etcd member=a logger=raft`,
		`level=DEBUG msg="accept: use of closed network connection" component=etcd member=a logger=raft`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines:\n%s\nwant %d", len(lines), buf.String(), len(want))
	}
	for i, line := range lines {
		_, rest, _ := strings.Cut(line, " ") // drop the time
		if rest != want[i] {
			t.Errorf("line %d = %q; want %q", i, rest, want[i])
		}
	}
}
