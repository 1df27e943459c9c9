package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// ReplicatorOptions configure a Replicator.
type ReplicatorOptions struct {
	Pairs    []*Pair       // each with a Replica
	Interval time.Duration // between polls of the store; 0 means 1s
	Workers  int           // objects copied at once; 0 means 4
	// SpoolDir holds objects larger than 1 MiB while they are copied;
	// it is emptied at Run's start.
	SpoolDir string
	// NextResync returns when the scheduled re-sync after t is due; nil
	// schedules none (a re-sync still follows an outage, or
	// RequestResync).
	NextResync func(t time.Time) time.Time
	// OnReplicated, if set, is told of every change that reached the
	// replica, with its lag (metrics); it must not block.
	OnReplicated func(app string, lag time.Duration)
	Logger       *slog.Logger
}

// Replicator keeps the replica a copy of the store: it lists each app's
// bucket in the store every Interval, copies what is new or changed and
// deletes what is gone, and now and then runs a re-sync that reads every
// object on both sides (see resync.go). One node of the cluster runs it.
//
// Nothing tells a poll what changed: S3-compatible stores have no change
// feed they all share (versitygw's event notifications are sent in
// goroutines, unretried and unordered, and need a broker or a webhook
// listening). A write reaches the replica within about Interval plus the
// listing and the copy; its lag is measured from the later of its
// Last-Modified and the start of the poll before, which never understates
// it.
type Replicator struct {
	opts    ReplicatorOptions
	log     *slog.Logger
	buckets []*bucketRepl
	// requests takes RequestResync's reasons.
	requests chan string

	mu          sync.Mutex // guards the fields below and every bucketRepl's status
	running     bool       // Run is running
	storeDown   time.Time  // when the store stopped answering; zero while it answers
	replicaDown time.Time
	resyncing   string // the running re-sync's reason; "" when none runs
	lastResync  *ResyncReport
	nextResync  time.Time
}

// bucketRepl is the replication of one app's bucket. The fields above
// pending belong to Run's goroutine.
type bucketRepl struct {
	pair     *Pair
	index    map[string]string // the replica's copies: key -> the store's ETag each was made from
	indexed  bool              // index built since Run started
	prevList time.Time         // when the previous listing of the store started

	pending map[string]time.Time // guarded by Replicator.mu: changes not yet replicated, key -> since
	status  BucketReplication    // guarded by Replicator.mu
	lags    lagWindow            // guarded by Replicator.mu
}

// NewReplicator checks o. It starts nothing.
func NewReplicator(o ReplicatorOptions) (*Replicator, error) {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SpoolDir == "" {
		return nil, errors.New("new replicator: no spool directory")
	}
	r := &Replicator{opts: o, log: o.Logger, requests: make(chan string, 1)}
	for _, p := range o.Pairs {
		if p.Replica == nil {
			return nil, fmt.Errorf("new replicator: bucket of %s has no replica", p.App)
		}
		r.buckets = append(r.buckets, &bucketRepl{pair: p, pending: make(map[string]time.Time),
			status: BucketReplication{App: p.App, Bucket: p.Store.String(), Replica: p.Replica.String()}})
	}
	return r, nil
}

// Running reports whether Run runs: on one node of a cluster, the one
// holding the replication's lock.
func (r *Replicator) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

func (r *Replicator) setRunning(v bool) {
	r.mu.Lock()
	r.running = v
	r.mu.Unlock()
}

// RequestResync asks Run for a re-sync, for reason; it never blocks. A
// request while one runs or is asked for already is dropped.
func (r *Replicator) RequestResync(reason string) {
	select {
	case r.requests <- reason:
	default:
	}
}

// Run replicates until ctx ends, then waits for the re-sync it runs, if
// any, and returns nil.
func (r *Replicator) Run(ctx context.Context) error {
	if err := resetDir(r.opts.SpoolDir); err != nil {
		return fmt.Errorf("run replicator: %w", err)
	}
	r.setRunning(true)
	defer r.setRunning(false)
	for _, b := range r.buckets {
		// Another node may have replicated since this one last ran (Run
		// follows a cluster lock): learn the replica anew.
		b.indexed, b.prevList = false, time.Time{}
	}
	repairs := make(chan repair)
	resyncDone := make(chan ResyncReport, 1)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the re-sync stops with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	startResync := func(reason string) {
		r.mu.Lock()
		busy := r.resyncing != ""
		if !busy {
			r.resyncing = reason
		}
		r.mu.Unlock()
		if busy {
			return
		}
		wg.Go(func() { resyncDone <- r.resync(ctx, reason, repairs) })
	}
	r.scheduleResync(time.Now())
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			for _, why := range r.poll(ctx) {
				startResync(why)
			}
			if due := r.nextResyncAt(); !due.IsZero() && !time.Now().Before(due) {
				startResync("schedule")
				r.scheduleResync(time.Now())
			}
			timer.Reset(r.opts.Interval)
		case reason := <-r.requests:
			startResync(reason)
		case rp := <-repairs:
			rp.done <- r.repair(ctx, rp)
		case rep := <-resyncDone:
			r.mu.Lock()
			r.resyncing, r.lastResync = "", &rep
			r.mu.Unlock()
			r.logResync(rep)
		}
	}
}

// poll lists every bucket of the store and replicates the changes. It
// returns the reasons for a re-sync: a store back after an outage.
func (r *Replicator) poll(ctx context.Context) []string {
	var storeErr, replicaErr error
	for _, b := range r.buckets {
		serr, rerr := r.pollBucket(ctx, b)
		storeErr, replicaErr = cmpOrErr(storeErr, serr), cmpOrErr(replicaErr, rerr)
	}
	if ctx.Err() != nil {
		return nil
	}
	var reasons []string
	if why := r.sideState("store", &r.storeDown, storeErr); why != "" {
		reasons = append(reasons, why)
	}
	if why := r.sideState("replica", &r.replicaDown, replicaErr); why != "" {
		reasons = append(reasons, why)
	}
	return reasons
}

// sideState records whether a side answered, logs its changes, and
// returns why a re-sync is due when it is back after an outage.
func (r *Replicator) sideState(name string, down *time.Time, err error) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && down.IsZero():
		*down = time.Now()
		r.log.Warn("replication: store unreachable", "side", name, "err", err)
	case err == nil && !down.IsZero():
		outage := time.Since(*down).Round(time.Millisecond)
		*down = time.Time{}
		r.log.Info("replication: store back", "side", name, "outage", outage.String())
		return fmt.Sprintf("%s back after %s", name, outage)
	}
	return ""
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// pollBucket lists one bucket of the store and applies the plan. It
// returns the store's error (the listing failed) and the replica's (a
// check or a write failed for want of an answer).
func (r *Replicator) pollBucket(ctx context.Context, b *bucketRepl) (storeErr, replicaErr error) {
	if !b.indexed {
		if storeErr, replicaErr = r.buildIndex(ctx, b); storeErr != nil || replicaErr != nil {
			r.setError(b, cmpOrErr(storeErr, replicaErr))
			return storeErr, replicaErr
		}
	}
	start := time.Now()
	var listed []backup.BucketObject
	if err := b.pair.Store.List(ctx, func(o backup.BucketObject) error { listed = append(listed, o); return nil }); err != nil {
		r.setError(b, err)
		return err, nil
	}
	changes := plan(listed, b.index, b.prevList)
	b.prevList = start
	if len(changes) == 0 {
		// Nothing to write: check that the replica answers, so that an
		// outage of it is seen (and a re-sync follows) even when quiet.
		if _, err := b.pair.Replica.Ensure(ctx); err != nil {
			r.setError(b, err)
			return nil, err
		}
	}
	replicaErr = r.apply(ctx, b, changes)
	r.mu.Lock()
	b.status.LastPoll, b.status.Objects = time.Now(), len(b.index)
	if replicaErr == nil {
		b.status.LastError = ""
	}
	r.mu.Unlock()
	return nil, replicaErr
}

// apply runs a poll's changes, Workers at a time, and records their
// outcomes. It returns a write's error that says the replica did not
// answer, if any.
func (r *Replicator) apply(ctx context.Context, b *bucketRepl, changes []change) error {
	r.mu.Lock()
	want := make(map[string]bool, len(changes))
	for _, c := range changes {
		want[c.key] = true
		if _, ok := b.pending[c.key]; !ok {
			b.pending[c.key] = c.since
		}
	}
	for key := range b.pending {
		if !want[key] {
			delete(b.pending, key) // settled otherwise: nothing left to do
		}
	}
	r.mu.Unlock()
	type result struct {
		c    change
		etag string
		done bool // the change needs no more work (deleted, or gone from the store)
		err  error
	}
	results := make([]result, len(changes))
	sem := make(chan struct{}, r.opts.Workers)
	var wg sync.WaitGroup
	for i, c := range changes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res := result{c: c}
			if c.delete {
				res.done, res.err = deleteCopy(ctx, b.pair, c.key)
			} else {
				res.etag, res.err = copyObject(ctx, b.pair, c.key, r.opts.SpoolDir)
				if errors.Is(res.err, backup.ErrNotFound) {
					res.err = nil // deleted meanwhile: the next poll deletes the copy
				}
			}
			results[i] = res
		})
	}
	wg.Wait()
	var unreachable error
	for _, res := range results {
		r.outcome(b, res.c, res.etag, res.done, res.err)
		if res.err != nil && errors.Is(res.err, backup.ErrUnreachable) && unreachable == nil {
			unreachable = res.err
		}
	}
	return unreachable
}

// outcome records one change's result in the index, the pending set,
// the lag and the status.
func (r *Replicator) outcome(b *bucketRepl, c change, etag string, done bool, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		b.status.Failed++
		b.status.LastError = err.Error()
		if errors.Is(err, ErrCorrupt) {
			r.log.Error("replication: object damaged in the store, not copied; the re-sync restores it from the replica if it can", "bucket", b.pair.Store.String(), "key", c.key, "err", err)
		}
		return
	}
	switch {
	case c.delete && done:
		delete(b.index, c.key)
		b.status.Deleted++
	case c.delete: // the store has the key again
	case etag != "":
		b.index[c.key] = etag
		b.status.Copied++
	}
	since, ok := b.pending[c.key]
	delete(b.pending, c.key)
	if ok && (done || etag != "") {
		lag := now.Sub(since)
		b.lags.add(lag)
		if r.opts.OnReplicated != nil {
			r.opts.OnReplicated(b.pair.App, lag)
		}
	}
}

func (r *Replicator) setError(b *bucketRepl, err error) {
	r.mu.Lock()
	b.status.LastError = err.Error()
	r.mu.Unlock()
}

// buildIndex learns what the replica holds and which version of the
// store's objects each copy is: the same ETag is the same version; a
// copy whose ETag differs from the store's (an object written in parts)
// is asked (HEAD) for the ETag it recorded.
func (r *Replicator) buildIndex(ctx context.Context, b *bucketRepl) (storeErr, replicaErr error) {
	store := make(map[string]string)
	if err := b.pair.Store.List(ctx, func(o backup.BucketObject) error { store[o.Key] = o.ETag; return nil }); err != nil {
		return err, nil
	}
	index := make(map[string]string)
	err := b.pair.Replica.List(ctx, func(o backup.BucketObject) error {
		src, ok := store[o.Key]
		switch {
		case !ok || src == o.ETag:
			index[o.Key] = o.ETag
		default:
			h, err := b.pair.Replica.Head(ctx, o.Key)
			if err != nil {
				return err
			}
			index[o.Key] = h.Meta.User[metaSourceETag]
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, backup.ErrNoBucket) {
			_, err = b.pair.Replica.Ensure(ctx) // a replica that lost its bucket starts over
		}
		if err != nil {
			return nil, err
		}
	}
	b.index, b.indexed = index, true
	return nil, nil
}

// resetDir empties dir, creating it if needed: copies a previous run left
// half-done.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Clean(dir), 0o700)
}

func (r *Replicator) scheduleResync(now time.Time) {
	if r.opts.NextResync == nil {
		return
	}
	next := r.opts.NextResync(now)
	r.mu.Lock()
	r.nextResync = next
	r.mu.Unlock()
}

func (r *Replicator) nextResyncAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextResync
}
