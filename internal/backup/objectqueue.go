package backup

import (
	"context"
	"sync"
)

// A bucket's snapshot copies small objects a few at a time: most of the
// time of a small object's copy is two round trips to the stores. An
// object larger than smallObject is copied alone, after every earlier
// one, so that one large object's parts are in memory at a time.
const (
	copyWorkers = 4
	smallObject = 1 << 20
)

// objectQueue hands a snapshot's entries to emit in the order they were
// added (the index is in key order) while the copies of small objects
// among them run concurrently. Its owner calls flush(true) at the end,
// and wait after cancelling ctx on a failure.
type objectQueue struct {
	ctx   context.Context // the snapshot's: cancelled by the owner on a failure
	emit  func(*queued) error
	sem   chan struct{}
	wg    sync.WaitGroup
	queue []*queued // the owner's goroutine only
}

// queued is an entry of a bucket's snapshot: one that needs no copy, or
// an object being copied (done closed once it ended).
type queued struct {
	key    string
	fresh  bool          // copied by this snapshot rather than shared with the previous one
	done   chan struct{} // nil: ready
	e      BucketEntry
	copied bool // false: deleted since it was listed
	err    error
}

func newObjectQueue(ctx context.Context, emit func(*queued) error) *objectQueue {
	return &objectQueue{ctx: ctx, emit: emit, sem: make(chan struct{}, copyWorkers)}
}

// push adds an entry that needs no copy.
func (q *objectQueue) push(it *queued) error {
	q.queue = append(q.queue, it)
	return q.flush(false)
}

// copy adds the object fn copies: in the background when small, else
// here, once every earlier entry has been emitted.
func (q *objectQueue) copy(it *queued, small bool, fn func(context.Context) (BucketEntry, bool, error)) error {
	if !small {
		if err := q.flush(true); err != nil {
			return err
		}
		it.e, it.copied, it.err = fn(q.ctx)
		return q.push(it)
	}
	select {
	case q.sem <- struct{}{}:
	case <-q.ctx.Done():
		return q.ctx.Err()
	}
	it.done = make(chan struct{})
	q.queue = append(q.queue, it)
	q.wg.Go(func() {
		defer func() { <-q.sem; close(it.done) }()
		it.e, it.copied, it.err = fn(q.ctx)
	})
	return q.flush(false)
}

// flush emits the entries at the head of the queue whose copies ended;
// with all, it waits for every one.
func (q *objectQueue) flush(all bool) error {
	for len(q.queue) > 0 {
		it := q.queue[0]
		if it.done != nil {
			if all {
				<-it.done
			} else {
				select {
				case <-it.done:
				default:
					return nil
				}
			}
		}
		q.queue = q.queue[1:]
		if err := q.emit(it); err != nil {
			return err
		}
	}
	return nil
}

// wait waits for the copies in flight.
func (q *objectQueue) wait() { q.wg.Wait() }
