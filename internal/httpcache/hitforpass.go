package httpcache

import (
	"net/http"
	"slices"
	"time"
)

// maxPassMarkers bounds the hit-for-pass markers kept per key; the
// oldest is dropped.
const maxPassMarkers = 16

// passMarker says that the response to requests of one variant of a key
// could not be stored, until a time: such requests go to the origin
// each on its own instead of waiting for one another's fetch, which
// could answer none of the others (hit-for-pass). A marker is immutable.
type passMarker struct {
	vary  []string // fields that select it, sorted; none: every request
	vals  []string // their values in the request that was answered
	until time.Time
}

// newPassMarker makes the marker for a response that could not be
// stored, for reason (storable's), to request r. It is scoped like a
// variant: to the response's Vary and the route's key fields, and for a
// per-user answer (private, Set-Cookie) also to the request's cookies,
// since that is where a user's session travels. The route's cookie list,
// if any, says which cookies count.
func newPassMarker(vary []string, reason string, r *http.Request, sel selector, until time.Time) passMarker {
	if reason == "private" || reason == "set-cookie" {
		vary = mergeFields(vary, []string{"Cookie"})
	}
	return passMarker{vary: vary, vals: sel.values(r.Header, vary), until: until}
}

// matches reports whether the marker applies to a request with header h
// at time now.
func (m *passMarker) matches(h http.Header, sel selector, now time.Time) bool {
	return now.Before(m.until) && sel.selects(h, m.vary, m.vals)
}

// sameVariant reports whether o applies to the same requests.
func (m *passMarker) sameVariant(o *passMarker) bool {
	return slices.Equal(m.vary, o.vary) && slices.Equal(m.vals, o.vals)
}

// coveredBy reports whether the request that e was stored for is one
// the marker applies to: each of the marker's fields selects e too, with
// the same value. Such a marker ends when e is stored: the variant has
// turned out cacheable.
func (m *passMarker) coveredBy(e *entry) bool {
	for i, f := range m.vary {
		j := slices.Index(e.vary, f)
		if j < 0 || e.varyVals[j] != m.vals[i] {
			return false
		}
	}
	return true
}

// memSize estimates the bytes the marker holds in memory.
func (m *passMarker) memSize() int64 {
	n := int64(64)
	for i := range m.vary {
		n += int64(len(m.vary[i])+len(m.vals[i])) + 32
	}
	return n
}

// passing reports whether a hit-for-pass marker of r applies to a
// request with header h at time now.
func (r *resource) passing(h http.Header, sel selector, now time.Time) bool {
	if r == nil {
		return false
	}
	for i := range r.passes {
		if r.passes[i].matches(h, sel, now) {
			return true
		}
	}
	return false
}

// withPass returns a copy of r with marker m, replacing the marker of
// the same variant and dropping those expired at now.
func (r *resource) withPass(m passMarker, now time.Time) *resource {
	n := &resource{entries: r.entriesOrNil(), passes: make([]passMarker, 0, 1+len(r.passesOrNil()))}
	n.passes = append(n.passes, m)
	for _, o := range r.passesOrNil() {
		if now.Before(o.until) && !o.sameVariant(&m) && len(n.passes) < maxPassMarkers {
			n.passes = append(n.passes, o)
		}
	}
	return n
}

func (r *resource) passesOrNil() []passMarker {
	if r == nil {
		return nil
	}
	return r.passes
}
