package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// reserveFile is the space reserve's name under DataDir.
const reserveFile = "space-reserve"

// memberStartTimeout bounds one attempt of the disk loop to start the
// member again; a member of a larger cluster needs a quorum of it to
// become ready.
const memberStartTimeout = 30 * time.Second

// wakeDiskLoop makes the disk loop check at once; a write was refused for
// space, and the member may still be running.
func (c *Cluster) wakeDiskLoop() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// etcdFailed receives a fatal error of etcd (see fatalHook), from the
// goroutine that is about to end; the disk loop marks the member failed.
func (c *Cluster) etcdFailed(err error) {
	select {
	case c.fatal <- err:
	default: // one is pending: the first cause is the one to tell
	}
}

// diskLoop measures DataDir's free space every diskEvery, and when a
// write was refused, and keeps the embedded member running while there
// is room: it stops the member below the floor and starts it again above;
// it also restarts a member whose listener failed and marks one failed on
// a fatal error of etcd. It returns when ctx ends.
func (c *Cluster) diskLoop(ctx context.Context) {
	t := time.NewTicker(c.diskEvery)
	defer t.Stop()
	for {
		var errc <-chan error
		var stopped <-chan struct{}
		if c.member != nil {
			errc, stopped = c.member.channels()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.wake:
		case err := <-c.fatal:
			c.memberFailed(err)
		case err, ok := <-errc:
			if ok {
				c.logs.Error("etcd listener failed; restarting the member", "err", err)
				c.stopMember(fmt.Errorf("etcd listener failed: %w", err))
			}
		case <-stopped:
			if c.isClosed() || ctx.Err() != nil {
				return
			}
			c.memberFailed(errors.New("etcd member stopped: this node was removed from the cluster or etcd failed (see the log)"))
		}
		c.tendDisk(ctx)
	}
}

// memberFailed marks the member failed for good and says so.
func (c *Cluster) memberFailed(err error) {
	if c.member == nil || c.isClosed() {
		return
	}
	if errors.Is(err, errEtcdFatal) {
		err = fmt.Errorf("%w; restart tandem to start it again once the cause is gone", err)
	}
	if !c.member.fail(err) {
		return
	}
	c.log.Error("etcd member failed: the control plane is down on this node; the edge keeps serving from its last view", "err", err)
}

// tendDisk measures the free space and acts on it: below the floor it
// releases the space reserve when the disk is nearly full and stops the
// member; above it, it makes the reserve again when there is room and
// starts a stopped member.
func (c *Cluster) tendDisk(ctx context.Context) {
	h := c.guard.check()
	if c.member == nil || h.Err != "" {
		return
	}
	if h.Low {
		if c.reserve.size > 0 && h.Free < c.reserve.size && c.reserve.present() {
			if err := c.reserve.release(); err != nil {
				c.logs.Error("space reserve not released", "err", err)
			} else {
				c.log.Warn("space reserve released for etcd: the disk is nearly full", "dir", c.opts.DataDir, "free", formatBytes(h.Free), "reserve", formatBytes(c.reserve.size))
			}
		}
		why := &DiskLowError{Dir: h.Dir, Free: h.Free, Floor: h.Floor}
		if c.stopMember(fmt.Errorf("etcd member stopped: %w", why)) {
			c.log.Warn("etcd member stopped: data_dir is below its floor; it starts again when space is freed", "dir", h.Dir, "free", formatBytes(h.Free), "floor", formatBytes(h.Floor))
		}
		return
	}
	if c.reserve.size > 0 && h.Free-c.reserve.size >= c.guard.resume && !c.reserve.present() {
		if err := c.reserve.create(); err != nil {
			c.logs.Warn("space reserve not made", "err", err)
		}
	}
	switch state, e := c.member.current(); state {
	case memberStopped:
		c.startMember(ctx)
	case memberRunning:
		c.disarmNoSpace(ctx, e)
	}
}

// stopMember stops the running member for why, and marks it failed if
// it does not stop; it reports whether the member stopped.
func (c *Cluster) stopMember(why error) bool {
	// etcd reports its listeners closing as errors, as it does when the
	// node stops.
	c.stopping.Store(true)
	was, err := c.member.stop(why)
	c.stopping.Store(c.isClosed())
	if err != nil {
		c.memberFailed(err)
		return false
	}
	return was
}

// startMember starts the stopped member again, within
// memberStartTimeout; a failure is tried again at the next check.
func (c *Cluster) startMember(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, memberStartTimeout)
	defer cancel()
	if err := c.member.start(sctx); err != nil {
		if ctx.Err() == nil {
			c.logs.Warn("etcd member not started again; retrying", "err", err)
		}
		return
	}
	c.log.Info("etcd member started again")
}

// logDiskChange logs that DataDir crossed its floor.
func (c *Cluster) logDiskChange(h DiskHealth) {
	if h.Low {
		c.log.Warn("data_dir is below its floor: control-plane writes refused; the edge keeps serving from its last view",
			"dir", h.Dir, "free", formatBytes(h.Free), "floor", formatBytes(h.Floor))
		return
	}
	c.log.Info("data_dir has room again: control-plane writes resume", "dir", h.Dir, "free", formatBytes(h.Free), "floor", formatBytes(h.Floor))
}
