// Package uptime owns the uptime checks: HTTP probes of a URL run from
// every node, decided together so that one node's bad network raises no
// alarm, and the alerts sent when a check changes state.
//
// The decisions are pure state machines in the etcd-io/raft style, tested
// without goroutines or clocks: a [Tracker] is one node's rise/fall view of
// one check over its own probes, and an [Evaluator] turns the latest
// [Verdict] of every node into the check's cluster state with a quorum
// rule, returning the [Action]s to take ([Alert] on a change of state,
// [Renotify] while it stays down).
//
// A [Monitor] is the driver: it probes each check on its interval, keeps
// this node's recent probes, publishes its verdicts through [Verdicts] (in
// memory on a single node; in etcd for a cluster), evaluates the check and,
// when [Leader] says this node is the one, hands the alerts to its
// [Notifier]s: a [Webhook] and an [SMTP] mail sender.
package uptime
