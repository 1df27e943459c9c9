package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// CheckSample is one uptime check at a scrape.
type CheckSample struct {
	Check string
	// State is the cluster's verdict: 1 up, 0 down, -1 not yet known.
	State float64
	// LocalLatency is this node's last probe, in seconds; negative when
	// it has not probed yet.
	LocalLatency float64
}

// WatchChecks exports the uptime checks list returns at each scrape.
func (m *Metrics) WatchChecks(list func() []CheckSample) error {
	return m.register(&checkCollector{list: list})
}

var (
	checkUpDesc      = desc("tandem_check_up", "Uptime check state as decided by the nodes' quorum: 1 up, 0 down, -1 unknown.", "check")
	checkLatencyDesc = desc("tandem_check_probe_duration_seconds", "Duration of this node's last probe of the check.", "check")
)

type checkCollector struct{ list func() []CheckSample }

func (c *checkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- checkUpDesc
	ch <- checkLatencyDesc
}

func (c *checkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.list() {
		ch <- prometheus.MustNewConstMetric(checkUpDesc, prometheus.GaugeValue, s.State, s.Check)
		if s.LocalLatency >= 0 {
			ch <- prometheus.MustNewConstMetric(checkLatencyDesc, prometheus.GaugeValue, s.LocalLatency, s.Check)
		}
	}
}

// ClusterSample is the control plane and the cluster view at a scrape.
type ClusterSample struct {
	Quorum bool // etcd answers linearizable reads
	Synced bool // the node's view of the other nodes is current
	// Nodes counts the nodes in the view by zone.
	Nodes  map[string]int
	Leader bool // this node's etcd member leads
	// NoSpaceAlarm is true while etcd's NOSPACE alarm (its database at
	// its quota) makes it refuse writes.
	NoSpaceAlarm bool
	// DataDirFree is the free space under data_dir, in bytes; negative
	// when it could not be measured. DataDirFloor is the floor below which
	// control-plane writes are refused, and DataDirLow says they are.
	DataDirFree, DataDirFloor int64
	DataDirLow                bool
	// WritesRefused counts the control-plane writes refused for space.
	WritesRefused uint64
}

// WatchCluster exports the cluster's state sample returns at each scrape.
func (m *Metrics) WatchCluster(sample func() ClusterSample) error {
	return m.register(&clusterCollector{sample: sample})
}

var (
	clusterQuorumDesc  = desc("tandem_cluster_quorum", "1 when the control plane (etcd) has a quorum and answers this node.")
	clusterSyncedDesc  = desc("tandem_cluster_view_synced", "1 when this node's view of the other nodes is current.")
	clusterNodesDesc   = desc("tandem_cluster_nodes", "Nodes in this node's view of the cluster, by zone.", "zone")
	clusterLeaderDesc  = desc("tandem_cluster_etcd_leader", "1 when this node's etcd member is the leader.")
	clusterNoSpaceDesc = desc("tandem_cluster_etcd_nospace_alarm", "1 while etcd's NOSPACE alarm (its database at its quota) makes it refuse writes.")
	dataDirFreeDesc    = desc("tandem_data_dir_free_bytes", "Free space under data_dir, in bytes.")
	dataDirFloorDesc   = desc("tandem_data_dir_floor_bytes", "Free space under data_dir below which control-plane writes are refused and the etcd member stops.")
	dataDirLowDesc     = desc("tandem_data_dir_low", "1 while data_dir is below its floor: control-plane writes are refused, the edge serves from the last view.")
	writesRefusedDesc  = desc("tandem_control_plane_writes_refused_total", "Control-plane writes refused, by cause (disk: data_dir below its floor).", "cause")
)

type clusterCollector struct{ sample func() ClusterSample }

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterQuorumDesc
	ch <- clusterSyncedDesc
	ch <- clusterNodesDesc
	ch <- clusterLeaderDesc
	ch <- clusterNoSpaceDesc
	ch <- dataDirFreeDesc
	ch <- dataDirFloorDesc
	ch <- dataDirLowDesc
	ch <- writesRefusedDesc
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sample()
	ch <- prometheus.MustNewConstMetric(clusterQuorumDesc, prometheus.GaugeValue, b2f(s.Quorum))
	ch <- prometheus.MustNewConstMetric(clusterSyncedDesc, prometheus.GaugeValue, b2f(s.Synced))
	ch <- prometheus.MustNewConstMetric(clusterLeaderDesc, prometheus.GaugeValue, b2f(s.Leader))
	ch <- prometheus.MustNewConstMetric(clusterNoSpaceDesc, prometheus.GaugeValue, b2f(s.NoSpaceAlarm))
	if s.DataDirFree >= 0 {
		ch <- prometheus.MustNewConstMetric(dataDirFreeDesc, prometheus.GaugeValue, float64(s.DataDirFree))
	}
	ch <- prometheus.MustNewConstMetric(dataDirFloorDesc, prometheus.GaugeValue, float64(s.DataDirFloor))
	ch <- prometheus.MustNewConstMetric(dataDirLowDesc, prometheus.GaugeValue, b2f(s.DataDirLow))
	ch <- prometheus.MustNewConstMetric(writesRefusedDesc, prometheus.CounterValue, float64(s.WritesRefused), "disk")
	for zone, n := range s.Nodes {
		ch <- prometheus.MustNewConstMetric(clusterNodesDesc, prometheus.GaugeValue, float64(n), zone)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
