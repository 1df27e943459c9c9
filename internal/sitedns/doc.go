// Package sitedns is the authoritative DNS responder every node runs for
// a zone delegated to the nodes: it answers the zone's configured names
// with the edge addresses of the site that takes clients now — the
// leading site normally, the emergency leader when the leader site is
// dark — so that a client whose resolver asks again after the TTL finds
// whichever site is up.
//
// It serves one zone and nothing else: SOA and NS at the apex (with the
// addresses of name servers inside the zone), A and AAAA for the names,
// NXDOMAIN for other names in the zone, REFUSED for names outside it and
// for zone transfers, and never recursion. Answers over UDP are capped in
// size (truncated, so resolvers retry over TCP) and in rate per client
// network (see limiter); TCP connections are capped in number.
//
// Which sites serve, and their addresses, come from outside (Sites,
// Addresses): ClusterSites derives both from the cluster's view and the
// sites core's choice of the leading site. The answer is built per query
// from them, so it follows a change at once; the responder keeps no zone
// file.
package sitedns
