package httpcache

import (
	"net/http"
	"os"
	"slices"
)

// isOriginError reports the statuses for which a stored response may be
// served instead (stale-if-error, grace): the origin or the proxy
// failing, not the application saying no.
func isOriginError(status int) bool {
	switch status {
	case 500, 502, 503, 504:
		return true
	}
	return false
}

// onHeader decides, when the upstream response header arrives, what the
// flight's readers get and whether the response is stored; then it
// releases them.
func (c *Cache) onHeader(w *fetchWriter, code int) {
	f := w.f
	f.respTime = c.now()
	h := w.header.Clone()
	removeHopByHop(h)
	if w.stale != nil && c.answerWithStored(w, code, h) {
		return
	}
	f.kind, f.status, f.header = flightResponse, code, h
	ok, reason := c.share(f, code, h)
	if !ok {
		// An error answer (often the edge's own 503 while no instance is
		// up) says nothing about what the resource will be once the app
		// answers: marking it pass would stop coalescing exactly when a
		// recovering app needs it most.
		if d := f.route.o.hitForPass(); d > 0 && reason != "authorization" && !isOriginError(code) {
			c.setPass(f.key, newPassMarker(f.vary, reason, f.req, f.route.sel, f.respTime.Add(d)), f.respTime)
		}
		c.release(f)
		return
	}
	if purged, _ := c.plog.purgedSince(f.since, f.key, f.tags, true); purged {
		// A purge since the fetch started selects the response: it
		// goes to the requests that were waiting, not to the store,
		// nor to requests that come later (see Cache.unpurged).
		f.detail = "purged"
		c.release(f)
		return
	}
	w.beginStoring(h)
	close(f.ready)
}

// release unregisters f and hands its answer to its readers, when the
// response is not being stored.
func (c *Cache) release(f *flight) {
	c.flights.leave(f)
	close(f.ready)
}

// answerWithStored handles a revalidation's answer that the stored
// response w.stale stands for: a 304 (which refreshes it), or an origin
// error it may be served in place of. It reports whether it did; a 304
// for another representation makes the fetch ask again.
func (c *Cache) answerWithStored(w *fetchWriter, code int, h http.Header) bool {
	f, stale := w.f, w.stale
	switch {
	case code == http.StatusNotModified:
		if etag := h.Get("Etag"); etag != "" && etag != stale.etag {
			w.retry, w.discard = true, true
			return true
		}
		e, stored := c.refresh(f, stale, h)
		f.kind, f.entry, f.tags = flightNotModified, e, e.tags
		f.storing.Store(stored)
		c.stats.notModified.Add(1)
	case isOriginError(code) && stale.mayServeOnError(f.respTime, f.reqCC, f.route.o.Grace):
		f.kind, f.entry, f.status, f.tags = flightStale, stale, code, stale.tags
	default:
		return false
	}
	w.discard = true
	c.release(f)
	return true
}

// share decides whether a response may answer other requests and be
// stored, and sets what they would get; reason names the rule that
// refused it.
func (c *Cache) share(f *flight, code int, h http.Header) (ok bool, reason string) {
	cc, targeted := responsePolicy(h)
	vary := ParseVary(h["Vary"])
	ok, reason = storable(storeInput{
		status: code, header: h, cc: cc, targeted: targeted, vary: vary,
		reqHasAuth: f.req.Header.Get("Authorization") != "", route: &f.route.o,
	})
	f.shareable, f.detail = ok, reason
	f.vary = mergeFields(vary.Fields, f.route.keyer.headers)
	if !ok {
		return false, reason
	}
	f.shared = sharedHeader(h, cc, &f.route.o)
	f.tags = tagsOf(h, c.tagHeaders)
	e := f.newEntry(f.shared)
	f.ttl = e.lifetime - e.initAge
	if e.lifetime <= 0 && e.etag == "" && e.lastMod.IsZero() &&
		cc.StaleWhileRevalidate == Absent && cc.StaleIfError == Absent && f.route.o.Grace == 0 {
		f.detail = "stale-on-arrival" // could never be reused
		return false, f.detail
	}
	return true, ""
}

// beginStoring sets the fetch up to keep the body for the store: in
// memory, or on disk when it will be big.
func (w *fetchWriter) beginStoring(h http.Header) {
	f, c := w.f, w.c
	w.limit = f.route.o.maxObjectSize()
	w.memMax = c.memBodyMax(&f.route.o)
	if c.disk.usable() {
		w.memMax = min(w.memMax, c.memObjectMax)
	}
	f.storing.Store(true)
	f.sp.setRetain(true)
	switch cl := contentLength(h); {
	case cl > w.limit:
		f.detail = "too-big"
		w.stopStoring("too-big")
	case cl > w.memMax:
		w.size = cl // spill now: the body goes straight to disk
		w.spill()
		w.size = 0
	default:
		f.sp.reserve(cl)
	}
}

// mergeFields returns the sorted union of two sorted field lists.
func mergeFields(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// sharedHeader is the part of a response header that other clients and
// the store may get: without the fields private="..." names (RFC 9111
// §5.2.2.7) and without Set-Cookie.
func sharedHeader(h http.Header, cc CacheControl, o *RouteOptions) http.Header {
	s := h.Clone()
	for _, f := range cc.PrivateFields {
		delete(s, f)
	}
	delete(s, "Set-Cookie")
	delete(s, "Set-Cookie2")
	return clipHeader(s)
}

// storeResponse stores a completely fetched response. file, when not
// nil, holds the body (streamed to disk); otherwise it is in the spool's
// memory, and the returned entry and generation are for persist.
func (c *Cache) storeResponse(f *flight, file *os.File) (*entry, uint64) {
	h := f.shared.Clone()
	delete(h, "Content-Length")
	e := f.newEntry(clipHeader(h))
	e.vary = f.vary
	e.varyVals = f.route.sel.values(f.req.Header, f.vary)
	e.tags = f.tags
	if file != nil {
		e.body = newBody(nil, "", f.sp.size)
		v, err := c.disk.commit(file, e)
		if err != nil {
			c.diskFailed(err)
			return nil, 0
		}
		e.body.path = v.path
		if _, ok := c.insert(e, f.since); ok {
			c.stats.stores.Add(1)
		} else {
			c.disk.removeVariants(e.key, func(o *diskVariant) bool { return o == v })
		}
		return nil, 0
	}
	chunks, size, ok := f.sp.memoryBody()
	if !ok {
		return nil, 0
	}
	e.body = newBody(compactChunks(chunks, size), "", size)
	g, ok := c.insert(e, f.since)
	if !ok {
		return nil, 0
	}
	c.stats.stores.Add(1)
	return e, g
}

// compactChunks copies a body whose chunks waste much capacity into one
// exact slice, so that small objects do not pin 64 KiB chunks.
func compactChunks(chunks [][]byte, size int64) [][]byte {
	var capacity int64
	for _, c := range chunks {
		capacity += int64(cap(c))
	}
	if capacity <= size+size/8 {
		return chunks
	}
	b := make([]byte, 0, size)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return [][]byte{b}
}

// refresh applies a 304 to the stored response it validated (RFC 9111
// §4.3.4) and stores the result, unless it may not be stored or a purge
// since the fetch started selects it: every field of the 304 replaces
// the stored one except Content-Length. stored says whether it was.
func (c *Cache) refresh(f *flight, stale *entry, h304 http.Header) (e *entry, stored bool) {
	h := stale.header.Clone()
	cc, _ := responsePolicy(h304)
	for k, v := range h304 {
		if k != "Content-Length" && k != "Set-Cookie" && !slices.Contains(cc.PrivateFields, k) {
			h[k] = v
		}
	}
	if _, ok := h304["Date"]; !ok {
		// The stored Date is the old response's: ages would count from
		// it. A 304 without one is dated on arrival (RFC 9110 §6.6.1).
		h["Date"] = []string{f.respTime.UTC().Format(http.TimeFormat)}
	}
	e = newEntry(stale.key, stale.status, clipHeader(h), f.reqTime, f.respTime)
	e.setFreshness(f.route.hs)
	e.vary, e.varyVals, e.body = stale.vary, stale.varyVals, stale.body
	e.tags = tagsOf(h, c.tagHeaders)
	ok, _ := storable(storeInput{
		status: e.status, header: h, cc: e.cc, targeted: e.targeted,
		vary: ParseVary(h["Vary"]), route: &f.route.o,
	})
	if !ok {
		c.removeEntry(stale)
		return e, false
	}
	g, ok := c.insert(e, f.since)
	if !ok {
		return e, false
	}
	c.stats.stores.Add(1)
	if e.body.chunks != nil && c.disk != nil {
		c.persist(e, g)
	}
	return e, true
}
