package httpcache

import "sync"

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

type loggedPurge struct {
	gen   uint64
	match func(key string, tags []string) bool
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

// add records a purge and returns its generation.
func (l *purgeLog) add(match func(key string, tags []string) bool) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	p := loggedPurge{gen: l.gen, match: match}
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
// older than the log's memory counts as purged.
func (l *purgeLog) purgedSince(since uint64, key string, tags []string) (purged bool, now uint64) {
	l.mu.Lock()
	if l.gen == since {
		l.mu.Unlock()
		return false, since
	}
	var matches []func(string, []string) bool
	oldest := l.gen - uint64(len(l.recent)) + 1
	if len(l.recent) < purgeLogSize {
		oldest = 1
	}
	forgotten := since+1 < oldest
	for _, p := range l.recent {
		if p.gen > since {
			matches = append(matches, p.match)
		}
	}
	now = l.gen
	l.mu.Unlock()
	if forgotten {
		return true, now
	}
	for _, m := range matches {
		if m(key, tags) {
			return true, now
		}
	}
	return false, now
}
