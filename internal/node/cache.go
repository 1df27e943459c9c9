package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// newCache builds the edge cache from the stack file; nil when
// edge.cache.memory is 0.
func newCache(st *config.Stack, log *slog.Logger) (*httpcache.Cache, error) {
	c := st.Edge.Cache
	if c.Memory == 0 {
		return nil, nil
	}
	o := httpcache.Options{Memory: int64(c.Memory), Logger: log.With("part", "cache")}
	if c.Disk.Size > 0 {
		o.Disk = &httpcache.DiskOptions{Path: c.Disk.Path, Size: int64(c.Disk.Size)}
	}
	cache, err := httpcache.New(o)
	if err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}
	return cache, nil
}

// routeCacheOptions maps a route's cache settings; nil when the node has no
// cache.
func routeCacheOptions(c config.RouteCache, cache *httpcache.Cache) *httpcache.RouteOptions {
	if cache == nil {
		return nil
	}
	hitForPass := time.Duration(c.HitForPass)
	if hitForPass == 0 {
		hitForPass = -1 // off; httpcache's zero value is its default
	}
	return &httpcache.RouteOptions{
		Bypass: c.Bypass,
		Key: httpcache.KeyOptions{
			SortQuery: c.SortQuery,
			DropQuery: c.DropQuery,
			Headers:   c.KeyHeaders,
		},
		BypassCookies:       c.BypassCookies,
		VaryCookies:         c.VaryCookies,
		MaxObjectSize:       int64(c.MaxObjectSize),
		DefaultTTL:          time.Duration(c.DefaultTTL),
		Grace:               time.Duration(c.Grace),
		HitForPass:          hitForPass,
		ClientCacheControl:  c.ClientCacheControl,
		KeepTagHeaders:      c.KeepTagHeaders,
		StoreSetCookie:      c.StoreSetCookie,
		IgnoreClientNoCache: c.IgnoreClientNoCache,
	}
}

// localPurger applies purges to this node's cache. The cluster work
// replaces it with one that also replicates them to every node.
type localPurger struct {
	cache *httpcache.Cache
	log   *slog.Logger
}

func (p localPurger) Purge(_ context.Context, ev httpcache.Event) (int, error) {
	if p.cache == nil {
		return 0, nil
	}
	n, err := p.cache.Apply(ev)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	p.log.Info("purged", "kind", string(ev.Kind), "url", ev.URL, "tags", ev.Tags, "ban_host", ev.Host, "ban_path", ev.Path, "soft", ev.Soft, "objects", n)
	return n, nil
}

// adminPurge turns an admin API purge into an event and applies it.
func (n *Node) adminPurge(ctx context.Context, req admin.PurgeRequest) (int, error) {
	if n.cache == nil {
		return 0, fmt.Errorf("purge: %w: edge.cache.memory is 0, there is no cache", admin.ErrBadRequest)
	}
	ev := httpcache.Event{URL: req.URL, Tags: req.Tags, Host: req.BanHost, Path: req.BanPath, Soft: req.Soft, Time: time.Now()}
	kinds := 0
	if req.URL != "" {
		ev.Kind = httpcache.PurgeURL
		kinds++
	}
	if len(req.Tags) > 0 {
		ev.Kind = httpcache.PurgeTag
		kinds++
	}
	if req.BanHost != "" || req.BanPath != "" {
		ev.Kind = httpcache.PurgeBan
		kinds++
	}
	if kinds != 1 {
		return 0, fmt.Errorf("purge: %w: give exactly one of a URL, tags or a ban", admin.ErrBadRequest)
	}
	if err := ev.Validate(); err != nil {
		return 0, fmt.Errorf("purge: %w: %w", admin.ErrBadRequest, err)
	}
	if req.Wait {
		ctx = edge.WithPurgeWaitAll(ctx)
	}
	k, err := n.purger.Purge(ctx, ev)
	if errors.Is(err, edge.ErrPurgeIncomplete) {
		return k, admin.Errorf(admin.ErrUnavailable, "%w", err)
	}
	return k, err
}
