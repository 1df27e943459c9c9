package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/cluster"
)

// openTimeout bounds founding, joining or rejoining the cluster at start.
const openTimeout = 2 * time.Minute

// Run starts the node and serves until ctx ends; then it drains the edge,
// stops the instances and returns. A part failing to start stops the parts
// already started.
func (n *Node) Run(ctx context.Context) error {
	defer n.stopTracing() // last: the spans of the drained requests are sent
	n.started = time.Now()
	defer n.audit.Close() // after the admin API has stopped: parts.Wait below
	if err := n.listen(ctx); err != nil {
		return err
	}
	defer n.peers.CloseIdleConnections()
	defer n.cl.Close() // after every part that uses it has stopped
	if n.database != nil {
		defer n.database.store.Close()
	}

	// The supervisor and balancers outlive ctx: they must keep serving
	// while the edge drains, and stop only after it.
	partsCtx, stopParts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParts()
	var parts sync.WaitGroup
	var partsErr error
	var errMu sync.Mutex
	run := func(name string, f func(context.Context) error) {
		parts.Go(func() {
			if err := f(partsCtx); err != nil {
				errMu.Lock()
				partsErr = errors.Join(partsErr, fmt.Errorf("%s: %w", name, err))
				errMu.Unlock()
				stopParts()
			}
		})
	}
	n.presence = apprun.NewPresence(n.apps, n.st.Cluster.Node, n.registry(), n.view, n.changed, n.log.With("part", "cluster"))
	run("supervisor", n.sup.Run)
	for _, a := range n.apps.Apps() {
		run("balancer "+a.Name(), a.Pool().Run)
	}
	if n.cache != nil {
		run("cache", n.cache.Run)
	}
	run("admin", n.admin.Run)
	run("apps", n.apps.Run)
	run("cluster", n.cl.Run)
	run("registry", n.reg.Run)
	run("cluster view", n.view.Run)
	run("purge log", n.purges.Run)
	run("presence", n.presence.Run)
	run("alerts", n.alerts.Run)
	if n.database != nil {
		n.database.run(run)
	}

	env, err := n.appEnv(ctx)
	if err == nil {
		err = n.apps.Start(ctx, env)
	}
	if err != nil {
		stopParts()
		n.edge.Close()
		parts.Wait()
		return err
	}
	n.runLater(ctx, run)
	n.purges.AwaitCaughtUp(ctx)
	n.log.Info("node started", "node", n.st.Cluster.Node, "zone", n.st.Cluster.Zone, "apps", len(n.apps.Apps()))

	// Serve until ctx ends or a part fails.
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()
	go func() {
		select {
		case <-partsCtx.Done():
			stopEdge()
		case <-edgeCtx.Done():
		}
		n.presence.Leave() // other nodes stop sending requests here while the edge drains
	}()
	edgeErr := n.edge.Run(edgeCtx)

	n.log.Info("stopping instances")
	stopParts()
	parts.Wait()
	n.log.Info("node stopped")
	return errors.Join(edgeErr, partsErr)
}

// listen binds the edge and admin listeners, opens the control plane and
// prepares the admin API's state; on a failure it closes what it opened.
func (n *Node) listen(ctx context.Context) error {
	if err := n.edge.Listen(); err != nil {
		return err
	}
	if err := n.admin.Listen(); err != nil {
		n.edge.Close()
		return err
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	err := n.cl.Open(octx)
	if err != nil {
		err = fmt.Errorf("open cluster: %w", err)
	} else if err = n.prepareAdmin(ctx); err == nil { // the tokens live in the cluster
		err = n.openDatabase() // its certificates are the cluster's
	}
	if err != nil {
		n.edge.Close()
		n.admin.Close()
		n.cl.Close()
	}
	return err
}

// registry is this node's registration, now that its listeners are bound.
func (n *Node) registry() *cluster.Registry {
	n.reg = n.cl.Registry(cluster.NodeInfo{
		Name: n.st.Cluster.Node, Zone: n.st.Cluster.Zone, Site: n.st.Cluster.Site,
		Version: n.opts.Version, NodeAddr: n.cl.NodeAddr(), Edge: n.edgeAddr(), Admin: n.admin.Addr().String(),
		Started: n.started,
	})
	return n.reg
}

// runLater starts the parts that run once the apps have started: jobs
// and uptime checks.
func (n *Node) runLater(ctx context.Context, run func(string, func(context.Context) error)) {
	if n.jobs != nil {
		if err := os.MkdirAll(filepath.Join(n.st.Cluster.DataDir, "jobs"), 0o700); err != nil {
			n.log.Error("jobs not run: create their directory", "err", err)
		} else {
			run("jobs", n.jobs.Run)
		}
	}
	if n.checks != nil {
		// The checks stop as soon as the node begins to stop: its own edge
		// draining is no outage to alert about.
		run("checks", func(pc context.Context) error {
			cctx, cancel := context.WithCancel(pc)
			defer cancel()
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			return n.checks.Run(cctx)
		})
	}
}

// appEnv is the environment of every app process: the node's, where the
// app sends its purges, and where its database is.
func (n *Node) appEnv(ctx context.Context) ([]string, error) {
	env := slices.Clip(n.opts.Environ)
	if purge := n.purgeURL(); purge != "" {
		env = append(env, "TANDEM_PURGE_URL="+purge)
	}
	if n.database != nil {
		db, err := n.database.env(ctx, n.postgres())
		if err != nil {
			return nil, err
		}
		env = append(env, db...)
	}
	return env, nil
}

// purgeURL is where an app sends PURGE requests: this node's edge over
// loopback. Empty when the edge serves no plain HTTP.
func (n *Node) purgeURL() string {
	for _, a := range n.edge.Addrs() {
		tcp, ok := a.(*net.TCPAddr)
		if !ok {
			continue
		}
		host := "127.0.0.1" // the edge listens on every address: loopback is one
		if !tcp.IP.IsUnspecified() {
			host = tcp.IP.String()
		}
		return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port)) + "/"
	}
	return ""
}

// edgeAddr is the edge's first listen address, for status pages.
func (n *Node) edgeAddr() string {
	for _, a := range n.edge.Addrs() {
		return a.String()
	}
	return ""
}
