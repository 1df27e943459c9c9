package apprun

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tandem-run/tandem/internal/supervise"
)

// Set is the apps of the stack on this node, in the stack file's order.
type Set struct {
	apps []*App
}

// NewSet returns the set of apps.
func NewSet(apps ...*App) *Set { return &Set{apps: apps} }

// Apps returns the apps, in the stack file's order.
func (s *Set) Apps() []*App { return s.apps }

// App returns the app called name; the error wraps ErrNotFound.
func (s *Set) App(name string) (*App, error) {
	i := slices.IndexFunc(s.apps, func(a *App) bool { return a.name == name })
	if i < 0 {
		names := make([]string, len(s.apps))
		for j, a := range s.apps {
			names[j] = a.name
		}
		return nil, fmt.Errorf("%w: no app %q on this node (apps: %s)", ErrNotFound, name, strings.Join(names, ", "))
	}
	return s.apps[i], nil
}

// OnProcessEvent routes an event of the supervisor to its app; give it
// as the supervisor's OnEvent.
func (s *Set) OnProcessEvent(ev supervise.Event) {
	for _, a := range s.apps {
		if a.name == ev.App {
			a.onProcessEvent(ev)
		}
	}
}

// Start starts every app's instances with env as the base of their
// environment (see App.Start).
func (s *Set) Start(ctx context.Context, env []string) error {
	for _, a := range s.apps {
		if err := a.Start(ctx, env); err != nil {
			return err
		}
	}
	return nil
}

// Run runs every app (App.Run) until ctx ends, and returns once they all
// have returned.
func (s *Set) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, a := range s.apps {
		wg.Go(func() { a.Run(ctx) })
	}
	wg.Wait()
	return nil
}
