package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// BenchmarkReplicationLag writes 100 KiB objects to a store at a steady
// rate (one every 20ms: 50 a second, one worker writing) while the
// replicator copies them to a second store polling every 100ms, and
// reports the lag of the copies, from each write to its copy in the
// replica: what a write just before the loss of the store's site can
// lose. b.N is the number of objects written.
//
//	go test -run XXX -bench ReplicationLag -benchtime 500x ./internal/storage
func BenchmarkReplicationLag(b *testing.B) {
	for _, interval := range []time.Duration{100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("poll=%s", interval), func(b *testing.B) { benchLag(b, interval) })
	}
}

func benchLag(b *testing.B, interval time.Duration) {
	s, r := startStore(b), startStore(b)
	pair := &Pair{Bucket: Bucket{App: "web", Name: "web-files", Replica: "web-copy"}, Store: s.bucket("web-files"), Replica: r.bucket("web-copy")}
	repl, err := NewReplicator(ReplicatorOptions{Pairs: []*Pair{pair}, Interval: interval, SpoolDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- repl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	body := make([]byte, 100<<10)
	rand.Read(body)
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-pace.C
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		body[0], body[1] = byte(i), byte(i>>8)
		_, err := pair.Store.Put(wctx, fmt.Sprintf("obj-%06d", i), bytes.NewReader(body), int64(len(body)), backup.PutOptions{})
		wcancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st := repl.Status().Buckets[0]
		if st.Objects == b.N && st.Pending == 0 {
			b.StopTimer()
			b.ReportMetric(float64(st.LagP50.Milliseconds()), "p50-lag-ms")
			b.ReportMetric(float64(st.LagP99.Milliseconds()), "p99-lag-ms")
			b.ReportMetric(float64(st.LagMax.Milliseconds()), "max-lag-ms")
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("replica not caught up a minute after the last write: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
