// Package deploy owns releases and rolling deploys of an app's instances.
//
// A [Release] is what an app's instances run: command, working directory
// and environment, plus a version label. A [Store] keeps each app's
// releases (the last few, for rollback), the record of every deploy and the
// deploy in progress, in one JSON file per app written atomically, so that a
// restarted node knows which release is current and can settle a deploy
// that was interrupted.
//
// A deploy is a [Machine]: a pure state machine whose inputs are instance
// events, health results and ticks of a clock, and whose outputs are
// [Action]s (run the release phase, start an instance, retire one, finish).
// It rolls start-first: a new instance must pass its health gate within the
// startup allowance before an old one is drained and stopped, so that at
// least the desired number of healthy instances serves at every moment. A
// new instance that fails its gate rolls the deploy back the same way.
// Every transition is tested without sleeping.
//
// A [Driver] runs a Machine against a [Runtime] (in tandem, the node's
// supervisor and balancer): it performs the actions, feeds back their
// results and the events the Runtime reports, and publishes progress for
// the CLI.
//
// Across a cluster, a [Rollout] decides the order, in the same style: the
// coordinating node rolls first (the release phase runs there, once),
// then the other nodes zone by zone; a node that fails rolls back the
// nodes done, one not reached is left to converge, and without the
// cluster-wide lock nothing more starts. A [RolloutDriver] runs it
// through [Local] (the coordinator's own deploy) and [Peers] (the other
// nodes), relaying every node's [Event]s marked with its name.
package deploy
