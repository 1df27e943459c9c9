package apprun

import (
	"context"
	"sync"
)

// tasks runs an app's long operations that outlive the request that
// started them (deploys): they get a context the tasks own, which stop
// cancels, and stop waits for them.
type tasks struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards stopped and wg.Add
	stopped bool
	wg      sync.WaitGroup
}

func newTasks() *tasks {
	ctx, cancel := context.WithCancel(context.Background())
	return &tasks{ctx: ctx, cancel: cancel}
}

// start runs f in a new goroutine, or fails once stop was called.
func (t *tasks) start(f func(ctx context.Context)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return ErrStopping
	}
	t.wg.Go(func() { f(t.ctx) })
	return nil
}

// stop refuses new tasks, cancels the running ones and waits for them.
func (t *tasks) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}
