package storage

import (
	"maps"
	"slices"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// This file holds replication's decisions, as pure functions of what
// was listed and read: which objects to copy or delete after a poll, when
// a change can have happened (for the lag), and what a re-sync does with
// an object whose two copies differ. The driver (replicator.go,
// resync.go) does the I/O.

// Metadata the replica's copies carry besides the app's own, so that a
// copy names the primary's object it was made from even when the two
// ETags differ (a primary written in parts), and the content it had.
const (
	metaSourceETag = "tandem-source-etag"
	metaMD5        = "tandem-md5"
)

// change is one action of a poll: copy an object the replica lacks or
// has in another version, or delete one the primary no longer has.
type change struct {
	key    string
	delete bool
	etag   string // the primary's ETag as listed; "" for a delete
	size   int64
	// since is the earliest the change can have happened: the later of
	// the object's Last-Modified (whole seconds in S3's listings) and the
	// start of the poll before, which did not see it. The lag of a
	// change is measured from it, so it is never understated.
	since time.Time
}

// plan compares a listing of the primary with the replica's index (key
// -> the primary ETag its copy was made from) and returns what makes the
// replica the same: copies in listing order, then deletes in index order
// of keys. prev is when the previous listing started (zero before the
// first).
func plan(primary []backup.BucketObject, index map[string]string, prev time.Time) []change {
	var out []change
	listed := make(map[string]bool, len(primary))
	for _, o := range primary {
		listed[o.Key] = true
		if src, ok := index[o.Key]; ok && src == o.ETag {
			continue
		}
		since := o.Modified
		if prev.After(since) {
			since = prev
		}
		out = append(out, change{key: o.Key, etag: o.ETag, size: o.Size, since: since})
	}
	for _, key := range sortedKeys(index) {
		if !listed[key] {
			out = append(out, change{key: key, delete: true, since: prev})
		}
	}
	return out
}

// verdict is what a re-sync does with one object.
type verdict int

const (
	inSync         verdict = iota
	copyToReplica          // the replica lacks it, has another version, or a damaged copy
	deleteReplica          // the primary no longer has it
	restorePrimary         // the primary's copy is damaged and the replica's is good
	unresolved             // the copies differ and nothing says which is right
)

func (v verdict) String() string {
	return [...]string{"in sync", "copy to replica", "delete from replica", "restore primary", "unresolved"}[v]
}

// side is what a re-sync learned of one copy of an object by reading it.
type side struct {
	present bool
	etag    string // the store's ETag
	md5     string // hex MD5 of the bytes read
	// source and recorded are a replica copy's metadata: the primary's
	// ETag it was copied from and the MD5 the bytes had then; "" if none.
	source, recorded string
}

// expected is the MD5 a copy's bytes should have, "" when nothing says:
// for the primary its ETag when a single PUT wrote it, else what the
// replica recorded of that version; for the replica what it recorded,
// else its own single-PUT ETag.
func expected(s side, recorded string) string {
	if s.recorded != "" {
		return s.recorded
	}
	if _, ok := backup.MD5ETag(s.etag); ok {
		return s.etag
	}
	return recorded
}

// judge decides what a re-sync does with an object, given both copies
// as read. The primary is the source of truth for which version exists;
// checksums say which copy of a version is intact.
func judge(p, r side) verdict {
	switch {
	case !p.present && !r.present:
		return inSync
	case !p.present:
		return deleteReplica
	case !r.present:
		return copyOrHold(p, "")
	}
	source := r.source
	if source == "" {
		source = r.etag // copied before metadata, or by hand: the same ETag is the same version
	}
	if source != p.etag {
		return copyOrHold(p, "")
	}
	if p.md5 == r.md5 {
		return inSync
	}
	pWant := expected(side{etag: p.etag}, r.recorded)
	rWant := expected(r, "")
	pGood, pBad := pWant != "" && p.md5 == pWant, pWant != "" && p.md5 != pWant
	rGood := rWant != "" && r.md5 == rWant
	switch {
	case pGood:
		return copyToReplica // the replica's copy is damaged
	case pBad && rGood:
		return restorePrimary
	case pBad:
		return unresolved // both damaged: neither is the version's bytes
	case rGood:
		return restorePrimary // nothing vouches for the primary; the replica is intact
	}
	return copyToReplica // no checksum on either side: the primary wins
}

// copyOrHold is copyToReplica unless the primary's bytes are known bad:
// a damaged object is not spread to the replica.
func copyOrHold(p side, recorded string) verdict {
	if want := expected(side{etag: p.etag}, recorded); want != "" && p.md5 != "" && p.md5 != want {
		return unresolved
	}
	return copyToReplica
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
