package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/edge"
	"github.com/tandem-run/tandem/internal/httpcache"
)

// PurgeWith answers POST /v1/purge with p, the node's purger (it applies
// a purge here and replicates it to every node); nil when the node has
// no cache.
func PurgeWith(p edge.Purger) func(context.Context, PurgeRequest) (int, error) {
	return func(ctx context.Context, req PurgeRequest) (int, error) {
		if p == nil {
			return 0, fmt.Errorf("purge: %w: edge.cache.memory is 0, there is no cache", ErrBadRequest)
		}
		ev, err := purgeEvent(req)
		if err != nil {
			return 0, err
		}
		if req.Wait {
			ctx = edge.WithPurgeWaitAll(ctx)
		}
		k, err := p.Purge(ctx, ev)
		if errors.Is(err, edge.ErrPurgeIncomplete) {
			return k, Errorf(ErrUnavailable, "%w", err)
		}
		return k, err
	}
}

// purgeEvent is the cache event a purge request asks for.
func purgeEvent(req PurgeRequest) (httpcache.Event, error) {
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
		return ev, fmt.Errorf("purge: %w: give exactly one of a URL, tags or a ban", ErrBadRequest)
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("purge: %w: %w", ErrBadRequest, err)
	}
	return ev, nil
}
