// Package httpcache is tandem's shared HTTP cache: an RFC 9111 cache that
// wraps the edge's reverse proxy as an [http.Handler].
//
// It owns the caching decisions (freshness, validation, Vary, stale
// content, invalidation after unsafe methods, the targeted fields of
// RFC 9213 and the Cache-Status field of RFC 9211), request coalescing,
// the storage tiers (memory, bounded by bytes and evicted by otter's
// W-TinyLFU policy; an optional disk tier that survives a restart) and
// purging (by URL, by tag, by regular-expression ban; hard or soft).
//
// A [Cache] is shared by all routes of a node; [Cache.Handler] wraps one
// route's upstream handler with that route's [RouteOptions]. Purges are
// plain [Event] values, parsed from the requests CMSs send with
// [ParsePurge] and applied with [Cache.Apply], so that they can be
// replicated to other nodes unchanged.
//
// Decisions where the RFCs leave a choice:
//
//   - Targeted fields: Tandem-Cache-Control, then CDN-Cache-Control, then
//     Cache-Control (and Expires) decide the policy. Tandem-Cache-Control
//     targets only tandem and is removed before delivery;
//     CDN-Cache-Control is forwarded for a CDN in front of tandem. A
//     targeted field is a Structured Fields Dictionary: one that does not
//     parse as one is ignored whole (RFC 9213 §2.1), not read leniently.
//   - Expires counts only as one strict HTTP-date; anything else (two
//     lines, "0", double spaces) means already expired (RFC 9111 §5.3).
//   - Heuristic freshness (10% of the time since Last-Modified, capped by
//     RouteOptions.HeuristicMax) only for statuses cacheable by default or
//     "public" responses; RouteOptions.DefaultTTL is off by default.
//   - s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10): once stale,
//     such a response never stands in for an origin error — not by
//     stale-if-error, not by RouteOptions.Grace — and a client's
//     max-stale cannot extend it. The origin's own stale-while-revalidate
//     still applies: the origin is asked at once, in the background.
//     must-revalidate, proxy-revalidate and no-cache forbid all stale use.
//   - A request with Authorization may be served a stored response; the
//     response to it is stored only with public, s-maxage or
//     must-revalidate (RFC 9111 §3.5).
//   - Responses with Set-Cookie are not stored unless
//     RouteOptions.StoreSetCookie (then without the Set-Cookie field).
//   - Pragma is ignored (deprecated by RFC 9111). Client no-cache and
//     max-age=0 are obeyed unless RouteOptions.IgnoreClientNoCache.
//   - 206 responses are never stored; ranges are served from stored 200s.
//   - Stale responses carry no Warning (obsolete); Cache-Status says
//     "hit; ttl=-N; detail=stale-while-revalidate" or
//     "fwd=stale; fwd-status=503; detail=stale-if-error".
//   - A soft purge marks entries in memory stale; their disk copies are
//     removed (soft state is not persisted).
//   - Coalescing: a request joins the fetch of its key in flight, unless
//     a purge since that fetch started selects its response (the tags
//     once its header is in; before, any tag purge of the key): then it
//     starts a fetch of its own. A purge never reaches a request that
//     started after it through a fetch that started before it.
//   - Hit-for-pass (RouteOptions.HitForPass): once a response cannot be
//     stored, requests of its variant go to the origin each on its own
//     rather than queue behind one another's fetch. The variant is the
//     response's Vary and the route's key fields and, for a private or
//     Set-Cookie answer, also the Cookie field: one user's session does
//     not stop coalescing for everyone else.
//   - RouteOptions.VaryCookies narrows Vary: Cookie to the listed
//     cookies; RouteOptions.ClientCacheControl replaces Cache-Control on
//     what clients get of shareable responses, never on what is stored.
//
// The pure parts (header parsing in cachecontrol.go, targeted.go,
// httpdate.go, vary.go, tags.go; the policy in policy.go and
// freshness.go) do no I/O and read no clock; the rest is a thin driver
// around them.
package httpcache
