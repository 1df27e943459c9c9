package httpcache

import (
	"net/http"
	"slices"
	"time"

	"github.com/maypok86/otter/v2"
)

// insert stores e in memory unless a purge since generation since
// selects it, and returns the generation it was checked up to. A purge
// that runs while e is inserted is caught by the second check, so a
// purge never misses a response fetched before it.
func (c *Cache) insert(e *entry, since uint64) (gen uint64, ok bool) {
	purged, g := c.plog.purgedSince(since, e.key, e.tags, true)
	if purged {
		return g, false
	}
	e.gen.Store(g)
	c.tags.add(e.key, e.tags)
	if !c.memoryFits(e.memSize()) {
		return g, e.body.path != "" // a big entry lives on disk only
	}
	c.mem.Compute(e.key, func(old *resource, _ bool) (*resource, otter.ComputeOp) {
		return old.with(e), otter.WriteOp
	})
	if purged, _ := c.plog.purgedSince(g, e.key, e.tags, true); purged {
		c.removeEntry(e)
		return g, false
	}
	return g, true
}

// persist writes an in-memory entry through to the disk tier, unless a
// purge since gen selected it meanwhile.
func (c *Cache) persist(e *entry, gen uint64) {
	if !c.disk.usable() || !c.disk.fits(e.body.size) || !c.disk.roomy(e.body.size) {
		return
	}
	if err := c.disk.writeWhole(e); err != nil {
		c.diskFailed(err)
		return
	}
	if purged, _ := c.plog.purgedSince(gen, e.key, e.tags, true); purged {
		c.removeEntry(e)
	}
}

// removeEntry drops e, and its variant on disk.
func (c *Cache) removeEntry(e *entry) {
	c.mem.ComputeIfPresent(e.key, func(old *resource) (*resource, otter.ComputeOp) {
		n, changed := old.without(func(o *entry) bool { return o == e })
		switch {
		case !changed:
			return old, otter.CancelOp
		case len(n.entries) == 0 && len(n.passes) == 0:
			return nil, otter.InvalidateOp
		}
		return n, otter.WriteOp
	})
	if c.disk != nil {
		c.disk.removeVariants(e.key, func(v *diskVariant) bool { return v.matches(e) })
	}
}

// lookup returns the stored resource for key (possibly only a
// hit-for-pass marker) and the variant selected by the request header,
// from memory or else from disk. Bans are applied on the way.
func (c *Cache) lookup(key string, h http.Header, sel selector) (*resource, *entry) {
	r, _ := c.mem.GetIfPresent(key)
	e := r.selectEntry(h, sel)
	if e != nil && !c.passBans(e) {
		e = nil
	}
	if e == nil && c.disk != nil {
		e = c.loadFromDisk(key, h, sel)
	}
	return r, e
}

// passBans applies newer bans to e; false means e was removed.
func (c *Cache) passBans(e *entry) bool {
	hard, soft := c.bans.check(e.key, &e.gen)
	switch {
	case hard:
		c.removeEntry(e)
		c.stats.purged.Add(1)
		return false
	case soft && !e.soft.Swap(true):
		c.stats.purged.Add(1)
	}
	return true
}

// loadFromDisk promotes the variant of key that matches h from the disk
// tier to memory.
func (c *Cache) loadFromDisk(key string, h http.Header, sel selector) *entry {
	dr, ok := c.disk.index.GetIfPresent(key)
	if !ok {
		return nil
	}
	for _, v := range dr.variants {
		if !slices.Equal(sel.values(h, v.vary), v.varyVals) {
			continue
		}
		since := c.plog.current()
		hard, soft := c.bans.check(key, &v.gen)
		if hard {
			c.disk.removeVariants(key, func(o *diskVariant) bool { return o == v })
			c.stats.purged.Add(1)
			return nil
		}
		e, err := c.disk.load(v, c.memObjectMax)
		if err != nil {
			c.disk.removeVariants(key, func(o *diskVariant) bool { return o == v })
			return nil
		}
		if soft {
			// Soft state is not persisted: the disk copy goes, the memory
			// copy serves stale while it is revalidated.
			e.soft.Store(true)
			c.disk.removeVariants(key, func(o *diskVariant) bool { return o == v })
		}
		if _, ok := c.insert(e, since); !ok && c.memoryFits(e.memSize()) {
			return nil // purged meanwhile
		}
		return e
	}
	return nil
}

// purgeKey removes the variants of key whose tags sel accepts, or marks
// them stale when soft (on disk, soft purges remove: the stale copy in
// memory is what serves while revalidating). sel nil selects all. It
// returns how many variants were affected.
func (c *Cache) purgeKey(key string, soft bool, sel func(tags []string) bool) int {
	all := sel == nil
	if all {
		sel = func([]string) bool { return true }
	}
	n := 0
	if soft {
		if r, ok := c.mem.GetIfPresent(key); ok {
			for _, e := range r.entries {
				if sel(e.tags) {
					e.soft.Store(true)
					n++
				}
			}
		}
	} else {
		c.mem.ComputeIfPresent(key, func(old *resource) (*resource, otter.ComputeOp) {
			nr, _ := old.without(func(e *entry) bool { return sel(e.tags) })
			n = len(old.entries) - len(nr.entries)
			switch {
			case all || len(nr.entries) == 0:
				return nil, otter.InvalidateOp
			case n == 0:
				return old, otter.CancelOp
			}
			return nr, otter.WriteOp
		})
	}
	if c.disk != nil {
		n = max(n, c.disk.removeVariants(key, func(v *diskVariant) bool { return sel(v.tags) }))
	}
	return n
}

// setPass adds a hit-for-pass marker to key at time now, keeping stored
// variants (other variants may still be cacheable).
func (c *Cache) setPass(key string, m passMarker, now time.Time) {
	c.mem.Compute(key, func(old *resource, found bool) (*resource, otter.ComputeOp) {
		return old.withPass(m, now), otter.WriteOp
	})
}

// storedWithTag reports whether some stored variant of key has tag.
func (c *Cache) storedWithTag(key, tag string) bool {
	if r, ok := c.mem.GetIfPresent(key); ok {
		for _, e := range r.entries {
			if slices.Contains(e.tags, tag) {
				return true
			}
		}
	}
	if c.disk != nil {
		if dr, ok := c.disk.index.GetIfPresent(key); ok {
			for _, v := range dr.variants {
				if slices.Contains(v.tags, tag) {
					return true
				}
			}
		}
	}
	return false
}

// lurk is one pass of the ban lurker: it checks every stored entry
// against the outstanding bans, removes (or marks stale) what they
// select, and then drops the bans every entry has been checked against.
// It walks the tiers concurrently with requests; nothing stops the world.
func (c *Cache) lurk() {
	bans := c.bans.load()
	if len(bans) == 0 {
		return
	}
	upTo := bans[len(bans)-1].gen
	for _, r := range c.mem.All() {
		for _, e := range r.entries {
			c.passBans(e)
		}
	}
	if c.disk != nil {
		for key, dr := range c.disk.index.All() {
			for _, v := range dr.variants {
				if hard, soft := c.bans.check(key, &v.gen); hard || soft {
					c.disk.removeVariants(key, func(o *diskVariant) bool { return o == v })
					c.stats.purged.Add(1)
				}
			}
		}
	}
	c.bans.trim(upTo)
	c.saveBans()
}
