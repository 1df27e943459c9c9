// Package pgha runs PostgreSQL highly available: a primary and standbys
// (one of them synchronous) on several nodes, with automatic failover
// decided through the cluster's etcd, and no acknowledged commit lost in
// synchronous mode.
//
// # Shape
//
// The decisions live in [Machine], a pure state machine: an
// [Observation] (this member's PostgreSQL, the store as last read, the
// leader lease, the time) goes in, [Action]s come out. Its rules are in
// its comment and its tests feed it observations tick by tick. A
// [Member] is the driver: it runs postgres and PostgreSQL's programs as
// the postgres user, observes them over the local Unix socket (pgx),
// renews the lease on its own goroutine, performs the actions and
// publishes its [MemberRecord]. Coordination goes through a [Store]; in
// tandem, cluster.DatabaseStore on etcd.
//
// # API for the node
//
//	m, err := pgha.New(opts) // checks options, binaries, the postgres user, the directory's owner; starts nothing
//	go m.Run(ctx)            // until ctx ends; then a fast shutdown, and the lease released so a standby takes over at once
//	m.Status()               // members, roles, timelines, LSNs, lag in bytes and seconds, sync state, lease holder
//	m.Switchover(ctx, "b")   // planned handover ("" for the best standby); waits until done
//	m.Routes()               // the primary's and the nearest standby's address, and a channel closed on change
//	m.Credentials(ctx)       // the generated roles (the app's for DATABASE_URL)
//	opts.OnEvent             // bootstrap, failover and switchover with their cause; demotions; the failsafe
//
// Every node, a member or not, offers its apps an [Endpoint]: a local
// address that speaks enough of PostgreSQL's protocol (pgproto3) to relay
// a session to the primary, hold new sessions briefly while there is
// none, answer SQLSTATE 57P03 ("failing over, retry") when the hold runs
// out, and close every session to a primary the moment it is replaced.
// The DB endpoint follows Routes: Primary is set only while the holder
// of the leader lease publishes that it runs as primary (and, without a
// leader key, for a primary the failsafe keeps: its synchronous standby
// still streams from it); "" means failing over.
//
// # Failover
//
// The primary holds the leader key under a lease of Options.TTL (3 s by
// default), renewed every TTL/6 with a single request whose send time is
// recorded: the lease cannot expire before that time + TTL. A primary
// that cannot renew stops postgres at once (an immediate shutdown) at
// send time + TTL - TTL/3, before its lease can expire; only then may a
// standby's campaign succeed. A standby campaigns when the key is gone,
// it no longer streams from a primary, and it may: in synchronous mode it
// is the standby the sync key names (or the leader it names); in
// asynchronous mode it has the most WAL of the healthy standbys, within
// 1 MiB of the last primary. The campaign is one etcd transaction that
// also rewrites the sync key, so the key always names the current leader.
// A killed primary is replaced a little over TTL after it died (the
// tests measure kill -> first acknowledged write on the new primary).
//
// Failsafe: in synchronous mode a primary that loses etcd keeps running
// while its synchronous standby streams and replies, as Patroni's
// failsafe mode does. That is safe because no commit can be acknowledged
// without that standby, and the standby does not campaign while it
// streams; once it stops streaming, the primary stops too. An etcd outage
// therefore does not take the database down.
//
// A crashed postgres on the primary is restarted in place while its lease
// holds, for up to 2 × TTL; then the lease is released and a standby
// takes over.
//
// # Synchronous replication and what asynchronous mode may lose
//
// In synchronous mode (the default) tandem owns synchronous_standby_names
// and the sync key: a standby enters the key only after PostgreSQL
// reports it synchronous and it has flushed all the primary had flushed
// then; it leaves the key before it leaves the setting. Without a
// synchronous standby the primary degrades to asynchronous replication
// (the key then names nobody, so nobody can be promoted and nothing
// acknowledged can be lost), unless Options.Strict keeps commits waiting.
// Clients must not treat a commit as done when they cancelled it: a
// cancelled wait for the synchronous standby commits locally.
//
// In asynchronous mode a failover promotes the most advanced standby,
// and commits the old primary acknowledged in the last moments before it
// failed (what the standby had not received) are lost; the tests report
// how many. Use it only where that is acceptable.
//
// # Sites
//
// With Options.LeaderSite set, members know their sites (places with
// their own internet path) and the rules of decide_sites.go apply: the
// synchronous standby is in the primary's site (another site's with
// CrossSiteSync), leadership leaves a site only through a switchover or
// an emergency, and while the sites' emergency key (read with the
// database's keys, written under quorum by the sites controller)
// declares the leader site unreachable, the most advanced standby outside
// it may take the free lease though the sync key does not name it,
// losing what it had not received (its cause estimates how much). The
// failsafe then needs a synchronous standby in another site, so that a
// leader site cut off as a whole stops its primary before its lease can
// expire; its members rewind once before they follow the emergency
// leader. A switchover to a standby that is not the synchronous one (a
// failback) names it in the sync key once it has the old primary's
// shutdown checkpoint.
//
// # Rejoin
//
// A member whose data directory last ran as a primary (state.json) is
// rewound with pg_rewind from the new primary before it follows it
// (data checksums make that possible); when the rewind fails it is
// cloned afresh with pg_basebackup, the old directory moved aside.
// Standbys use a replication slot each, which the primary creates and
// drops with the member list.
//
// # Files
//
// In Options.DataDir, owned by the postgres user: data/ (PGDATA; its
// postgresql.conf only includes tandem's), conf/ (postgresql.conf,
// pg_hba.conf and pg_ident.conf, written by tandem), tls/ (the cluster
// CA and this node's certificate: PostgreSQL serves TLS and replication
// verifies the CA), run/ (the Unix socket), pgpass, state.json and
// postgresql.log. Settings tandem owns are refused in Options.Parameters
// and removed from postgresql.auto.conf before each start. Credentials
// are generated at bootstrap and kept in etcd, never in the stack file.
//
// # Backups
//
// Options.Archive sets archive_mode, archive_command, archive_timeout and
// restore_command on every member (archive_mode "on" archives from
// whichever member is primary).
package pgha
