package telemetry

import "github.com/prometheus/client_golang/prometheus"

// DatabaseSample is the stack's PostgreSQL as this node sees it at a
// scrape: read from its member (or, on a node without one, from the
// store), and its DB endpoints' counters.
type DatabaseSample struct {
	// Role is this node's member's role (primary, standby, starting...);
	// "" on a node that holds no member.
	Role string
	// Synchronous says the database replicates synchronously.
	Synchronous bool
	// StoreReachable: the node read the database's state from etcd
	// recently; what follows is from its last read otherwise.
	StoreReachable bool
	// Failsafe: this node's member stays primary without etcd, kept by
	// its synchronous standby.
	Failsafe bool
	// SyncStandby is the standby the sync key names (every acknowledged
	// commit waits for it); "" for none.
	SyncStandby string
	// Members are the configured members, those without a live record
	// in the store included.
	Members []DatabaseMemberSample
	// Endpoints are this node's DB endpoints.
	Endpoints []DatabaseEndpointSample
}

// DatabaseMemberSample is one member at a scrape.
type DatabaseMemberSample struct {
	Name string
	// Up: the member's record is live in the store. A member that is not
	// up has no role, timeline or lag.
	Up bool
	// Role is the role it publishes (primary, standby, starting...).
	Role string
	// Leader: it holds the leader lease.
	Leader   bool
	Timeline uint32
	// Standby: a leader is known and this member is not it, so LagBytes
	// (the WAL it has yet to replay) means something.
	Standby  bool
	LagBytes int64
	// LagSeconds is the replay delay the primary reports for it; negative
	// while the primary does not list it as a replica.
	LagSeconds float64
}

// DatabaseEndpointSample is one DB endpoint's counters at a scrape
// (pgha.EndpointStats, and where it routes).
type DatabaseEndpointSample struct {
	// Endpoint names it by where it leads, as its log does: "primary"
	// (DATABASE_URL), "standby" (DATABASE_READ_URL, the nearest one) or
	// "site" (the DATABASE_URL of a follower site's instances serving
	// reads: the site's standby).
	Endpoint string
	// Routed: it has a server to send new connections to.
	Routed bool
	// Open, Relaying and Held are connections now: all of them, those
	// relayed to a server, those waiting for a target.
	Open, Relaying, Held int64
	Accepted, Relayed    uint64
	// BytesToServer and BytesToClient are the bytes relayed each way.
	BytesToServer, BytesToClient uint64
	// RefusedNoTarget, RefusedFull and BadStartup count connections
	// refused: 57P03 (no server), 53300 (full), no proper startup.
	RefusedNoTarget, RefusedFull, BadStartup uint64
	// Severed counts relayed connections closed because the target
	// changed (a failover, a switchover, a standby gone).
	Severed uint64
	Cancels uint64
}

// WatchDatabase exports the database's state and its endpoints' counters,
// read from sample at each scrape, and makes the leader change and
// demotion counters exist from the start at 0.
func (m *Metrics) WatchDatabase(sample func() DatabaseSample) error {
	if err := m.register(&dbCollector{sample: sample}); err != nil {
		return err
	}
	for _, kind := range []string{"bootstrap", "failover", "switchover"} {
		m.dbLeaderChanges.WithLabelValues(kind)
	}
	m.dbDemotions.WithLabelValues()
	return nil
}

// DatabaseLeaderChanged counts a change of the database's leader seen by
// this node's member, by kind (bootstrap, failover, switchover).
func (m *Metrics) DatabaseLeaderChanged(kind string) {
	m.dbLeaderChanges.WithLabelValues(kind).Inc()
}

// DatabaseDemoted counts a demotion of this node's member: it stopped
// being primary.
func (m *Metrics) DatabaseDemoted() {
	m.dbDemotions.WithLabelValues().Inc()
}

type dbCollector struct {
	sample func() DatabaseSample
}

var (
	dbRoleDesc        = desc("tandem_db_role", "1 for the role of this node's PostgreSQL member (primary, standby, starting, ...); absent on a node without a member.", "role")
	dbSynchronousDesc = desc("tandem_db_synchronous", "1 when the database replicates synchronously (database.postgres.synchronous).")
	dbStoreDesc       = desc("tandem_db_store_reachable", "1 when this node read the database's state from etcd recently; 0 means the database series show its last read.")
	dbFailsafeDesc    = desc("tandem_db_failsafe", "1 while this node's member stays primary without etcd, kept by its synchronous standby.")
	dbSyncCountDesc   = desc("tandem_db_sync_standbys", "Synchronous standbys named in etcd: every acknowledged commit is on them, and only they may be promoted.")
	dbMemberUpDesc    = desc("tandem_db_member_up", "1 while the member's record is live in etcd (its node's tandem runs it), else 0.", "member")
	dbMemberRoleDesc  = desc("tandem_db_member_role", "1 for the role the member publishes (primary, standby, starting, ...).", "member", "role")
	dbLeaderDesc      = desc("tandem_db_leader", "1 for the member holding the leader lease, 0 for the others.", "member")
	dbTimelineDesc    = desc("tandem_db_member_timeline", "The member's PostgreSQL timeline; it goes up by one at each promotion.", "member")
	dbLagBytesDesc    = desc("tandem_db_replication_lag_bytes", "WAL the standby has yet to replay, in bytes behind the primary's position.", "member")
	dbLagSecsDesc     = desc("tandem_db_replication_lag_seconds", "The standby's replay delay as the primary reports it (pg_stat_replication.replay_lag); absent while it does not stream.", "member")

	dbEpRoutedDesc   = desc("tandem_db_endpoint_routed", "1 while the endpoint has a server to send connections to (primary: the primary; standby: a streaming standby).", "endpoint")
	dbEpOpenDesc     = desc("tandem_db_endpoint_connections", "Client connections open at the endpoint, in any phase.", "endpoint")
	dbEpRelayingDesc = desc("tandem_db_endpoint_connections_relaying", "Client connections relayed to a server now.", "endpoint")
	dbEpHeldDesc     = desc("tandem_db_endpoint_connections_held", "Client connections held now, waiting for a server (failing over).", "endpoint")
	dbEpAcceptedDesc = desc("tandem_db_endpoint_accepted_total", "Client connections accepted.", "endpoint")
	dbEpRelayedDesc  = desc("tandem_db_endpoint_relayed_total", "Client connections relayed to a server.", "endpoint")
	dbEpBytesDesc    = desc("tandem_db_endpoint_bytes_total", "Bytes relayed, by direction (to_server, to_client).", "endpoint", "direction")
	dbEpRefusedDesc  = desc("tandem_db_endpoint_refused_total", "Client connections refused, by reason: no_target (57P03, failing over: no server within the hold time, or it could not be reached), full (53300, beyond max_connections), bad_startup (no proper startup packet in time).", "endpoint", "reason")
	dbEpSeveredDesc  = desc("tandem_db_endpoint_severed_total", "Relayed connections closed because the endpoint's server changed: the primary changed or went away.", "endpoint")
	dbEpCancelsDesc  = desc("tandem_db_endpoint_cancels_total", "Cancel requests forwarded to a server.", "endpoint")
	dbCollectorDescs = []*prometheus.Desc{dbRoleDesc, dbSynchronousDesc, dbStoreDesc, dbFailsafeDesc, dbSyncCountDesc,
		dbMemberUpDesc, dbMemberRoleDesc, dbLeaderDesc, dbTimelineDesc, dbLagBytesDesc, dbLagSecsDesc,
		dbEpRoutedDesc, dbEpOpenDesc, dbEpRelayingDesc, dbEpHeldDesc, dbEpAcceptedDesc, dbEpRelayedDesc,
		dbEpBytesDesc, dbEpRefusedDesc, dbEpSeveredDesc, dbEpCancelsDesc}
)

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range dbCollectorDescs {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sample()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if s.Role != "" {
		gauge(dbRoleDesc, 1, s.Role)
	}
	gauge(dbSynchronousDesc, b2f(s.Synchronous))
	gauge(dbStoreDesc, b2f(s.StoreReachable))
	gauge(dbFailsafeDesc, b2f(s.Failsafe))
	gauge(dbSyncCountDesc, b2f(s.SyncStandby != ""))
	for _, mb := range s.Members {
		gauge(dbMemberUpDesc, b2f(mb.Up), mb.Name)
		if !mb.Up {
			continue
		}
		gauge(dbMemberRoleDesc, 1, mb.Name, mb.Role)
		gauge(dbLeaderDesc, b2f(mb.Leader), mb.Name)
		gauge(dbTimelineDesc, float64(mb.Timeline), mb.Name)
		if mb.Standby {
			gauge(dbLagBytesDesc, float64(mb.LagBytes), mb.Name)
			if mb.LagSeconds >= 0 {
				gauge(dbLagSecsDesc, mb.LagSeconds, mb.Name)
			}
		}
	}
	for _, e := range s.Endpoints {
		collectEndpoint(ch, e)
	}
}

func collectEndpoint(ch chan<- prometheus.Metric, e DatabaseEndpointSample) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{e.Endpoint}, labels...)...)
	}
	metric(dbEpRoutedDesc, prometheus.GaugeValue, b2f(e.Routed))
	metric(dbEpOpenDesc, prometheus.GaugeValue, float64(e.Open))
	metric(dbEpRelayingDesc, prometheus.GaugeValue, float64(e.Relaying))
	metric(dbEpHeldDesc, prometheus.GaugeValue, float64(e.Held))
	metric(dbEpAcceptedDesc, prometheus.CounterValue, float64(e.Accepted))
	metric(dbEpRelayedDesc, prometheus.CounterValue, float64(e.Relayed))
	metric(dbEpBytesDesc, prometheus.CounterValue, float64(e.BytesToServer), "to_server")
	metric(dbEpBytesDesc, prometheus.CounterValue, float64(e.BytesToClient), "to_client")
	metric(dbEpRefusedDesc, prometheus.CounterValue, float64(e.RefusedNoTarget), "no_target")
	metric(dbEpRefusedDesc, prometheus.CounterValue, float64(e.RefusedFull), "full")
	metric(dbEpRefusedDesc, prometheus.CounterValue, float64(e.BadStartup), "bad_startup")
	metric(dbEpSeveredDesc, prometheus.CounterValue, float64(e.Severed))
	metric(dbEpCancelsDesc, prometheus.CounterValue, float64(e.Cancels))
}
