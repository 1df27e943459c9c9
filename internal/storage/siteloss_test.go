package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// siteLossTrials is how many times TestSiteLossLosesAtMostAnInterval loses
// the store's site.
const siteLossTrials = 5

// siteLossSlack is what the bound on a site loss's lost window allows
// beyond one replication interval: the poll under way when a write is
// acknowledged (it listed the bucket before the write) and the poll after
// the interval, each listing the bucket and copying a second's writes,
// on a loaded 2-core machine.
const siteLossSlack = 3 * time.Second

// siteLossWrite is one acknowledged write of the writer.
type siteLossWrite struct {
	key string
	ack time.Time // when the store's answer arrived
}

// siteLoss is one trial's outcome.
type siteLoss struct {
	acked, lost int
	pending     int           // changes the replicator knew of and had not copied when it stopped
	oldestLost  time.Duration // kill - the oldest lost write's acknowledgement; 0 when none was lost
	newestCopy  time.Duration // kill - the newest copied write's acknowledgement
	rate        float64       // acknowledged writes a second
}

// TestSiteLossLosesAtMostAnInterval measures what the loss of the store's
// site loses. A writer puts 100 KiB objects into the store at 50 a second,
// each acknowledged, while the replicator copies them to the replica
// polling at the default interval (the stack file's: 1s); after 3 s plus
// a random phase of up to two intervals the site is lost at once: the
// replicator stops as its node dies, the writer's requests end, and the
// store's gateway is SIGKILLed. The replica is then listed: every
// acknowledged write missing from it was lost. The test checks that each
// object that reached the replica is whole and that no write acknowledged
// more than one interval plus siteLossSlack before the kill is missing,
// and logs the lost writes and window of each trial and a SUMMARY.
func TestSiteLossLosesAtMostAnInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("five site losses under load: about 30 s")
	}
	t.Parallel()
	var results []siteLoss
	var interval time.Duration
	for i := range siteLossTrials {
		t.Run(fmt.Sprintf("trial-%d", i+1), func(t *testing.T) {
			var res siteLoss
			res, interval = loseSite(t)
			results = append(results, res)
		})
	}
	if len(results) < siteLossTrials {
		return // a trial failed and said why
	}
	bound := interval + siteLossSlack
	var lost []int
	var oldest, newest []time.Duration
	acked, rate := 0, 0.0
	for _, r := range results {
		lost = append(lost, r.lost)
		oldest, newest = append(oldest, r.oldestLost), append(newest, r.newestCopy)
		acked += r.acked
		rate += r.rate / float64(len(results))
		if r.oldestLost > bound {
			t.Errorf("a write acknowledged %s before the site loss is missing from the replica; want none older than %s (interval %s + %s)",
				r.oldestLost.Round(time.Millisecond), bound, interval, siteLossSlack)
		}
		if r.newestCopy > bound {
			t.Errorf("the newest write in the replica was acknowledged %s before the site loss; want within %s (interval %s + %s)",
				r.newestCopy.Round(time.Millisecond), bound, interval, siteLossSlack)
		}
	}
	olo, omed, ohi := lossDurations(oldest)
	nlo, nmed, nhi := lossDurations(newest)
	t.Logf("SUMMARY site loss (store's gateway SIGKILLed, replicator stopped) over %d trials, 100 KiB writes at %.1f/s, replication interval %s: "+
		"acknowledged writes lost per trial %v of %d; lost window (kill - oldest lost write's ack) min %s / median %s / max %s; "+
		"kill - newest copied write's ack min %s / median %s / max %s; bound %s",
		len(results), rate, interval, lost, acked,
		olo.Round(time.Millisecond), omed.Round(time.Millisecond), ohi.Round(time.Millisecond),
		nlo.Round(time.Millisecond), nmed.Round(time.Millisecond), nhi.Round(time.Millisecond), bound)
}

// loseSite runs one trial: two fresh stores, the replicator between them
// at its default interval, the writer, the loss, the replica's listing. It
// returns the outcome and the interval.
func loseSite(t *testing.T) (siteLoss, time.Duration) {
	s, r := startStore(t), startStore(t)
	pair := &Pair{Bucket: Bucket{App: "web", Name: "web-files", Replica: "web-copy"}, Store: s.bucket("web-files"), Replica: r.bucket("web-copy")}
	repl, err := NewReplicator(ReplicatorOptions{Pairs: []*Pair{pair}, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	interval := repl.opts.Interval
	rctx, stopRepl := context.WithCancel(context.Background())
	defer stopRepl()
	replDone := make(chan error, 1)
	go func() { replDone <- repl.Run(rctx) }()

	const size = 100 << 10
	var mu sync.Mutex // guards writes
	var writes []siteLossWrite
	wctx, stopWriter := context.WithCancel(context.Background())
	defer stopWriter()
	writerDone := make(chan error, 1)
	start := time.Now()
	go func() {
		body := make([]byte, size)
		rand.Read(body)
		pace := time.NewTicker(20 * time.Millisecond)
		defer pace.Stop()
		for i := 0; ; i++ {
			select {
			case <-wctx.Done():
				writerDone <- nil
				return
			case <-pace.C:
			}
			key := fmt.Sprintf("obj-%06d", i)
			body[0], body[1], body[2] = byte(i), byte(i>>8), byte(i>>16)
			ctx, cancel := context.WithTimeout(wctx, 10*time.Second)
			_, err := pair.Store.Put(ctx, key, bytes.NewReader(body), size, backup.PutOptions{})
			cancel()
			if err != nil {
				if wctx.Err() != nil {
					writerDone <- nil // the site was lost under it: not acknowledged
				} else {
					writerDone <- fmt.Errorf("put %s: %w", key, err)
				}
				return
			}
			ack := time.Now()
			mu.Lock()
			writes = append(writes, siteLossWrite{key: key, ack: ack})
			mu.Unlock()
		}
	}()

	// A random phase against the replicator's polls.
	phase := 3*time.Second + mrand.N(2*interval)
	select {
	case err := <-writerDone:
		t.Fatalf("writer stopped before the site loss: %v", err)
	case <-time.After(phase):
	}
	// The site is lost: its node (the replicator) and its store at once.
	kill := time.Now()
	stopRepl()
	stopWriter()
	s.Stop()
	for what, done := range map[string]chan error{"replicator": replDone, "writer": writerDone} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop 30s after the site loss", what)
		}
	}
	pending := repl.Status().Buckets[0].Pending

	copied := make(map[string]int64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pair.Replica.List(ctx, func(o backup.BucketObject) error { copied[o.Key] = o.Size; return nil }); err != nil {
		t.Fatalf("list the replica: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	res := siteLoss{acked: len(writes), pending: pending}
	if len(writes) > 0 {
		res.rate = float64(len(writes)) / writes[len(writes)-1].ack.Sub(start).Seconds()
	}
	var newest time.Time
	for _, w := range writes {
		n, ok := copied[w.key]
		switch {
		case !ok:
			if res.lost == 0 {
				res.oldestLost = kill.Sub(w.ack)
			}
			res.lost++
		case n != size:
			t.Errorf("%s is %d bytes in the replica; want %d", w.key, n, size)
		default:
			newest = w.ack
		}
	}
	if newest.IsZero() {
		t.Fatalf("none of %d acknowledged writes reached the replica in %s", len(writes), phase)
	}
	res.newestCopy = kill.Sub(newest)
	t.Logf("site lost %s after the writes began: %d of %d acknowledged writes lost (the replicator knew of %d), the oldest acknowledged %s before the loss; the newest copied %s before",
		phase.Round(time.Millisecond), res.lost, res.acked, res.pending, res.oldestLost.Round(time.Millisecond), res.newestCopy.Round(time.Millisecond))
	return res, interval
}

// lossDurations summarises min / median / max.
func lossDurations(ds []time.Duration) (lo, med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, cmp.Compare)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}
