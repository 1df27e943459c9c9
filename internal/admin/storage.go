package admin

import "github.com/tandem-run/tandem/internal/storage"

// StorageStatus is the apps' object storage as a node sees it.
type StorageStatus struct {
	// Store and Replica are the stores' URLs; Replica is "" without one.
	Store   string `json:"store"`
	Replica string `json:"replica,omitempty"`
	// Embedded is the embedded store's process on this node; nil when the
	// store is external.
	Embedded *EmbeddedStoreStatus `json:"embedded,omitempty"`
	Buckets  []StorageBucket      `json:"buckets"`
	// Replication is the replication as the node running it sees it: the
	// lag, what is pending, the last re-sync. nil on the other nodes and
	// without a replica.
	Replication *storage.ReplicationStatus `json:"replication,omitempty"`
}

// StorageBucket is an app's bucket.
type StorageBucket struct {
	App     string `json:"app"`
	Bucket  string `json:"bucket"`
	Replica string `json:"replica,omitempty"`
	// PublicURL is where the edge serves its objects; "" when no route
	// does.
	PublicURL string `json:"public_url,omitempty"`
}

// EmbeddedStoreStatus is the embedded store's process.
type EmbeddedStoreStatus struct {
	Listen   string `json:"listen"`
	Dir      string `json:"dir"`
	PID      int    `json:"pid"`
	State    string `json:"state"` // as an instance's: running, backoff, crashloop...
	Restarts int    `json:"restarts"`
	// LastExit says how its last process ended; "" if none has.
	LastExit string `json:"last_exit,omitempty"`
}
