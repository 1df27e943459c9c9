// Package node is tandem's composition root: it turns a validated stack
// file into each part's Options, starts the parts in order (listeners
// first, so a busy port fails before anything runs; then the supervisor,
// balancers and instances; then the edge and admin API) and stops them in
// reverse: the edge drains in-flight requests before any instance is asked
// to stop.
package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/supervise"
)

// Options configure a Node.
type Options struct {
	// Stack is the validated stack file.
	Stack *config.Stack
	// Logger receives tandem's own log and the apps' output.
	Logger *slog.Logger
	// AccessLog receives the edge's access log; nil disables it.
	AccessLog io.Writer
	// Environ is the environment the apps inherit (normally os.Environ());
	// the stack file's env, PORT and TANDEM_* are added to it.
	Environ []string
	// Version is reported in status.
	Version string
}

// Node is one tandem process: the parts of a stack running on one machine.
type Node struct {
	opts    Options
	st      *config.Stack
	log     *slog.Logger
	sup     *supervise.Supervisor
	edge    *edge.Server
	admin   *admin.Server
	apps    []*app
	started time.Time
}

// app is one app of the stack on this node: its instances and its pool.
type app struct {
	name      string
	cfg       *config.App
	pool      *balance.Pool
	mu        sync.Mutex // guards the fields below
	instances []*instance
}

// instance is one supervised process and its balancer target.
type instance struct {
	name string
	addr string
	proc *supervise.Instance
	// unhealthySince is when the balancer last saw the instance turn
	// unhealthy; zero while it is healthy or starting. Guarded by app.mu.
	unhealthySince time.Time
}

// New builds a node from opts. It starts nothing and binds nothing.
func New(opts Options) (*Node, error) {
	if opts.Stack == nil {
		return nil, errors.New("new node: no stack")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st := opts.Stack
	n := &Node{opts: opts, st: st, log: opts.Logger}

	sup, err := supervise.New(supervise.Options{Logger: n.log, OnEvent: n.onProcessEvent})
	if err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	n.sup = sup

	upstreams := make(map[string]http.RoundTripper)
	for _, name := range st.AppNames {
		a, err := n.newApp(name, st.Apps[name])
		if err != nil {
			return nil, fmt.Errorf("new node: %w", err)
		}
		n.apps = append(n.apps, a)
		upstreams[name] = a.pool
	}

	if n.edge, err = edge.New(edgeOptions(st, upstreams, opts.AccessLog, n.log)); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	if n.admin, err = admin.New(admin.Options{Listen: st.Admin.Listen, Status: n.status, Logger: n.log}); err != nil {
		return nil, fmt.Errorf("new node: %w", err)
	}
	return n, nil
}
