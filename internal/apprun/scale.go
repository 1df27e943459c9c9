package apprun

import (
	"context"
	"fmt"
	"slices"
)

// This file scales the app on this node at run time: the sites start a
// critical app's emergency instances on a follower site, and stop them
// when the emergency ends.

// maxScale bounds Scale as the stack file bounds instances.
const maxScale = 256

// wantInstances is how many instances the app runs here.
func (a *App) wantInstances() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.want
}

// Scale makes the app run n instances on this node: it starts the
// missing ones of the current release at once (they take requests once
// healthy) and retires the extra ones in the background, each drained
// first. The count holds for later deploys until the next Scale or a
// restart (which reads the stack file again). Before Start it only sets
// the count Start uses. It fails with ErrConflict while a deploy runs
// here: the caller tries again once it has ended.
func (a *App) Scale(ctx context.Context, n int) error {
	if n < 0 || n > maxScale {
		return fmt.Errorf("scale %s: %w: %d instances is not within 0..%d", a.name, ErrInvalid, n, maxScale)
	}
	a.mu.Lock()
	if a.deploy != nil {
		a.mu.Unlock()
		return fmt.Errorf("scale %s: %w: a deploy is in progress", a.name, ErrConflict)
	}
	old := a.want
	a.want = n
	if !a.started {
		a.mu.Unlock()
		return nil
	}
	rel, ok := a.state.CurrentRelease()
	var live []string
	for _, in := range a.instances {
		if !in.retiring {
			live = append(live, in.name)
		}
	}
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("scale %s: %w: it has no release yet", a.name, ErrConflict)
	}
	if n != old || n != len(live) {
		a.log.Info("app scaled", "from", len(live), "to", n)
	}
	for range n - len(live) {
		if _, err := a.startInstance(ctx, rel); err != nil {
			return fmt.Errorf("scale %s: %w", a.name, err)
		}
	}
	if len(live) > n {
		extra := slices.Clone(live[n:]) // the newest go first
		slices.Reverse(extra)
		return a.tasks.start(func(ctx context.Context) {
			for _, name := range extra {
				if err := a.retireInstance(ctx, name, a.opts.Drain); err != nil {
					a.log.Warn("scale down", "instance", name, "err", err)
				}
			}
		})
	}
	return nil
}
