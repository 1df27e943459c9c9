// Package sites runs the leader/follower layout of a cluster spread over
// sites (places with their own internet path): one leader site holds the
// database primary and takes the writes; a follower site replicates and,
// when the leader site has been unreachable for a while, becomes the
// emergency leader, serving the critical apps until the leader site is
// back and a failback hands the primary over again.
//
// # Shape
//
// The decisions live in [Machine], a pure state machine in the style of
// etcd-io/raft: an [Observation] (the sites' beats and the emergency key
// as read under quorum, the database's state, the time) goes in,
// [Action]s come out. A [Controller] is the driver: it reads the cluster
// and the database, steps the machine and performs its actions, and
// applies this node's [Mode] through [Effects] (the apps' instances, the
// routes' fallback pages).
//
// # Reads served by a follower site
//
// An app may have a follower site serve its reads (reads: local): on a
// node of that site, [Reads] sends GET and HEAD to the site's own
// instances, which read from the site's standby, and every other method
// to the leader site; the response to a write carries [LSNCookie], the
// primary's WAL position after it, and a read carrying it goes to the
// leader site until the site's standby has replayed that far ([Decide]).
//
// # Deciding through the quorum
//
// Every node keeps a beat: its site under a short etcd lease
// (cluster.SiteBeat). A site is up while one of its nodes' beats is live.
// Only etcd's leader, with a quorum behind it, expires a lease, and a
// node reads the beats with a linearizable read, which succeeds only
// while it reaches a quorum: a node cut off from the others can make no
// site look down, and declares nothing. A node outside the leader site
// that sees, in such reads, no live beat of a leader site it has known
// for EmergencyAfter declares the emergency: it writes the emergency key
// with a compare-and-swap, so one declaration stands. With the leader
// site holding fewer than half the etcd members (two sites and a witness
// in a third place), the leader site alone can never declare, nor stop
// the others from declaring.
//
// # What an emergency does
//
//   - The database (internal/pgha) reads the key with its own: the most
//     advanced standby outside the leader site may take the leader lease
//     although it is not the synchronous standby. The leader site's
//     primary, cut off from the quorum, stopped before its lease could
//     expire: it is fenced.
//   - Every node outside the leader site enters emergency mode: each
//     critical app runs its site's emergency_instances, and the routes
//     that are not critical answer from the cache while it holds a
//     usable copy, else with a fallback page.
//   - The declaring node raises an alert and the nodes record what they
//     did in their audit logs.
//
// # Failback
//
// When the leader site is back its database members rejoin as standbys
// of the emergency leader (pg_rewind) and catch up. [Controller.Failback]
// — `tandem sites failback`, or by itself after StableFor with failback
// auto — switches the primary over to the leader site's most caught-up
// member (writes pause for well under a second and nothing is lost), then
// ends the emergency: the follower sites' emergency instances stop and
// the routes serve as usual again. An emergency also ends by itself once
// the database primary is back in the leader site (a switchover made by
// hand).
package sites
