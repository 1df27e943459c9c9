package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// parts runs the node's parts, each in a goroutine of its own, under a
// context that outlives the node's: the supervisor and balancers must
// keep serving while the edge drains, and stop only after it. A part that
// fails stops them all. Some parts also stop early, on their own, when
// the node hands over to a new binary (stopEarly): those that would start
// work the handover must not cut.
type parts struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex           // guards the fields below
	err   error                // the parts' failures
	early []context.CancelFunc // stop the parts run with runEarly
}

func newParts(ctx context.Context) *parts {
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &parts{ctx: pctx, cancel: cancel}
}

// run runs part name until the parts stop.
func (p *parts) run(name string, f func(context.Context) error) {
	p.runWith(p.ctx, name, f)
}

// runEarly runs part name until the parts stop or stopEarly is called.
func (p *parts) runEarly(name string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	p.early = append(p.early, cancel)
	p.mu.Unlock()
	p.runWith(ctx, name, f)
}

func (p *parts) runWith(ctx context.Context, name string, f func(context.Context) error) {
	p.wg.Go(func() {
		if err := f(ctx); err != nil {
			p.mu.Lock()
			p.err = errors.Join(p.err, fmt.Errorf("%s: %w", name, err))
			p.mu.Unlock()
			p.cancel()
		}
	})
}

// stopEarly stops the parts run with runEarly; it does not wait.
func (p *parts) stopEarly() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cancel := range p.early {
		cancel()
	}
}

// stop stops every part; it does not wait.
func (p *parts) stop() { p.cancel() }

// done is closed once the parts are stopping: stop was called, or a part
// failed.
func (p *parts) done() <-chan struct{} { return p.ctx.Done() }

// wait waits until every part has returned, and returns their failures.
func (p *parts) wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
