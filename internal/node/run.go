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
	"time"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/storage"
	"github.com/tandem-run/tandem/internal/supervise"
)

// openTimeout bounds founding, joining or rejoining the cluster at start.
const openTimeout = 2 * time.Minute

// Run starts the node and serves until ctx ends; then it drains the edge,
// stops the instances and returns. A part failing to start stops the parts
// already started. With Options.Handover it takes the listeners and
// instances of the binary that ran the node before over; after an upgrade
// (Upgrade) it returns nil with the node handed over (HandedOver) and its
// instances running.
func (n *Node) Run(ctx context.Context) error {
	defer n.stopTracing() // last: the spans of the drained requests are sent
	n.started = time.Now()
	defer n.audit.Close() // after the admin API has stopped: parts.wait below
	if err := n.listen(ctx); err != nil {
		return err
	}
	defer n.peers.CloseIdleConnections()
	defer n.cl.Close() // after every part that uses it has stopped
	if n.database != nil {
		defer n.database.store.Close()
	}

	p := newParts(ctx)
	defer p.stop()
	n.presence = apprun.NewPresence(n.apps, n.st.Cluster.Node, n.registry(), n.view, n.changed, n.log.With("part", "cluster"))
	n.tookOver = true // from here on the instances are this node's
	p.run("supervisor", n.sup.Run)
	for _, a := range n.apps.Apps() {
		p.run("balancer "+a.Name(), a.Pool().Run)
	}
	for name, pool := range n.upstreams {
		p.run("upstream "+name, pool.Run)
	}
	if n.cache != nil {
		p.run("cache", n.cache.Run)
	}
	p.run("admin", n.admin.Run)
	p.runEarly("apps", n.apps.Run)
	p.run("cluster", n.cl.Run)
	p.run("registry", n.reg.Run)
	p.run("cluster view", n.view.Run)
	p.run("purge log", n.purges.Run)
	p.run("presence", n.presence.Run)
	p.run("alerts", n.alerts.Run)
	if n.database != nil {
		n.database.run(p.run)
	}
	if n.sites != nil {
		n.sites.run(p.run)
	}
	n.clients.run(p.run)
	if n.backup != nil {
		n.backup.Run(p.run, p.runEarly)
	}

	if err := n.startParts(ctx, p); err != nil {
		p.stop()
		n.closeEdge()
		return errors.Join(err, p.wait()) // a part that failed may be why
	}
	n.runLater(ctx, p)
	n.purges.AwaitCaughtUp(ctx)
	n.log.Info("node started", "node", n.st.Cluster.Node, "zone", n.st.Cluster.Zone, "apps", len(n.apps.Apps()))
	if h := n.opts.Handover; h != nil {
		u := h.Finished()
		n.setUpgrade(u)
		h.Release(n.log)
		n.log.Info("upgrade: node taken over", "from", u.From, "to", u.To, "runs", n.opts.Version, "result", u.Result,
			"took", u.Finished.Sub(u.Started).Round(time.Millisecond).String())
	}
	return n.serve(ctx, p)
}

// startParts starts the storage (the apps' buckets are in their
// environment) and then the apps.
func (n *Node) startParts(ctx context.Context, p *parts) error {
	if n.storage != nil {
		if err := n.storage.start(ctx, n, p.run); err != nil {
			return err
		}
	}
	return n.startApps(ctx)
}

// startApps starts the apps' instances, or adopts those the supervisor
// took over from the binary that ran before an upgrade (the embedded
// store's process is the storage's, adopted by it).
func (n *Node) startApps(ctx context.Context) error {
	env, err := n.appEnv(ctx)
	if err != nil {
		return err
	}
	h := n.opts.Handover
	if h == nil {
		return n.apps.Start(ctx, env)
	}
	procs := slices.DeleteFunc(n.sup.Instances(), func(in *supervise.Instance) bool { return in.Name() == storage.GatewayInstance })
	return n.apps.Adopt(ctx, env, procs, h.Healthy())
}

// serve runs the edge until ctx ends or a part fails, then stops the
// parts; or, on an upgrade, hands the node over (handOver).
func (n *Node) serve(ctx context.Context, p *parts) error {
	edgeCtx, stopEdge := context.WithCancel(ctx)
	defer stopEdge()
	go func() {
		select {
		case <-p.done():
			stopEdge()
		case <-edgeCtx.Done():
		}
		if !n.handingOver.Load() {
			n.presence.Leave() // other nodes stop sending requests here while the edge drains
		}
	}()
	edgeDone := make(chan error, 1)
	go func() { edgeDone <- n.runEdge(edgeCtx) }()
	for {
		select {
		case edgeErr := <-edgeDone:
			n.log.Info("stopping instances")
			p.stop()
			partsErr := p.wait()
			n.log.Info("node stopped")
			return errors.Join(edgeErr, partsErr)
		case job := <-n.upgrades:
			h, err := n.handOver(ctx, job, p)
			if h == nil && err == nil {
				continue // failed before anything stopped: serving on
			}
			if err == nil {
				err = <-edgeDone
			}
			if err != nil {
				n.log.Error("upgrade failed after the edge stopped accepting; stopping the node", "err", err)
				p.stop()
				return errors.Join(err, p.wait())
			}
			n.handedOver = h
			n.log.Info("upgrade: node handed over; running the new binary", "binary", h.Upgrade().Binary)
			return nil
		}
	}
}

// listen binds the edge's and admin API's listeners and the DNS
// responder's sockets, opens the control plane and prepares the admin
// API's state; on a failure it closes what it opened.
func (n *Node) listen(ctx context.Context) error {
	if n.edge != nil {
		if err := n.edge.Listen(); err != nil {
			return err
		}
	}
	if err := n.admin.Listen(); err != nil {
		n.closeEdge()
		return err
	}
	if err := n.clients.listen(); err != nil {
		n.closeEdge()
		n.admin.Close()
		return err
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	err := n.cl.Open(octx)
	if err != nil {
		err = fmt.Errorf("open cluster: %w", err)
	} else if err = n.prepareAdmin(ctx); err == nil { // the tokens live in the cluster
		if err = n.openBackup(); err == nil { // the database's members archive through it
			err = n.openDatabase() // its certificates are the cluster's
		}
	}
	if err != nil {
		n.closeEdge()
		n.admin.Close()
		n.clients.close()
		n.cl.Close()
	}
	return err
}

// runEdge serves the edge until ctx ends; a witness, without one, waits.
func (n *Node) runEdge(ctx context.Context) error {
	if n.edge == nil {
		<-ctx.Done()
		return nil
	}
	return n.edge.Run(ctx)
}

// closeEdge closes the edge's listeners, if it has an edge.
func (n *Node) closeEdge() {
	if n.edge != nil {
		n.edge.Close()
	}
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
func (n *Node) runLater(ctx context.Context, p *parts) {
	if n.jobs != nil {
		if err := os.MkdirAll(filepath.Join(n.st.Cluster.DataDir, "jobs"), 0o700); err != nil {
			n.log.Error("jobs not run: create their directory", "err", err)
		} else {
			p.runEarly("jobs", n.jobs.Run)
		}
	}
	if n.checks != nil {
		// The checks stop as soon as the node begins to stop: its own edge
		// draining is no outage to alert about; nor is a handover.
		p.runEarly("checks", func(pc context.Context) error {
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
	for _, a := range n.edgeAddrList() {
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
	for _, a := range n.edgeAddrList() {
		return a.String()
	}
	return ""
}

// edgeAddrList is the edge's listen addresses; none on a witness.
func (n *Node) edgeAddrList() []net.Addr {
	if n.edge == nil {
		return nil
	}
	return n.edge.Addrs()
}
