package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/handover"
)

// This file upgrades a node's tandem binary in place, as nginx upgrades
// its binary and HAProxy reloads: the running binary checks the new one,
// stops accepting (the listening sockets stay open, so connections wait in
// the kernel's backlog), lets the requests in flight finish, hands its
// instances over without stopping them, closes its etcd member and
// execve's the new binary in the same process: the instances stay its
// children. The new binary takes the listeners and instances over (see
// internal/handover) and serves. If the exec fails, this process takes the node
// over again in the same way; if the new binary cannot take the node
// over, it execs this one back (Handover.FallBack).

// defaultUpgradeDrain bounds the wait for the requests in flight when the
// upgrade asks for no bound: new connections wait in the backlog
// meanwhile.
const defaultUpgradeDrain = 10 * time.Second

// errUpgrading is why the admin API refuses changes during an upgrade.
var errUpgrading = errors.New("this node is being upgraded; try again once `tandem status` shows the new version")

// upgradeJob is an upgrade Upgrade accepted, for Run to carry out.
type upgradeJob struct {
	status admin.UpgradeStatus
	drain  time.Duration
}

// Upgrade checks the binary req names and, if it will do, has Run hand
// the node over to it; it returns at once (admin.Upgrader). It refuses
// (admin.ErrConflict) while an upgrade, a deploy or a job runs or an app
// is paused, or when the node runs no keeper; and (admin.ErrBadRequest)
// a binary that does not run here, does not speak this handover format,
// or does not accept the stack file.
func (n *Node) Upgrade(ctx context.Context, req admin.UpgradeRequest) (admin.UpgradeStatus, error) {
	binary := cmp.Or(req.Binary, n.opts.Keeper)
	drain := cmp.Or(req.Drain, defaultUpgradeDrain)
	switch {
	case n.opts.Keeper == "":
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrConflict, "upgrade: this node runs without a keeper, which an upgrade needs to keep the instances' processes in check")
	case !filepath.IsAbs(binary):
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrBadRequest, "upgrade: binary %q: must be an absolute path on the node", binary)
	case drain < 0:
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrBadRequest, "upgrade: drain %s: must not be negative", drain)
	case !n.upgrading.CompareAndSwap(false, true):
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrConflict, "upgrade: an upgrade of this node is in progress")
	}
	st, err := n.checkUpgrade(ctx, binary)
	if err != nil {
		n.upgrading.Store(false)
		return admin.UpgradeStatus{}, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	st.ID, st.Who, st.Started, st.Result = hex.EncodeToString(id), req.Who, time.Now(), admin.UpgradeRunning
	select {
	case n.upgrades <- upgradeJob{status: st, drain: drain}:
	case <-ctx.Done():
		n.upgrading.Store(false)
		return admin.UpgradeStatus{}, fmt.Errorf("upgrade: %w", ctx.Err())
	}
	return st, nil
}

// checkUpgrade checks that nothing the upgrade would cut runs, and that
// binary runs here, speaks this handover format and accepts the stack
// file; it returns the upgrade to it.
func (n *Node) checkUpgrade(ctx context.Context, binary string) (admin.UpgradeStatus, error) {
	if err := n.handoverCheck(); err != nil {
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrConflict, "upgrade: %v", err)
	}
	version, err := handover.CheckBinary(ctx, binary, n.st.File)
	if err != nil {
		return admin.UpgradeStatus{}, admin.Errorf(admin.ErrBadRequest, "upgrade: %v", err)
	}
	return admin.UpgradeStatus{From: n.opts.Version, To: version, Binary: binary}, nil
}

// handoverCheck returns what a handover would cut now, nil if nothing.
func (n *Node) handoverCheck() error {
	for _, a := range n.apps.Apps() {
		if err := a.HandoverCheck(); err != nil {
			return err
		}
	}
	if n.jobs != nil {
		for _, j := range n.jobs.Status() {
			if j.Running != nil {
				return fmt.Errorf("job %s is running; upgrade once it has ended", j.Name)
			}
		}
	}
	return nil
}

// handOver carries out an upgrade Run received: see the file's comment.
// It returns the handover for the new binary, or nil if the node goes on
// serving (the upgrade failed before the edge stopped accepting: it is
// recorded as failed), or an error if the node must stop (it failed
// after: the edge no longer serves).
func (n *Node) handOver(ctx context.Context, job upgradeJob, p *parts) (*handover.Handover, error) {
	st := job.status
	n.setUpgrade(st)
	h, err := n.prepareHandover(st)
	if err != nil {
		n.admin.Refuse(nil)
		n.upgrading.Store(false)
		st.Result, st.Error, st.Finished = admin.UpgradeFailed, err.Error(), time.Now()
		n.setUpgrade(st)
		n.log.Error("upgrade failed; the node goes on serving", "to", st.To, "binary", st.Binary, "err", err)
		return nil, nil
	}
	n.log.Info("upgrade: handing the node over", "from", st.From, "to", st.To, "binary", st.Binary, "drain", job.drain.String())
	p.stopEarly() // no deploy, restart or job starts from now on
	if err := n.edge.Handover(ctx, job.drain); err != nil {
		h.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if err := ctx.Err(); err != nil {
		h.Close()
		return nil, fmt.Errorf("upgrade: the node was asked to stop while it drained: %w", err)
	}
	var healthy []string
	for _, a := range n.apps.Apps() {
		healthy = append(healthy, a.Healthy()...)
	}
	procs, err := n.sup.Handover()
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("upgrade: hand the instances over: %w", err)
	}
	h.SetInstances(procs, healthy)
	n.handingOver.Store(true) // the node is not leaving the cluster: no Leave
	n.reg.Keep()
	p.stop()
	p.wait()
	return h, nil
}

// prepareHandover takes what can fail before anything stops: duplicates
// of the listening sockets, the binary running now (for a fallback), and
// the admin API refusing changes with nothing running that the handover
// would cut.
func (n *Node) prepareHandover(st admin.UpgradeStatus) (*handover.Handover, error) {
	h, err := handover.New(st, n.opts.Args)
	if err != nil {
		return nil, err
	}
	if err := n.holdListeners(h); err != nil {
		h.Close()
		return nil, err
	}
	n.admin.Refuse(errUpgrading)
	if err := n.handoverCheck(); err != nil { // started since the upgrade was checked
		h.Close()
		return nil, err
	}
	return h, nil
}

// holdListeners adds duplicates of every listening socket to h.
func (n *Node) holdListeners(h *handover.Handover) error {
	files, err := n.edge.ListenerFiles()
	if err != nil {
		return err
	}
	addrs := n.edgeAddrs()
	for name, f := range files {
		h.Add(handover.EdgeListener(name), f, addrs[name])
	}
	f, err := n.admin.ListenerFile()
	if err != nil {
		return err
	}
	h.Add(handover.ListenerAdmin, f, n.st.Admin.Listen)
	if f, err = n.cl.NodeListenerFile(); err != nil {
		return err
	}
	h.Add(handover.ListenerNode, f, n.nodeListenAddr())
	return nil
}

// nodeListenAddr is the address the node listener is bound for, as the
// stack file gives it.
func (n *Node) nodeListenAddr() string {
	return net.JoinHostPort(n.st.Cluster.Advertise, strconv.Itoa(n.st.Cluster.NodePort))
}

// setUpgrade records the upgrade for status.
func (n *Node) setUpgrade(st admin.UpgradeStatus) {
	n.upMu.Lock()
	defer n.upMu.Unlock()
	n.upgrade = &st
}

// upgradeStatus returns the last upgrade; nil if none.
func (n *Node) upgradeStatus() *admin.UpgradeStatus {
	n.upMu.Lock()
	defer n.upMu.Unlock()
	if n.upgrade == nil {
		return nil
	}
	st := *n.upgrade
	return &st
}

// HandedOver returns the handover Run made when it returned after an
// upgrade, nil if it returned otherwise. Serve execs it.
func (n *Node) HandedOver() *handover.Handover { return n.handedOver }

// Serve runs a node built from opts until ctx ends, as Run does, and
// carries out its upgrades: when Run hands the node over, Serve execs the
// new binary, and returns only if that failed, after which this process
// takes the node over again (the upgrade recorded as failed) and serves
// on. With opts.Handover, a node that cannot take over falls back to the
// binary that handed over (Handover.FallBack).
func Serve(ctx context.Context, opts Options) error {
	for {
		n, err := New(opts)
		if err == nil {
			err = n.Run(ctx)
		}
		var h *handover.Handover
		if n != nil {
			h = n.HandedOver()
		}
		if h == nil {
			if opts.Handover != nil && (n == nil || !n.tookOver) {
				return opts.Handover.FallBack(err, opts.Environ)
			}
			return err
		}
		err = h.Exec(opts.Stack.Cluster.DataDir, opts.Environ)
		opts.Logger.Error("upgrade failed: the new binary could not be run; this process takes the node over again", "err", err)
		h.Failed(err)
		opts.Handover = h
	}
}
