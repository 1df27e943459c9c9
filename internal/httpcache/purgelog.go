package httpcache

import (
	"slices"
	"sync"
)

// purgeLogSize is how many recent purges a fetch that ran across them
// can be checked against; a fetch older than that does not store.
const purgeLogSize = 4096

// purgeLog numbers purges (generations) and keeps the recent ones, so
// that a response fetched while a purge ran is not stored after it: the
// fetch notes the generation when it starts, and the store checks the
// purges since (see Cache.insert).
type purgeLog struct {
	mu     sync.Mutex // guards the fields below
	gen    uint64
	recent []loggedPurge // ring, oldest at head
	head   int
}

// loggedPurge is what one purge selects: the keys keys accepts (nil:
// every key) and, for a tag purge, only the responses with one of tags.
type loggedPurge struct {
	gen  uint64
	keys func(key string) bool
	tags []string
}

// selects reports whether the purge selects a response stored under key
// with tags. tagsKnown is false for a response whose header has not
// arrived: a tag purge may then select it.
func (p *loggedPurge) selects(key string, tags []string, tagsKnown bool) bool {
	if p.keys != nil && !p.keys(key) {
		return false
	}
	if p.tags == nil || !tagsKnown {
		return true
	}
	for _, t := range tags {
		if slices.Contains(p.tags, t) {
			return true
		}
	}
	return false
}

func newPurgeLog(gen uint64) *purgeLog {
	return &purgeLog{gen: gen}
}

// current is the generation of the last purge.
func (l *purgeLog) current() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// add records a purge of what p selects and returns its generation.
func (l *purgeLog) add(p loggedPurge) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	p.gen = l.gen
	if len(l.recent) < purgeLogSize {
		l.recent = append(l.recent, p)
	} else {
		l.recent[l.head] = p
		l.head = (l.head + 1) % purgeLogSize
	}
	return l.gen
}

// purgedSince reports whether a purge after generation since selects
// the key and tags, and returns the current generation. A generation
// older than the log's memory counts as purged. tagsKnown is false when
// the response's tags are not known yet (see loggedPurge.selects).
func (l *purgeLog) purgedSince(since uint64, key string, tags []string, tagsKnown bool) (purged bool, now uint64) {
	l.mu.Lock()
	if l.gen == since {
		l.mu.Unlock()
		return false, since
	}
	var newer []loggedPurge
	oldest := l.gen - uint64(len(l.recent)) + 1
	if len(l.recent) < purgeLogSize {
		oldest = 1
	}
	forgotten := since+1 < oldest
	for _, p := range l.recent {
		if p.gen > since {
			newer = append(newer, p)
		}
	}
	now = l.gen
	l.mu.Unlock()
	if forgotten {
		return true, now
	}
	for i := range newer {
		if newer[i].selects(key, tags, tagsKnown) {
			return true, now
		}
	}
	return false, now
}
