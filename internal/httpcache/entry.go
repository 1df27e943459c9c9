package httpcache

import (
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// entry is one stored response: a variant of a resource. Everything but
// gen and soft is immutable once the entry is in a tier; an update (a 304)
// makes a new entry.
type entry struct {
	key      string // primary cache key (see keyer)
	status   int
	header   http.Header // stored fields; value slices are clipped, see clipHeader
	cc       CacheControl
	targeted bool     // cc came from a targeted field (RFC 9213)
	vary     []string // fields this variant is selected by: Vary plus the route's key headers
	varyVals []string // the normalized request values of vary when it was stored
	tags     []string
	etag     string
	lastMod  time.Time // Last-Modified, zero when absent or invalid
	date     time.Time // Date, parsed once here rather than on every conditional hit; zero when absent or invalid
	reqTime  time.Time // when the request that produced it was sent
	respTime time.Time // when its header arrived
	initAge  time.Duration
	lifetime time.Duration
	body     *body

	gen  atomic.Uint64 // purge generation the entry has been checked against
	soft atomic.Bool   // soft-purged: treated as stale from then on
}

// body is an entry's content: in memory (chunks) or in a file of the
// disk tier (path), never both. It is immutable.
type body struct {
	chunks [][]byte
	path   string
	size   int64
	// length is size as the Content-Length field value, formatted once
	// and shared by every response (clipped, as stored header values).
	length []string
}

// newBody makes the body of an entry: chunks in memory, or the file at
// path.
func newBody(chunks [][]byte, path string, size int64) *body {
	return &body{chunks: chunks, path: path, size: size, length: []string{strconv.FormatInt(size, 10)}}
}

// matches reports whether the variant was stored for a request with the
// same values of the selecting fields as h (RFC 9111 §4.1).
func (e *entry) matches(h http.Header, sel selector) bool {
	return sel.selects(h, e.vary, e.varyVals)
}

// sameVariant reports whether o would be selected by the same requests.
func (e *entry) sameVariant(o *entry) bool {
	return slices.Equal(e.vary, o.vary) && slices.Equal(e.varyVals, o.varyVals)
}

// memSize estimates the bytes the entry holds in memory.
func (e *entry) memSize() int64 {
	n := int64(256 + len(e.key) + len(e.etag))
	for k, vs := range e.header {
		n += int64(len(k)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	for _, t := range e.tags {
		n += int64(len(t)) + 16
	}
	for i := range e.vary {
		n += int64(len(e.vary[i])+len(e.varyVals[i])) + 32
	}
	if e.body != nil && e.body.chunks != nil {
		n += e.body.size
	}
	return n
}

// currentAge is current_age of RFC 9111 §4.2.3.
func (e *entry) currentAge(now time.Time) time.Duration {
	return e.initAge + max(0, now.Sub(e.respTime))
}

// modTime is what If-Modified-Since and If-Unmodified-Since are compared
// with: Last-Modified, else Date (RFC 9110 §13.1.3); zero when neither is
// known.
func (e *entry) modTime() time.Time {
	if e.lastMod.IsZero() {
		return e.date
	}
	return e.lastMod
}

// resource holds the stored variants of one primary key, newest first,
// and its hit-for-pass markers, newest first. It is immutable: tiers
// replace it whole.
type resource struct {
	entries []*entry
	passes  []passMarker
}

// maxVariants bounds the variants kept per key; the oldest is dropped.
const maxVariants = 32

// selectEntry returns the newest variant that matches the request
// header, or nil.
func (r *resource) selectEntry(h http.Header, sel selector) *entry {
	if r == nil {
		return nil
	}
	for _, e := range r.entries {
		if e.matches(h, sel) {
			return e
		}
	}
	return nil
}

// with returns a copy of r with e added, replacing the same variant, and
// without the hit-for-pass markers of e's variant.
func (r *resource) with(e *entry) *resource {
	n := &resource{entries: make([]*entry, 0, 1+len(r.entriesOrNil()))}
	n.entries = append(n.entries, e)
	for _, o := range r.entriesOrNil() {
		if !o.sameVariant(e) && len(n.entries) < maxVariants {
			n.entries = append(n.entries, o)
		}
	}
	for _, m := range r.passesOrNil() {
		if !m.coveredBy(e) {
			n.passes = append(n.passes, m)
		}
	}
	return n
}

// without returns a copy of r without the entries drop selects, and
// whether any was dropped.
func (r *resource) without(drop func(*entry) bool) (*resource, bool) {
	n := &resource{passes: r.passes}
	for _, o := range r.entries {
		if !drop(o) {
			n.entries = append(n.entries, o)
		}
	}
	return n, len(n.entries) != len(r.entries)
}

func (r *resource) entriesOrNil() []*entry {
	if r == nil {
		return nil
	}
	return r.entries
}

// memSize is the resource's weight in the memory tier.
func (r *resource) memSize() int64 {
	n := int64(64)
	for _, e := range r.entries {
		n += e.memSize()
	}
	for i := range r.passes {
		n += r.passes[i].memSize()
	}
	return n
}

// clipHeader clips every value slice of h so that an append by a later
// handler (Header().Add on the delivered copy) reallocates instead of
// writing into the stored array that other responses share.
func clipHeader(h http.Header) http.Header {
	for k, v := range h {
		h[k] = slices.Clip(v)
	}
	return h
}

// newEntry makes an entry for a response header; freshness is set by
// the caller (setFreshness, or from disk metadata).
func newEntry(key string, status int, h http.Header, reqTime, respTime time.Time) *entry {
	cc, targeted := responsePolicy(h)
	e := &entry{
		key: key, status: status, header: h, cc: cc, targeted: targeted,
		etag: h.Get("Etag"), reqTime: reqTime, respTime: respTime,
	}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		e.lastMod = t
	}
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		e.date = t
	}
	return e
}

// setFreshness computes the entry's initial age and lifetime, adding a
// Date field when the response had none (RFC 9110 §6.6.1).
func (e *entry) setFreshness(hs heuristics) {
	date, err := http.ParseTime(e.header.Get("Date"))
	if err != nil {
		date = e.respTime
		e.header["Date"] = []string{date.UTC().Format(http.TimeFormat)}
		e.date = date.UTC().Truncate(time.Second) // what the field now says
	}
	e.initAge = initialAge(e.header, date, e.reqTime, e.respTime)
	e.lifetime = freshnessLifetime(e.status, e.header, e.cc, e.targeted, date, hs)
}
