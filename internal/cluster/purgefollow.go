package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// flushEvery is how often, at most, a follower writes its cursor file and
// its ack while events flow. The first event after a quiet time is
// written at once, so WaitApplied is not slowed by the batching.
const flushEvery = 200 * time.Millisecond

// purgeCursor is the content of the cursor file.
type purgeCursor struct {
	// Revision is the etcd revision every event up to which is applied.
	Revision int64 `json:"revision"`
	// ClusterID is the etcd cluster the revision belongs to: revisions of
	// a re-created cluster start again at 1 and mean nothing to this one.
	ClusterID uint64 `json:"cluster_id"`
}

// Follow applies the events other nodes publish, in revision order, until
// ctx ends; it returns an error only for invalid options or an unreadable
// cursor file. apply is called for each event, from one goroutine; events
// this node published are skipped (Publish's caller applied them).
//
// Follow resumes after the revision in the cursor file, so a restarted
// node applies what it missed while down. Without a cursor file (first
// start) it starts at the current revision: an empty cache has nothing
// stale. When it cannot know what it missed — etcd compacted past the
// cursor, the cursor belongs to another etcd cluster or does not decode —
// it calls reset, after which the caller must drop its whole cache, and
// goes on from the current revision.
//
// Within one call, an event is applied at most once and in order, across
// any number of re-watches. The cursor is written after apply, a few
// times a second: after a crash, the last events before it may be applied
// again, which purges tolerate.
//
// After applying, Follow acknowledges under purge-acks/<node> the
// revision it has reached, its own events included, for WaitApplied.
func (p *PurgeLog) Follow(ctx context.Context, apply func(rev int64, origin string, ev []byte), reset func()) error {
	if err := p.check(); err != nil {
		return fmt.Errorf("follow purge log: %w", err)
	}
	if p.opts.CursorFile == "" || apply == nil || reset == nil {
		return errors.New("follow purge log: cursor file, apply and reset are required")
	}
	if !p.following.CompareAndSwap(false, true) {
		return errors.New("follow purge log: already following")
	}
	defer p.following.Store(false)
	f := &purgeFollower{PurgeLog: p, apply: apply, reset: reset}
	return f.run(ctx)
}

// progressInterval is how often a follower that has not caught up yet
// asks etcd where its watch stands.
const progressInterval = 100 * time.Millisecond

// purgeFollower is the state of one Follow call.
type purgeFollower struct {
	*PurgeLog
	apply func(rev int64, origin string, ev []byte)
	reset func()

	cluster   uint64           // the etcd cluster ID revisions belong to
	last      int64            // every event up to this revision is applied
	saved     int64            // the revision in the cursor file
	acked     int64            // the revision in purge-acks/<node>
	target    int64            // etcd's revision when Follow started; caught up once past it
	lastFlush time.Time        // when saved and acked were last written
	flushC    <-chan time.Time // a pending flush, or nil
}

func (f *purgeFollower) run(ctx context.Context) error {
	if err := f.start(ctx); err != nil {
		return err
	}
	var delay retryDelay
	for ctx.Err() == nil {
		err := f.watch(ctx)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, rpctypes.ErrCompacted):
			f.log.Warn("purge log compacted past the cursor; dropping the cache", "cursor", f.last)
			f.restartAtCurrent(ctx, true)
			delay.reset()
		default:
			f.logs.Warn("purge log watch failed; watching again", "cursor", f.last, "err", err)
			delay.wait(ctx)
		}
	}
	f.flush(context.WithoutCancel(ctx))
	return nil
}

// start sets the revision to follow from, from the cursor file.
func (f *purgeFollower) start(ctx context.Context) error {
	data, err := os.ReadFile(f.opts.CursorFile)
	if errors.Is(err, fs.ErrNotExist) {
		f.restartAtCurrent(ctx, false)
		return nil
	}
	if err != nil {
		return fmt.Errorf("follow purge log: %w", err)
	}
	var cur purgeCursor
	if err := json.Unmarshal(data, &cur); err != nil || cur.Revision <= 0 {
		f.log.Warn("purge cursor unreadable; dropping the cache", "file", f.opts.CursorFile, "err", err)
		f.restartAtCurrent(ctx, true)
		return nil
	}
	hdr, ok := f.current(ctx)
	if !ok {
		return nil
	}
	if cur.ClusterID != hdr.ClusterId || cur.Revision > hdr.Revision {
		f.log.Warn("purge cursor does not belong to this etcd cluster; dropping the cache",
			"cursor", cur.Revision, "cursor_cluster", cur.ClusterID, "cluster", hdr.ClusterId)
		f.restartAtCurrent(ctx, true)
		return nil
	}
	f.cluster, f.last, f.saved = cur.ClusterID, cur.Revision, cur.Revision
	f.target = hdr.Revision
	if f.last >= f.target {
		f.markCaughtUp()
	}
	f.flush(ctx) // the ack, so that WaitApplied sees this node before any event
	return nil
}

// restartAtCurrent makes the follower go on from etcd's current revision,
// calling reset first when events may have been missed. The revision is
// read before reset, so that whatever the cache holds after reset was
// fetched after every purge the follower skips.
func (f *purgeFollower) restartAtCurrent(ctx context.Context, reset bool) {
	hdr, ok := f.current(ctx)
	if !ok {
		return
	}
	if reset {
		f.reset()
	}
	f.cluster, f.last = hdr.ClusterId, hdr.Revision
	f.markCaughtUp()
	f.flush(ctx)
}

// current returns the header of a read of etcd, retrying until it
// succeeds; ok is false when ctx ended first.
func (f *purgeFollower) current(ctx context.Context) (*pb.ResponseHeader, bool) {
	var delay retryDelay
	for {
		gctx, cancel := context.WithTimeout(ctx, opTimeout)
		resp, err := f.opts.Client().Get(gctx, f.keys.purgeAck(f.opts.Node))
		cancel()
		if err == nil {
			return resp.Header, true
		}
		f.logs.Warn("purge log: read current revision failed; retrying", "err", err)
		if !delay.wait(ctx) {
			return nil, false
		}
	}
}

// watch applies events after f.last until the watch fails or ctx ends.
func (f *purgeFollower) watch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := f.opts.Client().Watch(wctx, f.keys.purges(), clientv3.WithPrefix(), clientv3.WithRev(f.last+1))
	// Until caught up, ask etcd for progress: it answers once the watch
	// has sent all history, and the answer's revision then says the
	// missed events are in. A request sent before the watch stream exists
	// is lost, hence the ticker.
	caught := f.PurgeLog.caughtUpClosed()
	var progress <-chan time.Time
	if !caught {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		progress = t.C
		f.opts.Client().RequestProgress(wctx)
	}
	for {
		select {
		case <-progress:
			if caught {
				progress = nil
				continue
			}
			f.opts.Client().RequestProgress(wctx)
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch purges from %d: %w", f.last+1, err)
			}
			f.handle(wr.Events)
			if !caught && wr.Header.Revision >= f.target {
				f.markCaughtUp()
				caught = true
			}
			f.maybeFlush(ctx)
		case <-f.flushC:
			f.flushC = nil
			f.maybeFlush(ctx)
		}
	}
}

// handle applies the puts of other nodes among evs, skipping anything at
// or before f.last (a re-watch may deliver it again).
func (f *purgeFollower) handle(evs []*clientv3.Event) {
	for _, ev := range evs {
		rev := ev.Kv.ModRevision
		if rev <= f.last {
			continue
		}
		if ev.Type == mvccpb.Event_PUT {
			var rec purgeRecord
			if err := json.Unmarshal(ev.Kv.Value, &rec); err != nil {
				f.log.Warn("purge log: bad event skipped", "key", string(ev.Kv.Key), "rev", rev, "err", err)
			} else if rec.Origin != f.opts.Node {
				f.apply(rev, rec.Origin, rec.Event)
			}
		}
		// A delete is an event expiring: nothing to apply, but the
		// revision is passed all the same.
		f.last = rev
	}
}

// maybeFlush writes the cursor and ack now if the last write is older
// than flushEvery, and otherwise arranges for a write when it will be.
func (f *purgeFollower) maybeFlush(ctx context.Context) {
	if f.last == f.saved && f.last == f.acked {
		return
	}
	if wait := flushEvery - time.Since(f.lastFlush); wait > 0 {
		if f.flushC == nil {
			f.flushC = time.After(wait)
		}
		return
	}
	f.flush(ctx)
	if f.last != f.saved || f.last != f.acked {
		f.flushC = time.After(time.Second) // a write failed: try again
	}
}

// flush writes the cursor file and the ack, where they are behind. A
// failure is logged; the next flush tries again.
func (f *purgeFollower) flush(ctx context.Context) {
	f.lastFlush = time.Now()
	if f.last != f.saved {
		err := atomicfile.WriteJSON(f.opts.CursorFile, purgeCursor{Revision: f.last, ClusterID: f.cluster}, 0o644)
		if err != nil {
			// The file keeps the revision it had: a restart replays a
			// few purges more, which purges tolerate.
			f.logs.Error("purge log: write cursor failed", "err", err)
		} else {
			f.saved = f.last
		}
	}
	if f.last != f.acked {
		actx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := f.opts.Client().Put(actx, f.keys.purgeAck(f.opts.Node), strconv.FormatInt(f.last, 10))
		cancel()
		if err != nil {
			if ctx.Err() == nil { // when ctx ended, the final flush writes it
				f.logs.Warn("purge log: write ack failed", "rev", f.last, "err", err)
			}
		} else {
			f.acked = f.last
		}
	}
}
