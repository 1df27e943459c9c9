// Package balance owns the pools of an app's instances: which instance a
// proxied request goes to, whether an instance is fit to receive requests
// (active health checks and passive outlier ejection), retrying a failed
// attempt on another instance, and draining an instance before it stops.
//
// A [Pool] is an [net/http.RoundTripper]: the edge uses it as the Transport
// of an httputil.ReverseProxy whose Rewrite sets the outgoing URL's scheme and
// leaves its host empty; the pool fills in the address of the chosen target.
// The Host header is left as the caller set it.
//
// # Eligibility
//
// A target receives new requests only when it is healthy by active checks
// (Rise consecutive passing checks since it was added or reset), not draining
// and not ejected by passive health. Targets in the pool's zone are preferred;
// other zones receive requests only when no local target is eligible, or when
// the local zone is saturated: every eligible local target has
// Options.SpillInFlight requests in flight or more. When no target in any
// zone is eligible but some healthy ones are merely ejected, the ejected ones
// are used rather than failing every request ("panic mode").
//
// # Other nodes
//
// A Remote target is another node of the cluster, which balances what it
// receives over its own instances of the app. Attempts to it go over HTTPS to
// its node-to-node listener through Options.RemoteTransport and carry
// [AppHeader] naming the app; no other attempt carries that header, whoever
// set it. Its health is what the cluster reports through [Pool.SetHealth],
// and passive health ejects it like any target. Its weight, the number of
// healthy instances behind it ([Pool.SetWeight]), scales the requests in
// flight it may take. The node that receives a forwarded request serves it
// through [Pool.LocalTransport], which never chooses a Remote target, so that
// no request travels on to a third node.
//
// A target may name its site (Target.Site; Remote targets name their
// node's). [Pool.SiteTransport] balances over one site's targets only: a
// follower site's node sends an app's reads to its own site and its
// writes to the leader site through two of them.
//
// # Services reached by URL
//
// A target with a URL (Target.URL) is a service tandem does not run: an
// S3-compatible store, an existing backend put behind the edge. Its
// attempts and health checks go to the URL's scheme and host, with the
// URL's path before the request's and the target's own Host header, if
// it has one; https uses Options.TLS, and a target may bring its own
// Transport (one that signs requests). Targets have priorities
// (Target.Priority), as HAProxy has backup servers: requests go to the
// targets of the lowest priority that has an eligible one, and panic
// mode comes only after every priority was tried.
//
// # Retries
//
// An attempt that fails before any response arrived is retried on a target
// not yet tried by the same request, within Retry.Attempts and the pool's
// retry budget, when it is safe:
//   - the connection could not be made (nothing was sent): any method;
//   - the connection broke before a response (reset, EOF): only idempotent
//     methods per RFC 9110 (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and
//     requests carrying an Idempotency-Key or X-Idempotency-Key header;
//
// and in both cases only while no byte of the request body has been read.
// A response timeout is not retried: the request may still be running on the
// slow target, and sending it elsewhere multiplies the load that made it slow.
// A response, even a 5xx, is never retried. A failure for lack of this host's
// own resources (see ErrLocalResources) is not retried either: every target
// would meet it.
//
// # Hedging
//
// A request that may be sent twice — GET, HEAD, OPTIONS, TRACE, or one
// carrying an Idempotency-Key or X-Idempotency-Key header — and whose body
// can be sent again (none, or one that GetBody makes anew, as for a
// buffered body) is hedged, as Envoy's hedge_on_per_try_timeout and "The
// Tail at Scale" describe: when no try has answered within the per-try
// timeout, another try goes to a target not tried yet, while the first goes
// on; the first response wins and the others are stopped. A request gets
// one hedged try at most. Hedged tries
// count against Retry.Attempts and the retry budget like retries. The
// per-try timeout follows the app's latency (see Hedge). A try stopped
// because a try started after it answered first, after it ran the per-try
// timeout, counts as a transport failure of its target for passive
// health: a target that hangs (a stopped process, a deadlock) costs the
// requests sent to it the per-try timeout rather than a failure, and is
// soon ejected. The first try of a request runs in the caller's goroutine
// as any request's does; hedged tries run in a goroutine of the request's
// own, which RoundTrip waits for before it returns. A request answered
// within the per-try timeout over the targets' own connections allocates
// nothing for hedging.
//
// Interim responses (1xx) of any try are passed to the request's
// httptrace.ClientTrace.Got1xxResponse, over the targets' own connections
// as through a Transport; httputil.ReverseProxy forwards them to its client
// that way.
//
// # Errors and HTTP statuses
//
// RoundTrip's errors map to the status the edge answers with, in this order:
//
//	errors.Is(err, context.Canceled)          the client went away: no status to send (log 499)
//	errors.Is(err, ErrNoTarget),
//	errors.Is(err, ErrLocalResources)         503 Service Unavailable
//	errors.Is(err, ErrUpstreamTimeout) or
//	errors.Is(err, context.DeadlineExceeded)  504 Gateway Timeout
//	anything else (an *UpstreamError)         502 Bad Gateway
//
// Every failure of an attempt is returned as an [*UpstreamError] naming the
// last target tried.
//
// # Connections
//
// Unless Options.Transport is set, each target keeps its own kept-alive
// HTTP/1.1 connections, and a request without a body and without an upgrade
// (GET, HEAD, most DELETEs: nearly everything a site serves) is written and
// its response read in the caller's goroutine. net/http's Transport hands
// each request to a writer goroutine and each response back from a reader
// goroutine; on a proxy to instances on the same machine those hand-offs
// cost more than the proxying. Requests with a body (which the target may
// answer before reading it all) and upgrades go through a net/http
// Transport. A connection the target closed while idle is found before use
// when it sat idle for a second or more, or when the request could not be
// sent twice; otherwise a request that meets it is sent again on a new
// connection if that is safe, without counting against the target.
package balance
