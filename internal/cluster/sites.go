package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The keys of sites, under <prefix>sites/:
//
//	beats/<node>   the node's site, under a short lease the node keeps alive
//	known/<node>   the node's site, kept: the sites the cluster has had,
//	               down ones included
//	emergency      the emergency declared against the leader site (JSON of
//	               the sites package), written only under quorum
//
// A beat is how the cluster knows a site is reachable: its lease expires
// when its node stops renewing it, and only etcd's leader, with a quorum
// behind it, expires leases. A node cut off from the quorum cannot make
// itself or anyone else look up or down.
const (
	sitesDir       = "sites/"
	sitesBeats     = "beats/"
	sitesKnown     = "known/"
	sitesEmergency = "emergency"
)

// DefaultBeatTTL is the lease of a node's site beat: how long after its
// node stopped reaching the quorum the beat disappears.
const DefaultBeatTTL = 3 * time.Second

func (k keyspace) sites() string                { return string(k) + sitesDir }
func (k keyspace) siteBeat(node string) string  { return k.sites() + sitesBeats + node }
func (k keyspace) siteKnown(node string) string { return k.sites() + sitesKnown + node }
func (k keyspace) siteEmergency() string        { return k.sites() + sitesEmergency }

// SitesState is what the cluster holds about its sites, read at one
// revision.
type SitesState struct {
	// Beats maps each node whose beat is live to its site.
	Beats map[string]string
	// Known maps every node that ever beat to its site, up or down.
	Known map[string]string
	// Emergency is the emergency key; Revision 0 when none is declared.
	Emergency DatabaseKey
}

// SitesState reads the beats and the emergency key in one linearizable
// read: it succeeds only while this node reaches a quorum.
func (c *Cluster) SitesState(ctx context.Context) (SitesState, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return SitesState{}, unavailable(fmt.Errorf("read sites: %w", ErrNotOpen))
	}
	keys := keyspace(c.prefix)
	resp, err := c.client.Get(ctx, keys.sites(), clientv3.WithPrefix())
	if err != nil {
		return SitesState{}, unavailable(fmt.Errorf("read sites: %w", err))
	}
	st := SitesState{Beats: make(map[string]string), Known: make(map[string]string)}
	for _, kv := range resp.Kvs {
		switch rest := strings.TrimPrefix(string(kv.Key), keys.sites()); {
		case rest == sitesEmergency:
			st.Emergency = DatabaseKey{Value: kv.Value, Lease: kv.Lease, Revision: kv.ModRevision}
		case strings.HasPrefix(rest, sitesBeats):
			if node := strings.TrimPrefix(rest, sitesBeats); node != "" {
				st.Beats[node] = string(kv.Value)
			}
		case strings.HasPrefix(rest, sitesKnown):
			if node := strings.TrimPrefix(rest, sitesKnown); node != "" {
				st.Known[node] = string(kv.Value)
			}
		}
	}
	return st, nil
}

// PutEmergency writes the emergency key if it is still at revision rev (0:
// absent); ErrConflict (wrapped) if it changed meanwhile.
func (c *Cluster) PutEmergency(ctx context.Context, value []byte, rev int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return unavailable(fmt.Errorf("put emergency: %w", ErrNotOpen))
	}
	key := keyspace(c.prefix).siteEmergency()
	resp, err := c.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(value))).Commit()
	if err != nil {
		return unavailable(fmt.Errorf("put emergency: %w", err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("put emergency: %w", ErrConflict)
	}
	return nil
}

// DeleteEmergency ends the emergency if its key is still at revision rev;
// ErrConflict (wrapped) if it changed meanwhile.
func (c *Cluster) DeleteEmergency(ctx context.Context, rev int64) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if c.client == nil {
		return unavailable(fmt.Errorf("delete emergency: %w", ErrNotOpen))
	}
	key := keyspace(c.prefix).siteEmergency()
	resp, err := c.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return unavailable(fmt.Errorf("delete emergency: %w", err))
	}
	if !resp.Succeeded {
		return fmt.Errorf("delete emergency: %w", ErrConflict)
	}
	return nil
}

// WatchSites notifies of changes to the beats and the emergency key, as
// WatchRecords does.
func (c *Cluster) WatchSites(ctx context.Context) <-chan struct{} {
	return c.watchPrefix(ctx, keyspace(c.prefix).sites())
}

// SiteBeat keeps a node's beat: its site under a lease of TTL, renewed
// while the node reaches the quorum. Build it with Cluster.SiteBeat.
type SiteBeat struct {
	c    *Cluster
	node string
	site string
	ttl  time.Duration
	log  *slog.Logger
}

// SiteBeat returns the beat of node in site with a lease of ttl
// (DefaultBeatTTL if 0). Its Run needs the cluster open.
func (c *Cluster) SiteBeat(node, site string, ttl time.Duration) *SiteBeat {
	if ttl <= 0 {
		ttl = DefaultBeatTTL
	}
	return &SiteBeat{c: c, node: node, site: site, ttl: ttl, log: c.log.With("part", "sites")}
}

// Run keeps the beat until ctx ends, then revokes its lease (a node that
// stops leaves its site at once); a lost lease is granted again, with
// back-off.
func (b *SiteBeat) Run(ctx context.Context) error {
	if err := checkNodeName(b.node); err != nil {
		return fmt.Errorf("site beat: %w", err)
	}
	var delay retryDelay
	for {
		start := time.Now()
		err := b.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > b.ttl {
			delay.reset()
		}
		b.log.Debug("site beat lost; beating again", "err", err)
		if !delay.wait(ctx) {
			return nil
		}
	}
}

// session puts the beat under one new lease and keeps it until the lease
// is lost or ctx ends.
func (b *SiteBeat) session(ctx context.Context) error {
	cli := b.c.client
	if cli == nil {
		return ErrNotOpen
	}
	gctx, cancel := context.WithTimeout(ctx, opTimeout)
	lease, err := cli.Grant(gctx, ttlSeconds(b.ttl))
	cancel()
	if err != nil {
		return fmt.Errorf("grant beat lease: %w", err)
	}
	kaCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	ka, err := cli.KeepAlive(kaCtx, lease.ID)
	if err != nil {
		return fmt.Errorf("keep beat lease alive: %w", err)
	}
	keys := keyspace(b.c.prefix)
	pctx, cancel := context.WithTimeout(ctx, opTimeout)
	_, err = cli.Txn(pctx).Then(clientv3.OpPut(keys.siteBeat(b.node), b.site, clientv3.WithLease(lease.ID)),
		clientv3.OpPut(keys.siteKnown(b.node), b.site)).Commit()
	cancel()
	if err != nil {
		return fmt.Errorf("put beat: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
			cli.Revoke(rctx, lease.ID)
			cancel()
			return ctx.Err()
		case _, ok := <-ka:
			if !ok {
				return errors.New("beat lease lost")
			}
		}
	}
}
