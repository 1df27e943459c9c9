package httpcache

import "sync"

// tagIndex maps tags to the primary keys stored with them, so that a tag
// purge finds exactly its entries without scanning. It may name keys no
// longer stored (a purge of those is a no-op); Run's sweep removes them.
type tagIndex struct {
	mu    sync.Mutex                   // guards the fields below
	m     map[string]map[string]uint64 // tag → key → stamp of the last add
	stamp uint64
}

func newTagIndex() *tagIndex {
	return &tagIndex{m: map[string]map[string]uint64{}}
}

func (t *tagIndex) add(key string, tags []string) {
	if len(tags) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stamp++
	for _, tag := range tags {
		keys := t.m[tag]
		if keys == nil {
			keys = map[string]uint64{}
			t.m[tag] = keys
		}
		keys[key] = t.stamp
	}
}

// keys returns the keys stored with tag; take also forgets them.
func (t *tagIndex) keys(tag string, take bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := t.m[tag]
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	if take {
		delete(t.m, tag)
	}
	return out
}

// sweep drops index entries for which stored reports false. It checks
// outside the lock and removes an entry only if no add happened since.
func (t *tagIndex) sweep(stored func(key, tag string) bool) {
	type item struct {
		tag, key string
		stamp    uint64
	}
	t.mu.Lock()
	var items []item
	for tag, keys := range t.m {
		for k, s := range keys {
			items = append(items, item{tag, k, s})
		}
	}
	t.mu.Unlock()
	var gone []item
	for _, it := range items {
		if !stored(it.key, it.tag) {
			gone = append(gone, it)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range gone {
		if keys := t.m[it.tag]; keys != nil && keys[it.key] == it.stamp {
			delete(keys, it.key)
			if len(keys) == 0 {
				delete(t.m, it.tag)
			}
		}
	}
}

// size is the number of (tag, key) pairs.
func (t *tagIndex) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, keys := range t.m {
		n += len(keys)
	}
	return n
}
