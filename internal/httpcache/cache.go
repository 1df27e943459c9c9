package httpcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// Cache is a shared HTTP cache: storage tiers, purge state and the
// request coalescing shared by all routes of a node. Create it with New,
// wrap routes with Handler, and run Run for its background work.
type Cache struct {
	name         string
	now          func() time.Time
	log          *slog.Logger
	memBudget    int64
	memObjectMax int64
	housekeeping time.Duration
	tagHeaders   []TagHeader

	mem     *otter.Cache[string, *resource]
	disk    *diskTier // nil without a disk tier
	tags    *tagIndex
	bans    banList
	plog    *purgeLog
	flights flightGroup
	stats   counters

	keyersMu sync.Mutex        // guards keyers
	keyers   map[string]*keyer // one per distinct key options, for URL purges

	persistMu sync.Mutex // serializes writes of the ban file; never taken on requests

	// ctx bounds background fetches; Run cancels it when it stops.
	ctx    context.Context
	cancel context.CancelFunc
	tasks  sync.WaitGroup // background fetches and otter's tasks
}

// New makes a cache. With a disk tier it opens (or creates) the
// directory and rebuilds the index from the files there; it starts no
// goroutine.
func New(o Options) (*Cache, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}
	c := &Cache{
		name: o.Name, now: o.Now, log: o.Logger, memBudget: o.Memory,
		memObjectMax: o.MemoryObjectMax, housekeeping: o.Housekeeping,
		tagHeaders: o.TagHeaders, tags: newTagIndex(), keyers: map[string]*keyer{},
	}
	c.setDefaults()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	mem, err := otter.New(&otter.Options[string, *resource]{
		MaximumWeight: uint64(c.memBudget),
		Weigher: func(_ string, r *resource) uint32 {
			return uint32(min(r.memSize(), math.MaxUint32))
		},
		OnDeletion: func(ev otter.DeletionEvent[string, *resource]) {
			if ev.WasEvicted() {
				c.stats.evictions.Add(uint64(max(1, len(ev.Value.entries))))
			}
		},
		Executor: c.execute,
	})
	if err != nil {
		return nil, fmt.Errorf("new cache: memory tier: %w", err)
	}
	c.mem = mem
	var gen uint64
	if o.Disk != nil {
		d, dgen, err := openDisk(*o.Disk, c.log, &c.stats.evictions, c.execute, c.tags.add)
		if err != nil {
			return nil, fmt.Errorf("new cache: %w", err)
		}
		c.disk = d
		bgen, err := c.loadBans()
		if err != nil {
			return nil, fmt.Errorf("new cache: %w", err)
		}
		gen = max(dgen, bgen)
	}
	c.plog = newPurgeLog(gen)
	return c, nil
}

func (c *Cache) setDefaults() {
	if c.name == "" {
		c.name = DefaultName
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.memBudget == 0 {
		c.memBudget = DefaultMemory
	}
	if c.memObjectMax == 0 {
		c.memObjectMax = DefaultMemoryObjectMax
	}
	if c.housekeeping == 0 {
		c.housekeeping = DefaultHousekeeping
	}
	if c.tagHeaders == nil {
		c.tagHeaders = DefaultTagHeaders
	}
}

// execute runs otter's asynchronous tasks (deletion callbacks,
// maintenance) as goroutines the cache waits for in Run.
func (c *Cache) execute(fn func()) { c.tasks.Go(fn) }

// Run does the background work until ctx ends: the ban lurker, the tag
// index sweep and re-probing a failed disk, every Options.Housekeeping.
// When ctx ends it cancels background revalidations and returns once
// they and every other goroutine of the cache have exited. The cache
// must not be used after Run returned.
func (c *Cache) Run(ctx context.Context) error {
	t := time.NewTicker(c.housekeeping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.cancel()
			c.tasks.Wait()
			return nil
		case <-t.C:
			c.housekeep()
		}
	}
}

// housekeep is one round of background work.
func (c *Cache) housekeep() {
	c.lurk()
	c.tags.sweep(c.storedWithTag)
	if c.disk != nil {
		c.disk.checkSpace()
		c.disk.probe()
	}
}

// memoryFits reports whether an entry of that weight may enter the
// memory tier without flushing most of it.
func (c *Cache) memoryFits(n int64) bool { return n <= c.memBudget/4 }

// memBodyMax is the largest body kept in memory: MemoryObjectMax while
// the disk tier works, else a quarter of the memory budget.
func (c *Cache) memBodyMax(route *RouteOptions) int64 {
	if c.disk.usable() {
		return min(c.memObjectMax, route.maxObjectSize())
	}
	return min(c.memBudget/4, route.maxObjectSize())
}

// diskFailed records a storage error of the disk tier.
func (c *Cache) diskFailed(err error) {
	var de *diskError
	if errors.As(err, &de) && c.disk != nil {
		c.stats.diskErrors.Add(1)
		c.disk.fail(err)
	}
}

// bansPath is where the ban list is persisted (disk tier only).
func (c *Cache) bansPath() string { return filepath.Join(c.disk.dir, "bans.json") }

func (c *Cache) loadBans() (uint64, error) {
	data, err := os.ReadFile(c.bansPath())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load bans: %w", err)
	}
	gen, err := c.bans.restore(data)
	if err != nil {
		// A corrupt ban file cannot be trusted: start over empty.
		c.log.Warn("ban file unreadable, dropping the disk cache", "err", err)
		c.disk.index.InvalidateAll()
		c.bans.cur.Store(nil)
		return 0, nil
	}
	return gen, nil
}

// saveBans persists the ban list; a failure turns the disk tier off,
// since files could otherwise outlive a ban across a restart.
func (c *Cache) saveBans() {
	if c.disk == nil {
		return
	}
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	data, err := c.bans.marshal(c.plog.current())
	if err == nil {
		err = writeFileAtomic(c.bansPath(), data)
	}
	if err != nil {
		c.diskFailed(&diskError{op: "save bans", err: err})
		c.disk.index.InvalidateAll()
	}
}

// registerKeyer remembers a route's key options for URL purges, which
// must find the key under every route's normalization.
func (c *Cache) registerKeyer(k *keyer) {
	c.keyersMu.Lock()
	defer c.keyersMu.Unlock()
	if _, ok := c.keyers[k.sig]; !ok {
		c.keyers[k.sig] = k
	}
}

// allKeyers returns the registered keyers, or a default one.
func (c *Cache) allKeyers() []*keyer {
	c.keyersMu.Lock()
	defer c.keyersMu.Unlock()
	out := make([]*keyer, 0, len(c.keyers)+1)
	for _, k := range c.keyers {
		out = append(out, k)
	}
	if len(out) == 0 {
		out = append(out, newKeyer(KeyOptions{}))
	}
	return out
}
