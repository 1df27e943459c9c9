package node

import (
	"context"
	"errors"
	"sync"
)

// errStopping is returned for work asked of a node that is stopping.
var errStopping = errors.New("the node is stopping")

// tasks runs the node's long operations that outlive the admin request
// that started them (deploys): they end when the node stops, and the node
// waits for them.
type tasks struct {
	mu      sync.Mutex      // guards the fields below
	ctx     context.Context // set by begin; nil before
	stopped bool
	wg      sync.WaitGroup // Add under mu while !stopped
}

// begin lets tasks start; they get ctx, which the node cancels to stop them.
func (t *tasks) begin(ctx context.Context) {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
}

// start runs f in a new goroutine, or fails if the node is not running.
func (t *tasks) start(f func(ctx context.Context)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil || t.stopped {
		return errStopping
	}
	ctx := t.ctx
	t.wg.Go(func() { f(ctx) })
	return nil
}

// wait refuses new tasks and waits for the running ones, whose context
// the caller has cancelled.
func (t *tasks) wait() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.wg.Wait()
}
