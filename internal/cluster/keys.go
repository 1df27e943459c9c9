package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The key layout. Every key of a cluster lives under its prefix,
// "/tandem/<cluster>/"; the parts below follow it.
//
//	nodes/<node>               JSON NodeInfo, under the node's registry lease
//	instances/<node>/<app>     JSON []InstanceInfo, under the same lease
//	purges/<node>/<id>         JSON purgeRecord, under a retention lease
//	purge-acks/<node>          decimal revision: every purge up to it is applied at <node>
//	claims/<name>/<unix>       the node that claimed <name> at that tick, under a lease
//	locks/<name>/              the waiters of a Lock (concurrency.Mutex keys)
//	leases/<name>              the holder of a TryLock, under a lease of its ttl
//	records/<kind>/<id>        small records parts share (uptime verdicts: records/checks/<check>/<node>)
//	node-records/<node>/<kind>/<id>  a node's own records, kept while it is a member
//	db/<name>/...              a PostgreSQL cluster's leader, sync key and members (see DatabaseStore)
//	sites/...                  each node's site beat and the emergency key (see SitesState)
//
// A node's registration and its instances share one lease, so that they
// disappear together when the node stops renewing it. Node names must not
// contain "/", because the instance key is split at the first one.
const (
	nodesDir      = "nodes/"
	instancesDir  = "instances/"
	purgesDir     = "purges/"
	purgeAcksDir  = "purge-acks/"
	claimsDir     = "claims/"
	locksDir      = "locks/"
	leasesDir     = "leases/"
	recordsDir    = "records/"
	nodeRecsDir   = "node-records/"
	keyPrefixRoot = "/"
)

// keyspace is a cluster's key prefix; its methods build the keys above.
type keyspace string

func (k keyspace) nodes() string           { return string(k) + nodesDir }
func (k keyspace) node(name string) string { return k.nodes() + name }
func (k keyspace) instances() string       { return string(k) + instancesDir }
func (k keyspace) instance(node, app string) string {
	return k.instances() + node + "/" + app
}
func (k keyspace) purges() string               { return string(k) + purgesDir }
func (k keyspace) purge(node, id string) string { return k.purges() + node + "/" + id }
func (k keyspace) purgeAcks() string            { return string(k) + purgeAcksDir }
func (k keyspace) purgeAck(node string) string  { return k.purgeAcks() + node }
func (k keyspace) lock(name string) string      { return string(k) + locksDir + name + "/" }
func (k keyspace) nodeRecords(node string) string {
	return string(k) + nodeRecsDir + node + "/"
}

func (k keyspace) claim(name string, tick time.Time) string {
	return string(k) + claimsDir + name + "/" + strconv.FormatInt(tick.Unix(), 10)
}

// nodeFromKey returns the node name of a nodes/ key, and false for any
// other key.
func (k keyspace) nodeFromKey(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, k.nodes())
	return name, ok && name != "" && !strings.Contains(name, "/")
}

// instanceFromKey returns the node and app of an instances/ key.
func (k keyspace) instanceFromKey(key string) (node, app string, ok bool) {
	rest, ok := strings.CutPrefix(key, k.instances())
	if !ok {
		return "", "", false
	}
	node, app, ok = strings.Cut(rest, "/")
	return node, app, ok && node != "" && app != ""
}

// newKeyspace checks a cluster's key prefix: it must start and end with
// "/", so that one cluster's keys never share a prefix with another's.
func newKeyspace(prefix string) (keyspace, error) {
	if len(prefix) < 2 || !strings.HasPrefix(prefix, keyPrefixRoot) || !strings.HasSuffix(prefix, "/") {
		return "", fmt.Errorf("key prefix %q: must start and end with /, like /tandem/<cluster>/", prefix)
	}
	return keyspace(prefix), nil
}

// checkNodeName checks a node name used in keys.
func checkNodeName(name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("node name %q: must be non-empty and contain no /", name)
	}
	return nil
}
