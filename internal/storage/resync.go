package storage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// A re-sync reads every object of every bucket on both sides, in full,
// and judges each pair of copies by their checksums (see judge): what
// the replica lacks or has in an older version is copied, what the
// store no longer has is deleted, a damaged copy is replaced by the
// intact one, the store's included. Polls go on meanwhile: the re-sync
// only reads, and hands its repairs to Run's goroutine, which makes
// every write of the replication (so that a repair and a poll never
// write the same key at once).

// repair is a write a re-sync asks Run to make.
type repair struct {
	pair *Pair
	key  string
	v    verdict
	etag string // the store's ETag as read, for restorePrimary's condition
	// outdated: the replica lacked the store's version of key when the
	// re-sync read it (rather than holding a damaged copy of it).
	outdated bool
	done     chan error
}

// repair makes one repair in Run's goroutine and records it in the
// replication's index.
func (r *Replicator) repair(ctx context.Context, rp repair) error {
	b := r.bucketOf(rp.pair)
	switch rp.v {
	case copyToReplica:
		if rp.outdated && r.copied(b, rp.key, rp.etag) {
			return nil // a poll copied that version since the re-sync read the replica
		}
		etag, err := copyObject(ctx, rp.pair, rp.key, r.opts.SpoolDir)
		if err != nil {
			return err
		}
		if b.indexed { // counted as a poll's copy, with its lag if a poll saw it
			r.outcome(b, change{key: rp.key}, etag, false, nil)
		}
	case deleteReplica:
		deleted, err := deleteCopy(ctx, rp.pair, rp.key)
		if err != nil {
			return err
		}
		if b.indexed {
			r.outcome(b, change{key: rp.key, delete: true}, "", deleted, nil)
		}
	case restorePrimary:
		return restoreObject(ctx, rp.pair, rp.key, rp.etag, r.opts.SpoolDir)
	}
	return nil
}

// copied reports whether the replica's copy of key, as the index knows
// it, was made from the store's version etag.
func (r *Replicator) copied(b *bucketRepl, key, etag string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return b.indexed && etag != "" && b.index[key] == etag
}

func (r *Replicator) bucketOf(p *Pair) *bucketRepl {
	for _, b := range r.buckets {
		if b.pair == p {
			return b
		}
	}
	panic("storage: repair of a bucket the replicator does not hold") // repairs come from r's own buckets
}

// resync checks every bucket; repairs go to Run through repairs.
func (r *Replicator) resync(ctx context.Context, reason string, repairs chan<- repair) ResyncReport {
	rep := ResyncReport{Reason: reason, Started: time.Now()}
	r.log.Info("re-sync started", "reason", reason)
	var errs []error
	for _, b := range r.buckets {
		if err := r.resyncBucket(ctx, b.pair, repairs, &rep); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		rep.Err = err.Error()
	}
	rep.Finished = time.Now()
	return rep
}

// resyncBucket judges every object of one bucket, Workers at a time.
func (r *Replicator) resyncBucket(ctx context.Context, p *Pair, repairs chan<- repair, rep *ResyncReport) error {
	keys := make(map[string]bool)
	list := func(b *backup.S3Bucket) error {
		return b.List(ctx, func(o backup.BucketObject) error { keys[o.Key] = true; return nil })
	}
	if err := list(p.Store); err != nil {
		return err
	}
	if err := list(p.Replica); err != nil {
		return err
	}
	var mu sync.Mutex // guards rep and firstErr
	var firstErr error
	sem := make(chan struct{}, r.opts.Workers)
	var wg sync.WaitGroup
	for _, key := range sortedKeys(keys) {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := r.resyncKey(ctx, p, key, repairs, rep, &mu)
			if err != nil {
				mu.Lock()
				firstErr = cmpOrErr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// resyncKey reads both copies of key, judges them, and has the verdict
// carried out.
func (r *Replicator) resyncKey(ctx context.Context, p *Pair, key string, repairs chan<- repair, rep *ResyncReport, mu *sync.Mutex) error {
	ps, pn, err := readSide(ctx, p.Store, key)
	if err != nil {
		return err
	}
	rs, rn, err := readSide(ctx, p.Replica, key)
	if err != nil {
		return err
	}
	v := judge(ps, rs)
	mu.Lock()
	rep.Bytes += pn + rn
	if ps.present && rs.present {
		rep.Checked++
	}
	count(rep, v, ps, rs)
	mu.Unlock()
	if v == inSync || v == unresolved {
		if v == unresolved {
			r.log.Error("re-sync: copies differ and neither can be trusted; left as they are", "bucket", p.Store.String(), "key", key,
				"store_md5", ps.md5, "replica_md5", rs.md5)
		}
		return nil
	}
	done := make(chan error, 1)
	select {
	case repairs <- repair{pair: p, key: key, v: v, etag: ps.etag, outdated: !rs.present || outdated(ps, rs), done: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err = <-done
	mu.Lock()
	defer mu.Unlock()
	if err != nil && !errors.Is(err, backup.ErrChanged) {
		rep.Failed++
		r.log.Warn("re-sync: repair failed", "bucket", p.Store.String(), "key", key, "repair", v.String(), "err", err)
		return nil
	}
	rep.Repaired++
	return nil
}

// outdated reports whether the replica's copy rs is of another version
// than the store's ps.
func outdated(ps, rs side) bool {
	if rs.source != "" {
		return rs.source != ps.etag
	}
	return rs.etag != ps.etag
}

// count adds an object's finding to the report.
func count(rep *ResyncReport, v verdict, ps, rs side) {
	switch {
	case v == unresolved:
		rep.Unresolved++
	case v == deleteReplica:
		rep.Extra++
	case v == copyToReplica && !rs.present:
		rep.Missing++
	case v == copyToReplica && outdated(ps, rs):
		rep.Stale++
	case v == copyToReplica:
		rep.DamagedReplica++
	case v == restorePrimary:
		rep.DamagedStore++
	}
}

// readSide reads key from b in full, hashing it; an absent key is a side
// not present. It returns the bytes read.
func readSide(ctx context.Context, b *backup.S3Bucket, key string) (side, int64, error) {
	rc, obj, err := b.Get(ctx, key)
	if errors.Is(err, backup.ErrNotFound) {
		return side{}, 0, nil
	}
	if err != nil {
		return side{}, 0, err
	}
	defer rc.Close()
	h := md5.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return side{}, n, fmt.Errorf("read %s from %s: %w", key, b, err)
	}
	return side{present: true, etag: obj.ETag, md5: hex.EncodeToString(h.Sum(nil)),
		source: obj.Meta.User[metaSourceETag], recorded: obj.Meta.User[metaMD5]}, n, nil
}

// logResync logs a finished re-sync.
func (r *Replicator) logResync(rep ResyncReport) {
	attrs := []any{"reason", rep.Reason, "took", rep.Finished.Sub(rep.Started).Round(time.Millisecond).String(),
		"checked", rep.Checked, "bytes", rep.Bytes, "missing", rep.Missing, "extra", rep.Extra, "stale", rep.Stale,
		"damaged_replica", rep.DamagedReplica, "damaged_store", rep.DamagedStore, "unresolved", rep.Unresolved,
		"repaired", rep.Repaired, "failed", rep.Failed}
	switch {
	case rep.Err != "":
		r.log.Warn("re-sync incomplete", append(attrs, "err", rep.Err)...)
	case rep.DamagedReplica+rep.DamagedStore+rep.Unresolved > 0:
		r.log.Warn("re-sync found damaged objects", attrs...)
	default:
		r.log.Info("re-sync done", attrs...)
	}
}
