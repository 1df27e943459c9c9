package httpcache

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Apply applies a purge event to this node's cache and returns how many
// stored responses it removed or marked stale (bans are applied lazily,
// so a ban returns 0: each response is checked against the ban list
// when next looked up, and Run's lurker checks the rest in the
// background, with no stop-the-world scan).
//
// A purge also stops responses already being fetched from being stored,
// so a response fetched before a purge never outlives it.
func (c *Cache) Apply(ev Event) (int, error) {
	if err := ev.Validate(); err != nil {
		return 0, fmt.Errorf("apply purge: %w", err)
	}
	c.stats.countPurge(ev.Kind)
	var n int
	switch ev.Kind {
	case PurgeURL:
		n = c.applyURL(ev)
	case PurgeTag:
		n = c.applyTags(ev)
	case PurgeBan:
		b, _ := compileBan(ev) // validated above
		c.bans.add(b, func() uint64 {
			return c.plog.add(loggedPurge{keys: b.matches})
		})
		c.saveBans()
	case PurgeAll:
		c.plog.add(loggedPurge{})
		n = c.mem.EstimatedSize()
		c.mem.InvalidateAll()
		if c.disk != nil {
			n = max(n, c.disk.index.EstimatedSize())
			c.disk.index.InvalidateAll()
		}
	}
	c.stats.purged.Add(uint64(n))
	return n, nil
}

// applyURL purges every variant of the URL under every route's key
// options, in both schemes.
func (c *Cache) applyURL(ev Event) int {
	u, _ := url.Parse(ev.URL) // validated
	var keys []string
	for _, k := range c.allKeyers() {
		for _, scheme := range []string{"http", "https"} {
			v := *u
			v.Scheme = scheme
			keys = append(keys, k.urlKey(&v))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	c.plog.add(loggedPurge{keys: func(key string) bool {
		_, found := slices.BinarySearch(keys, key)
		return found
	}})
	n := 0
	for _, k := range keys {
		n += c.purgeKey(k, ev.Soft, nil)
	}
	return n
}

// applyTags purges the responses carrying any of the event's tags,
// found through the tag index.
func (c *Cache) applyTags(ev Event) int {
	inOrigin := func(key string) bool {
		return ev.Origin == "" || strings.EqualFold(keyOrigin(key), ev.Origin)
	}
	p := loggedPurge{tags: ev.Tags}
	if ev.Origin != "" {
		p.keys = inOrigin
	}
	c.plog.add(p)
	n := 0
	for _, tag := range ev.Tags {
		// A hard purge of every origin empties the tag; otherwise the
		// index keeps the keys it did not purge.
		take := !ev.Soft && ev.Origin == ""
		for _, key := range c.tags.keys(tag, take) {
			if inOrigin(key) {
				n += c.purgeKey(key, ev.Soft, func(tags []string) bool { return slices.Contains(tags, tag) })
			}
		}
	}
	return n
}

// invalidateKey removes every variant of key after an unsafe request.
func (c *Cache) invalidateKey(key string) {
	c.plog.add(loggedPurge{keys: func(k string) bool { return k == key }})
	c.stats.invalidations.Add(1)
	c.purgeKey(key, false, nil)
}
