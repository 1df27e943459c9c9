package httpcache

import "sync/atomic"

// Stats are the cache's counters since New, for metrics. Counters only
// grow; the Bytes and Bans fields are current values.
type Stats struct {
	Hits          uint64 // served from storage without going forward
	StaleHits     uint64 // of Hits, those served stale
	Misses        uint64 // went forward without a usable stored response
	StaleServed   uint64 // stale responses served (stale-while-revalidate, max-stale, stale-if-error, grace)
	Revalidations uint64 // conditional requests sent to the origin
	NotModified   uint64 // of those, answered 304 (stored response reused)
	Coalesced     uint64 // requests that waited for another request's fetch
	Passes        uint64 // requests passed through (bypass, hit-for-pass, unsafe methods)
	Stores        uint64 // responses stored
	Evictions     uint64 // entries evicted for space (memory and disk)
	Purges        uint64 // purge events applied
	Invalidations uint64 // keys invalidated by unsafe methods
	Purged        uint64 // entries removed or marked stale by purges
	DiskErrors    uint64 // disk tier failures (each turns the tier off)

	// PurgesByKind counts Purges by the kind of event.
	PurgesByKind map[EventKind]uint64

	MemoryBytes  int64 // weight in the memory tier
	MemoryItems  int64 // keys in the memory tier
	DiskBytes    int64 // bytes of object files
	DiskItems    int64 // keys in the disk index
	DiskDisabled bool  // the disk tier is off after an error
	DiskLow      bool  // the disk tier's filesystem is below its MinFree: it stores nothing new
	Bans         int   // bans not yet trimmed by the lurker
}

// counters are the atomics behind Stats.
type counters struct {
	hits, misses, stale, revalidations, notModified, coalesced, passes,
	stores, evictions, purges, invalidations, purged, diskErrors atomic.Uint64
	staleHits  atomic.Uint64                  // hits served stale; hits counts the fresh ones
	purgeKinds [len(purgeKinds)]atomic.Uint64 // indexed like purgeKinds
}

// purgeKinds are the event kinds counted apart in Stats.PurgesByKind.
var purgeKinds = [...]EventKind{PurgeURL, PurgeTag, PurgeBan, PurgeAll}

// countPurge counts one applied event of kind k.
func (c *counters) countPurge(k EventKind) {
	c.purges.Add(1)
	for i, pk := range purgeKinds {
		if pk == k {
			c.purgeKinds[i].Add(1)
		}
	}
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	staleHits := c.stats.staleHits.Load()
	s := Stats{
		Hits: c.stats.hits.Load() + staleHits, StaleHits: staleHits, Misses: c.stats.misses.Load(),
		StaleServed: c.stats.stale.Load(), Revalidations: c.stats.revalidations.Load(),
		NotModified: c.stats.notModified.Load(), Coalesced: c.stats.coalesced.Load(),
		Passes: c.stats.passes.Load(), Stores: c.stats.stores.Load(),
		Evictions: c.stats.evictions.Load(), Purges: c.stats.purges.Load(),
		Invalidations: c.stats.invalidations.Load(), Purged: c.stats.purged.Load(),
		DiskErrors:  c.stats.diskErrors.Load(),
		MemoryBytes: int64(c.mem.WeightedSize()), MemoryItems: int64(c.mem.EstimatedSize()),
		Bans:         len(c.bans.load()),
		PurgesByKind: make(map[EventKind]uint64, len(purgeKinds)),
	}
	for i, k := range purgeKinds {
		s.PurgesByKind[k] = c.stats.purgeKinds[i].Load()
	}
	if c.disk != nil {
		s.DiskBytes = c.disk.bytes.Load()
		s.DiskItems = int64(c.disk.index.EstimatedSize())
		s.DiskDisabled = c.disk.failed.Load()
		s.DiskLow = c.disk.low.Load()
	}
	return s
}
