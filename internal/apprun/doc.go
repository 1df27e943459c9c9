// Package apprun runs a stack's apps on one node.
//
// An [App] is one app on this node: its instances (processes of the
// supervisor, each a target of the app's balancer pool), its releases and
// their release phase, its deploys — on this node, and across the cluster
// when this node coordinates one — the restarts of instances whose health
// checks keep failing, and the pause and maintenance modes of its gate.
// Each app's releases are kept in a [deploy.Store] on the node; the
// release the cluster wants each app to run is kept in the cluster, so a
// node that was down during a deploy, or joins later, converges to it.
//
// A [Set] holds the node's apps and routes the supervisor's events to
// them. [Presence] publishes the apps' instances to the cluster's registry
// and follows the other nodes' instances as remote targets of each pool.
//
// Everything an App needs comes in through its Options — the supervisor,
// the pool, the gate, the release store, the cluster and the peers — as
// small interfaces this package owns; it calls nothing back.
package apprun
