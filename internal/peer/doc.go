// Package peer is the node-to-node API: what one tandem node asks of
// another over the node listener (HTTPS with mutual TLS from the cluster
// CA, served by internal/cluster).
//
// Two kinds of requests use it. App traffic: a request the balancer of
// one node sends to another node's instances of an app (a remote target)
// carries the app's name in balance.AppHeader and goes to that app's
// local instances only. Control: the node that coordinates a rollout has
// each other node roll its own instances (POST /node/v1/apps/{app}/deploy
// and /rollback), and follows each one's progress as a stream of
// deploy.Events, one JSON object a line (stream.go).
//
// [Handler] serves both; [Client] calls the control routes and implements
// apprun.Peers; [Transport] carries both kinds of request to other nodes.
package peer
